// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The broker as a long-lived daemon: coalesced launches, crash and
// relaunch, slow and foreign peers, one broker per endpoint.
#include <filesystem>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "rp/platform/host.h"
#include "rp/platform/local_stream.h"
#include "rp/platform/system.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/child_registry.h"

namespace rp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Sends `line` to the backend at `pipe` and reads it back.
asio::awaitable<std::string> EchoThrough(std::string pipe, std::string line) {
  auto ex = co_await asio::this_coro::executor;
  auto stream = co_await platform::LocalStream::Connect(ex, pipe, 5s);
  if (!stream) co_return "connect failed: " + stream.error().message();
  if (co_await platform::WriteAll(*stream, asio::buffer(line))) co_return "write failed";
  std::string back(line.size(), '\0');
  if (co_await platform::ReadExactly(*stream, asio::buffer(back))) co_return "read failed";
  co_return back;
}

// One Hello over its own connection, as a coroutine.
asio::awaitable<std::optional<pb::HelloReply>> HelloAsync(std::string endpoint, pb::Hello hello) {
  auto ex = co_await asio::this_coro::executor;
  auto stream = co_await platform::LocalStream::Connect(ex, endpoint, 10s);
  if (!stream) co_return std::nullopt;
  if (!co_await transport::WriteFrame(*stream, HelloFrame(hello))) co_return std::nullopt;
  auto frame = co_await transport::ReadFrame(*stream);
  if (!frame) co_return std::nullopt;
  pb::HelloReply reply;
  if (!reply.ParseFromString(frame->payload())) co_return std::nullopt;
  co_return reply;
}

