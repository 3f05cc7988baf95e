// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Connection handoff with real processes: the broker hands each capable
// client's Hello connection to the backend it launched; every failure
// leaves the client on backend_pipe, and nothing leaks in any process.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "broker_v1_manifest.pb.h"
#include "rp/backend/backend.h"
#include "rp/broker/contract.h"
#include "rp/client/client.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/child_registry.h"

namespace rp::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr char kModeEnv[] = "RP_TEST_HANDOFF_MODE";
constexpr char kGreeting[] = "greeting written with the ready event";

std::size_t HandlesOf(std::uint32_t pid) {
  auto count = platform::CountOpenHandlesOf(pid);
  return count ? *count : 0;
}

client::Result<client::Connection> ConnectThrough(BrokerUnderTest& broker,
                                                  bool accept_handoff = true,
                                                  std::string early_data = {},
                                                  bool use_hello_skip_cache = false) {
  if (!use_hello_skip_cache) client::ClearHelloSkipCache();
  client::ConnectOptions options;
  options.broker_endpoint = broker.endpoint();
  options.accept_handoff = accept_handoff;
  options.use_hello_skip_cache = use_hello_skip_cache;
  options.early_data = std::move(early_data);
  return RunAsync(broker.io(), client::Connect("echo", "1.0.0", options), 30s);
}

std::string Echo(BrokerUnderTest& broker, platform::LocalStream& stream, const std::string& line) {
  return RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    if (co_await platform::WriteAll(stream, asio::buffer(line))) co_return "write failed";
    std::string back(line.size(), '\0');
    if (co_await platform::ReadExactly(stream, asio::buffer(back))) co_return "read failed";
    co_return back;
  }());
}

// What the echo backend sends first on a connection made with early data
// `early`, followed by the echo of a marker written afterwards: a copy of
// the early data delivered twice would come back before the marker.
std::string EarlyDataThenMarker(BrokerUnderTest& broker, platform::LocalStream& stream,
                                std::size_t early_size) {
  return RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    std::string first(early_size, '\0');
    if (co_await platform::ReadExactly(stream, asio::buffer(first))) co_return "read failed";
    const std::string marker = "|marker";
    if (co_await platform::WriteAll(stream, asio::buffer(marker))) co_return "write failed";
    std::string second(marker.size(), '\0');
    if (co_await platform::ReadExactly(stream, asio::buffer(second))) co_return "read failed";
    co_return first + second;
  }());
}

// Waits (bounded) until `count()` equals `want`; returns the last value.
std::size_t SettleTo(BrokerUnderTest& broker, std::size_t want,
                     const std::function<std::size_t()>& count) {
  std::size_t now = count();
  for (int i = 0; i < 500 && now != want; ++i) {
    asio::steady_timer(broker.io(), 10ms).wait();
    now = count();
  }
  return now;
}

TEST(Handoff, BytesSentRightAfterHelloReachTheBackendOnTheSameConnection) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  auto result = RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    auto stream = co_await platform::LocalStream::Connect(ex, broker.endpoint(), 5s);
    if (!stream) co_return "connect failed";
    pb::Hello hello = MakeTestHello("echo");
    hello.set_client_capabilities(transport::kCapHandlePassing);
    auto framed = *transport::EncodeFrame(HelloFrame(hello));
    std::string early = "early bytes, sent before any reply";
    framed.insert(framed.end(), early.begin(), early.end());
    if (co_await platform::WriteAll(*stream, asio::buffer(framed))) co_return "write failed";
    auto reply_frame = co_await transport::ReadFrame(*stream);
    pb::HelloReply reply;
    if (!reply_frame || !reply.ParseFromString(reply_frame->payload()) || !reply.has_negotiated()) {
      co_return "no Negotiated";
    }
    const pb::Negotiated& n = reply.negotiated();
    if (n.server_capabilities() != 1 || n.handle_passed_token().size() != 16 ||
        n.backend_pipe().empty()) {
      co_return "Negotiated without a handoff token";
    }
    auto event = co_await transport::ReadFrame(*stream);
    if (!event) co_return "no handoff-ready event";
    pb::HandoffAck ack;
    if (event->kind() != pb::FRAME_KIND_EVENT || event->payload_protocol() != 0xD0FF ||
        event->request_id() != n.connection_id() || !ack.ParseFromString(event->payload()) ||
        !ack.accepted() || ack.token() != n.handle_passed_token() ||
        ack.correlation_id() != n.connection_id() || !ack.error_detail().empty()) {
      co_return "wrong handoff-ready event";
    }
    std::string back(early.size(), '\0');
    if (co_await platform::ReadExactly(*stream, asio::buffer(back))) co_return "echo lost";
    co_return back;
  }());
  EXPECT_EQ(result, "early bytes, sent before any reply");
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(Handoff, ClientSdkTakesTheHandedOffRouteAndCanOptOut) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  auto passed = ConnectThrough(broker);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(passed))
      << std::get<client::ConnectError>(passed).message();
  auto& connection = std::get<client::Connection>(passed);
  EXPECT_EQ(connection.route, client::Route::kHandlePassed);
  EXPECT_EQ(Echo(broker, connection.stream, "over the handed-off connection"),
            "over the handed-off connection");
  auto reconnected = ConnectThrough(broker, /*accept_handoff=*/false);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(reconnected));
  EXPECT_EQ(std::get<client::Connection>(reconnected).route, client::Route::kBrokerNegotiated);
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(Handoff, EarlyDataReachesTheBackendExactlyOnceOnEveryRoute) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  const std::string small = "first request, sent with the Hello";
  const std::string large(client::kMaxEarlyDataBytes + 1000, 'L');  // waits for the route
  struct Case {
    const char* name;
    bool accept_handoff;
    bool hello_skip;
    const std::string& early;
    client::Route route;
  } cases[] = {
      {"handoff", true, false, small, client::Route::kHandlePassed},
      {"handoff, large", true, false, large, client::Route::kHandlePassed},
      {"reconnect", false, false, small, client::Route::kBrokerNegotiated},
      {"hello-skip", false, true, small, client::Route::kHelloSkip},  // cached by the case above
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto connected = ConnectThrough(broker, c.accept_handoff, c.early, c.hello_skip);
    ASSERT_TRUE(std::holds_alternative<client::Connection>(connected))
        << std::get<client::ConnectError>(connected).message();
    auto& connection = std::get<client::Connection>(connected);
    EXPECT_EQ(connection.route, c.route);
    EXPECT_EQ(EarlyDataThenMarker(broker, connection.stream, c.early.size()),
              c.early + "|marker");
  }
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(Handoff, ServiceLabelTurnsItOff) {
  BrokerUnderTest broker;
  broker.Start();
  pb::ServiceDefinition def;
  (*def.mutable_labels())["handoff.enabled"] = "false";
  broker.InstallService("echo", {}, def);
  pb::Hello hello = MakeTestHello("echo");
  hello.set_client_capabilities(transport::kCapHandlePassing);
  auto reply = broker.SendHello(hello);
  ASSERT_TRUE(reply && reply->has_negotiated());
  EXPECT_EQ(reply->negotiated().server_capabilities(), 0u);
  EXPECT_TRUE(reply->negotiated().handle_passed_token().empty());
  auto connected = ConnectThrough(broker);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(connected));
  EXPECT_EQ(std::get<client::Connection>(connected).route, client::Route::kBrokerNegotiated);
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(Handoff, RepeatedHandoffsLeaveBrokerAndBackendHandleCountsUnchanged) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  {
    auto warm = ConnectThrough(broker);  // launches the backend
    ASSERT_TRUE(std::holds_alternative<client::Connection>(warm));
  }
  const std::uint32_t broker_pid = broker.process().pid();
  const std::uint32_t backend_pid = broker.BackendPid();
  auto broker_count = [&] { return HandlesOf(broker_pid); };
  auto backend_count = [&] { return HandlesOf(backend_pid); };
  // Let the warm-up connection wind down, then take the baselines.
  asio::steady_timer(broker.io(), 200ms).wait();
  const std::size_t broker_before = broker_count();
  const std::size_t backend_before = backend_count();
  ASSERT_GT(broker_before, 0u);
  for (int i = 0; i < 20; ++i) {
    auto c = ConnectThrough(broker);
    ASSERT_TRUE(std::holds_alternative<client::Connection>(c));
    auto& connection = std::get<client::Connection>(c);
    EXPECT_EQ(connection.route, client::Route::kHandlePassed);
    EXPECT_EQ(Echo(broker, connection.stream, "x"), "x");
  }
  EXPECT_EQ(SettleTo(broker, broker_before, broker_count), broker_before) << "broker leaked";
  EXPECT_EQ(SettleTo(broker, backend_before, backend_count), backend_before) << "backend leaked";
  EXPECT_EQ(broker.Shutdown(), 0);
}

// Waits (up to 5 s) for `text` to appear in the broker's log.
bool WaitForLog(BrokerUnderTest& broker, const std::string& text) {
  for (int i = 0; i < 500 && broker.Log().find(text) == std::string::npos; ++i) {
    asio::steady_timer(broker.io(), 10ms).wait();
  }
  return broker.Log().find(text) != std::string::npos;
}