TEST(BrokerLifecycle, HundredConcurrentColdHellosShareOneLaunch) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  constexpr int kClients = 100;
  std::vector<std::optional<pb::HelloReply>> replies(kClients);
  int done = 0;
  for (int i = 0; i < kClients; ++i) {
    asio::co_spawn(broker.io(), HelloAsync(broker.endpoint(), MakeTestHello("echo")),
                   [&, i](std::exception_ptr, std::optional<pb::HelloReply> r) {
                     replies[i] = std::move(r);
                     ++done;
                   });
  }
  broker.io().restart();
  auto until = std::chrono::steady_clock::now() + 60s;
  while (done < kClients && std::chrono::steady_clock::now() < until) {
    broker.io().run_one_until(until);
  }
  ASSERT_EQ(done, kClients);
  std::set<std::uint64_t> ids;
  std::set<std::string> pipes;
  for (const auto& r : replies) {
    ASSERT_TRUE(r && r->has_negotiated()) << (r && r->has_refused() ? r->refused().reason() : "no reply");
    ids.insert(r->negotiated().connection_id());
    pipes.insert(r->negotiated().backend_pipe());
    EXPECT_EQ(r->negotiated().negotiated_protocol(), 1u);
    EXPECT_EQ(r->negotiated().daemon_version(), "1.0.0");
    EXPECT_EQ(r->negotiated().keepalive_interval_secs(), 1800u);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kClients)) << "connection ids must be distinct";
  EXPECT_EQ(*ids.begin(), 1u);
  EXPECT_EQ(*ids.rbegin(), static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(pipes.size(), 1u) << "one launch serves every concurrent Hello";
  std::string log = broker.Log();
  std::size_t launches = 0;
  for (std::size_t at = 0; (at = log.find("spawn attempt", at)) != std::string::npos; ++at) ++launches;
  EXPECT_EQ(launches, 1u) << log;
  EXPECT_EQ(RunAsync(broker.io(), EchoThrough(*pipes.begin(), "ping")), "ping");
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(BrokerLifecycle, KilledBackendIsNoticedAndRelaunchedOnTheNextHello) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  auto first = broker.SendHello(MakeTestHello("echo"));
  ASSERT_TRUE(first && first->has_negotiated());
  std::uint32_t pid = broker.BackendPid();
  ASSERT_NE(pid, 0u);
  ASSERT_FALSE(platform::KillProcess(pid));
  // The broker notices the exit by itself (no Hello needed): wait for the
  // registry to empty, bounded.
  auto until = std::chrono::steady_clock::now() + 20s;
  while (broker.BackendPid() != 0 && std::chrono::steady_clock::now() < until) {
    asio::steady_timer pause(broker.io(), 10ms);
    pause.wait();
  }
  ASSERT_EQ(broker.BackendPid(), 0u) << broker.Log();
  EXPECT_NE(broker.Log().find("backend died"), std::string::npos);
  auto second = broker.SendHello(MakeTestHello("echo"));
  ASSERT_TRUE(second && second->has_negotiated())
      << (!second ? std::string("no reply")
                  : "refused: code " + std::to_string(second->refused().code()) + " " +
                        second->refused().reason())
      << "\n" << broker.Log();
  EXPECT_NE(second->negotiated().backend_pipe(), first->negotiated().backend_pipe());
  EXPECT_NE(broker.BackendPid(), pid);
  EXPECT_EQ(RunAsync(broker.io(), EchoThrough(second->negotiated().backend_pipe(), "again")),
            "again");
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(BrokerLifecycle, SilentAndBrokenPeersDoNotStallOthers) {
  BrokerUnderTest broker(
      BrokerUnderTest::Options{{}, {{"RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS", "60000"}}});
  broker.Start();
  auto result = RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    // A silent peer and a peer that sent half a frame, both left open.
    auto silent = co_await platform::LocalStream::Connect(ex, broker.endpoint(), 5s);
    auto half = co_await platform::LocalStream::Connect(ex, broker.endpoint(), 5s);
    if (!silent || !half) co_return "connect failed";
    // Header claiming 16 bytes, then only 2 of them. (Spelled out: "\x00ab"
    // would be one hex escape.)
    const std::string partial = {'\x01', '\x10', '\0', '\0', '\0', 'a', 'b'};
    co_await platform::WriteAll(*half, asio::buffer(partial));
    // Peers that connect and close at once, or send garbage.
    for (int i = 0; i < 20; ++i) {
      auto s = co_await platform::LocalStream::Connect(ex, broker.endpoint(), 5s);
      if (s && i % 2) co_await platform::WriteAll(*s, asio::buffer(std::string("garbage!"))); 
    }
    // Another client is still answered long before the 60 s deadline.
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer bound(ex, 10s);
    auto outcome = co_await (HelloAsync(broker.endpoint(), MakeTestHello("nosuch")) ||
                             bound.async_wait(asio::use_awaitable));
    if (outcome.index() == 1) co_return "stalled";
    auto& reply = std::get<0>(outcome);
    co_return reply && reply->has_refused() ? reply->refused().reason() : "no reply";
  }(), 60s);
  EXPECT_EQ(result, "service definition was not found");
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(BrokerLifecycle, PeerOfAnotherUserIsDroppedBeforeAnyByteIsRead) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "needs a second Windows account; Wine runs everything as one user";
  }
  if (platform::CurrentUid() != 0) GTEST_SKIP() << "needs root to act as a second user";
  BrokerUnderTest broker;
  broker.Start();
  // Let another user reach the socket at all (defence in depth: the
  // directory and socket modes normally stop them first).
  fs::permissions(broker.dir().path(), fs::perms(0711));
  fs::permissions(broker.endpoint(), fs::perms(0777));
  auto child = LaunchSelf(broker.io().get_executor(), "hello_as_nobody", {broker.endpoint()});
  ASSERT_TRUE(child);
  auto code = RunAsync(broker.io(), child->Wait(), 30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << "1: connect failed, 2: got a reply instead of a drop";
  EXPECT_NE(broker.Log().find("security: dropped connection"), std::string::npos) << broker.Log();
  EXPECT_NE(broker.Log().find("uid=65534"), std::string::npos);
  // The broker keeps serving its own user.
  auto reply = broker.SendHello(MakeTestHello("nosuch"));
  ASSERT_TRUE(reply && reply->has_refused());
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(BrokerLifecycle, OneBrokerPerEndpointAndStaleEndpointsAreReplaced) {
  BrokerUnderTest first;
  first.Start();
  // A second broker on the same endpoint refuses to start.
  platform::LaunchOptions second;
  second.executable = BuiltProgram("broker/running-process-broker-v1");
  second.args = {"--socket", first.endpoint(), "serve", "--service-def-dir",
                 first.service_def_dir(), "--state-dir", first.state_dir()};
  second.env = {{"RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED", "1"}};
  second.output_path = first.dir().File("second.log");
  auto process = platform::ChildProcess::Launch(first.io().get_executor(), second);
  ASSERT_TRUE(process);
  auto code = RunAsync(first.io(), process->Wait(), 30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1);
  // The first broker dies without cleaning up; a new one takes over.
  first.Kill();
  BrokerUnderTest::Options options;
  auto replacement = platform::ChildProcess::Launch(first.io().get_executor(), second);
  ASSERT_TRUE(replacement);
  bool up = RunAsync(first.io(), [&]() -> asio::awaitable<bool> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pause(ex);
    for (int i = 0; i < 2000; ++i) {
      if (co_await platform::LocalStream::Connect(ex, first.endpoint(), 1s)) co_return true;
      if (!replacement->is_running()) co_return false;
      pause.expires_after(5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    co_return false;
  }(), 30s);
  EXPECT_TRUE(up) << "a broker must replace a dead broker's endpoint";
  replacement->Terminate();
  RunAsync(first.io(), replacement->Wait(), 30s);
}

TEST(BrokerLifecycle, TerminationSignalStopsBrokerAndItsBackends) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "no SIGTERM on Windows; the shutdown verb is tested everywhere";
  }
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  auto reply = broker.SendHello(MakeTestHello("echo"));
  ASSERT_TRUE(reply && reply->has_negotiated());
  std::uint32_t backend = broker.BackendPid();
  ASSERT_NE(backend, 0u);
  ASSERT_FALSE(platform::RequestTermination(broker.process().pid()));
  auto code = RunAsync(broker.io(), broker.process().Wait(), 30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(platform::ProcessExists(backend)) << "backends stop with the broker";
  EXPECT_FALSE(fs::exists(broker.endpoint())) << "the socket file is removed";
}

}  // namespace
}  // namespace rp::test

// Child: becomes uid/gid 65534 (nobody) and sends a Hello; exits 0 when the
// broker closes without a reply.
RP_TEST_CHILD(hello_as_nobody) {
  if (rp::platform::SwitchUser(65534, 65534)) return 3;
  boost::asio::io_context io;
  auto result = rp::test::RunAsync(io, [&]() -> boost::asio::awaitable<int> {
    auto ex = co_await boost::asio::this_coro::executor;
    auto stream = co_await rp::platform::LocalStream::Connect(ex, args.at(0), std::chrono::seconds(5));
    if (!stream) co_return 1;
    co_await rp::transport::WriteFrame(*stream, rp::test::HelloFrame(rp::test::MakeTestHello("nosuch")));
    char byte;
    auto n = co_await stream->ReadSome(boost::asio::buffer(&byte, 1));
    co_return n ? 2 : 0;
  }());
  return result;
}