TEST(Handoff, AnswersTheBackendBatchesAreEachCountedAsCompleted) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(std::holds_alternative<client::Connection>(ConnectThrough(broker)));  // launch
  // Concurrent handoffs: the backend answers them together (frames back to
  // back in one control message), and the broker must take every frame.
  constexpr int kClients = 8;
  client::ClearHelloSkipCache();
  int handed_off = RunAsync(broker.io(), [&]() -> asio::awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    int done = 0, passed = 0;
    asio::steady_timer all(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < kClients; ++i) {
      asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
        client::ConnectOptions options;
        options.broker_endpoint = broker.endpoint();
        options.use_hello_skip_cache = false;
        auto c = co_await client::Connect("echo", "1.0.0", options);
        if (auto* connection = std::get_if<client::Connection>(&c)) {
          passed += connection->route == client::Route::kHandlePassed;
        }
        if (++done == kClients) all.cancel();
      }, asio::detached);
    }
    co_await all.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return passed;
  }(), 30s);
  ASSERT_EQ(handed_off, kClients);
  std::uint64_t completions = 0;
  for (int i = 0; i < 200 && completions < kClients + 1; ++i) {
    asio::steady_timer(broker.io(), 10ms).wait();  // answers go out about 1 ms after the offer
    completions = broker.MetricSample("running_process_broker_v1_handoff_completions_total");
  }
  EXPECT_EQ(completions, kClients + 1u);
  EXPECT_EQ(broker.MetricSample("running_process_broker_v1_handoff_attempts_total"), kClients + 1u);
  EXPECT_EQ(broker.Shutdown(), 0);
}

// A broker whose "echo" backend is this test binary in a misbehaving mode.
class HandoffFailure : public ::testing::TestWithParam<std::string> {};

TEST_P(HandoffFailure, ClientFallsBackToBackendPipeAndNothingLeaks) {
  BrokerUnderTest broker(BrokerUnderTest::Options{
      // A backend that closed its channel ("break") cannot be asked to stop.
      {"--handoff-ack-timeout-ms", "300", "--drain-deadline-ms", "1000"},
      {{kChildEnv, "handoff_test_backend"}, {kModeEnv, GetParam()}}});
  broker.Start();
  broker.InstallService("echo", platform::CurrentExecutablePath().value());
  auto first = ConnectThrough(broker, /*accept_handoff=*/false);  // launch it
  ASSERT_TRUE(std::holds_alternative<client::Connection>(first));
  const std::uint32_t broker_pid = broker.process().pid();
  auto broker_count = [&] { return HandlesOf(broker_pid); };
  if (GetParam() == "break") {
    // The broker hears the channel close before the baseline is taken.
    ASSERT_TRUE(WaitForLog(broker, "closed its control channel")) << broker.Log();
  }
  asio::steady_timer(broker.io(), 100ms).wait();
  const std::size_t broker_before = broker_count();

  // Early data travels behind the Hello, is lost with the failed handoff,
  // and must reach the fallback connection exactly once.
  const std::string early = "early data, replayed on fallback";
  auto c = ConnectThrough(broker, /*accept_handoff=*/true, early);
  if (GetParam() == "die") {
    // The backend died with the offer; the broker notices, and the next
    // client is served by a relaunched backend.
    for (int i = 0; i < 500 && broker.Log().find("backend died") == std::string::npos; ++i) {
      asio::steady_timer(broker.io(), 10ms).wait();
    }
    c = ConnectThrough(broker, /*accept_handoff=*/false, early);
  }
  ASSERT_TRUE(std::holds_alternative<client::Connection>(c))
      << std::get<client::ConnectError>(c).message();
  auto& connection = std::get<client::Connection>(c);
  EXPECT_EQ(connection.route, client::Route::kBrokerNegotiated);
  EXPECT_EQ(EarlyDataThenMarker(broker, connection.stream, early.size()), early + "|marker");
  // "break": no offer is made at all (skipped, not failed).
  const char* reason = GetParam() == "reject"  ? "reason=rejected"
                       : GetParam() == "stall" ? "reason=ack_timeout"
                       : GetParam() == "break" ? "reason=control_channel_closed"
                                               : "backend died";
  EXPECT_TRUE(WaitForLog(broker, reason)) << broker.Log();
  if (GetParam() != "die") {
    EXPECT_EQ(SettleTo(broker, broker_before, broker_count), broker_before) << "broker leaked";
  }
  EXPECT_EQ(broker.Shutdown(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, HandoffFailure,
                         ::testing::Values("reject", "stall", "die", "break"));

// A backend may greet and start talking in one write: the client reads the
// ready EVENT and whatever follows it together, and must hand those bytes
// on in the stream instead of dropping them.
TEST(Handoff, BytesTheBackendWroteRightBehindTheReadyEventReachTheCaller) {
  BrokerUnderTest broker(BrokerUnderTest::Options{
      {}, {{kChildEnv, "handoff_test_backend"}, {kModeEnv, "greet"}}});
  broker.Start();
  broker.InstallService("echo", platform::CurrentExecutablePath().value());
  auto c = ConnectThrough(broker);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(c))
      << std::get<client::ConnectError>(c).message();
  auto& connection = std::get<client::Connection>(c);
  EXPECT_EQ(connection.route, client::Route::kHandlePassed);
  // The backend closed right after that one write, so a lost greeting
  // shows up as EOF, not as a wait.
  std::string greeting = RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    std::string got(sizeof(kGreeting) - 1, '\0');
    if (co_await platform::ReadExactly(connection.stream, asio::buffer(got))) co_return "lost";
    co_return got;
  }());
  EXPECT_EQ(greeting, kGreeting);
  EXPECT_EQ(broker.Shutdown(), 0);
}

}  // namespace
}  // namespace rp::test

// A backend that serves backend_pipe as an echo but mishandles handoff
// offers as RP_TEST_HANDOFF_MODE says: "reject" answers accepted=false,
// "break" closes its control channel once ready (and lives on),
// "stall" never answers (and keeps the connection), "die" exits.
RP_TEST_CHILD(handoff_test_backend) {
  namespace asio = boost::asio;
  namespace pb = ::running_process::broker::v1;
  using namespace rp;
  const std::string mode = platform::GetEnv(test::kModeEnv).value_or("");
  auto env = backend::BackendEnvironment::FromProcessEnvironment();
  if (!env || !env->control_handle) return 2;
  asio::io_context io;
  auto listener = platform::LocalListener::Bind(io.get_executor(), env->backend_pipe);
  auto end = platform::PlatformHandle::FromDecimalString(*env->control_handle);
  if (!listener || !end) return 3;
  auto channel = platform::HandleChannel::Open(io.get_executor(), std::move(*end));
  if (!channel) return 4;
  std::vector<platform::PlatformHandle> stalled;
  return test::RunAsync(io, [&]() -> asio::awaitable<int> {
    pb::DaemonProcess me;
    me.set_pid(platform::CurrentProcessId());
    me.mutable_ipc_endpoint()->set_namespace_id(env->backend_namespace);
    me.mutable_ipc_endpoint()->set_path(env->backend_pipe);
    auto ready = *transport::EncodeFrame(transport::MakeEvent(
        broker::kBackendControlPayloadProtocol, transport::SerializeDeterministic(me), 1));
    co_await channel->Send(ready, {});
    if (mode == "break") channel->Close();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      for (;;) {
        auto accepted = co_await listener->Accept();
        if (!accepted) co_return;
        asio::co_spawn(io, [](platform::LocalStream s) -> asio::awaitable<void> {
          char buf[256];
          for (;;) {
            auto n = co_await s.ReadSome(asio::buffer(buf));
            if (!n || co_await platform::WriteAll(s, asio::buffer(buf, *n))) co_return;
          }
        }(std::move(accepted->stream)), asio::detached);
      }
    }, asio::detached);
    if (mode == "break") {  // serves backend_pipe until the broker kills it
      asio::steady_timer forever(io, asio::steady_timer::time_point::max());
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return 0;
    }
    for (;;) {
      auto message = co_await channel->Receive();
      if (!message) co_return 0;
      auto decoded = transport::TryDecodeFrame(message->bytes);
      if (!decoded || !*decoded) continue;
      const pb::Frame& frame = (*decoded)->frame;
      if (frame.payload_protocol() != transport::kHandoffPayloadProtocol) co_return 0;  // stop
      if (mode == "die") std::_Exit(3);
      if (mode == "stall") {
        for (auto& h : message->handles) stalled.push_back(std::move(h));
        continue;
      }
      pb::HandoffOffer offer;
      offer.ParseFromString(frame.payload());
      pb::HandoffAck ack;
      ack.set_token(offer.token());
      ack.set_accepted(false);
      ack.set_error_detail("test backend says no");
      ack.set_correlation_id(offer.correlation_id());
      if (mode == "greet" && message->handles.size() == 1) {
        // The ready EVENT and the first bytes of the conversation in one
        // write, then goodbye.
        auto client = platform::LocalStream::Adopt(io.get_executor(), std::move(message->handles[0]));
        if (!client) co_return 5;
        ack.set_accepted(true);
        ack.clear_error_detail();
        auto greeting = *transport::EncodeFrame(transport::MakeEvent(
            transport::kHandoffPayloadProtocol, transport::SerializeDeterministic(ack),
            offer.correlation_id()));
        greeting.insert(greeting.end(), test::kGreeting, test::kGreeting + sizeof(test::kGreeting) - 1);
        if (co_await platform::WriteAll(*client, asio::buffer(greeting))) co_return 6;
        client->Close();
      }
      auto answer = *transport::EncodeFrame(
          transport::MakeResponseTo(frame, transport::SerializeDeterministic(ack)));
      co_await channel->Send(answer, {});
    }
  }(), std::chrono::minutes(10));
}
