// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The client SDK against a fake broker, and the backend SDK, over real local
// endpoints (spec §3.7, §3.16, §4.3, §4.4; catalogue tests/broker/client.rs).
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "broker_v1_manifest.pb.h"
#include "rp/backend/backend.h"
#include "rp/broker/contract.h"
#include "rp/client/client.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <stdlib.h>
#endif

namespace rp::client {
namespace {

namespace asio = boost::asio;
using backend::Backend;
using backend::BackendEnvironment;
using boost::system::error_code;
using platform::LocalStream;
using test::RunAsync;
using namespace std::chrono_literals;

// ---- Helpers ----------------------------------------------------------------

// Sets (or, with nullopt, unsets) one environment variable and restores the
// previous state on destruction.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value)
      : name_(std::move(name)), saved_(platform::GetEnv(name_)) {
    Set(name_, value);
  }
  ~ScopedEnv() { Set(name_, saved_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  static void Set(const std::string& name, const std::optional<std::string>& value) {
#if defined(_WIN32)
    // Not _putenv_s: it cannot set an empty value.
    ::SetEnvironmentVariableA(name.c_str(), value ? value->c_str() : nullptr);
#else
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
#endif
  }

  std::string name_;
  std::optional<std::string> saved_;
};

// Runs `io` until `done()` holds; false if the deadline passed first or the
// loop ran out of work.
bool RunUntil(asio::io_context& io, const std::function<bool()>& done,
              std::chrono::milliseconds deadline = 10s) {
  io.restart();
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (io.run_one_until(until) == 0 && !done()) return false;
  }
  return true;
}

asio::awaitable<void> Echo(LocalStream stream) {
  std::vector<char> buffer(4096);
  for (;;) {
    auto n = co_await stream.ReadSome(asio::buffer(buffer));
    if (!n) co_return;
    if (co_await platform::WriteAll(stream, asio::buffer(buffer.data(), *n))) co_return;
  }
}

// Writes `text` and reads as many bytes back.
asio::awaitable<std::string> RoundTrip(LocalStream& stream, std::string text) {
  if (auto ec = co_await platform::WriteAll(stream, asio::buffer(text))) {
    co_return "write failed: " + ec.message();
  }
  std::string back(text.size(), '\0');
  if (auto ec = co_await platform::ReadExactly(stream, asio::buffer(back))) {
    co_return "read failed: " + ec.message();
  }
  co_return back;
}

std::vector<std::uint8_t> FramedBytes(const pb::Frame& frame) {
  auto encoded = transport::EncodeFrame(frame);
  if (!encoded) throw std::runtime_error("cannot encode frame");
  return *encoded;
}

// A stand-in broker: accepts connections one after the other, reads one
// frame from each and answers as configured. Counts the connections, so a
// test can tell whether the client came here at all.
class FakeBroker {
 public:
  enum class Mode { kHelloReply, kRawBytes, kSilent };

  FakeBroker(asio::io_context& io, std::string address) : io_(io) {
    auto listener = platform::LocalListener::Bind(io.get_executor(), std::move(address));
    if (!listener) throw std::runtime_error("fake broker bind: " + listener.error().message());
    listener_ = std::move(*listener);
    asio::co_spawn(io, Serve(), [this](std::exception_ptr) { finished_ = true; });
  }
  ~FakeBroker() {
    listener_.Close();
    RunUntil(io_, [this] { return finished_; });
  }

  void Reply(pb::HelloReply reply) {
    mode_ = Mode::kHelloReply;
    reply_ = std::move(reply);
  }
  void ReplyRaw(std::vector<std::uint8_t> bytes) {
    mode_ = Mode::kRawBytes;
    raw_ = std::move(bytes);
  }
  void StaySilent() { mode_ = Mode::kSilent; }

  const std::string& address() const { return listener_.address(); }
  int accepts() const { return accepts_; }
  const std::optional<pb::Frame>& last_request() const { return last_request_; }

 private:
  asio::awaitable<void> Serve() {
    for (;;) {
      auto accepted = co_await listener_.Accept();
      if (!accepted) co_return;
      ++accepts_;
      LocalStream& stream = accepted->stream;
      auto request = co_await transport::ReadFrame(stream);
      if (request) last_request_ = *request;
      switch (mode_) {
        case Mode::kSilent: {
          // Hold the connection until the client gives up on it.
          char byte;
          while (co_await stream.ReadSome(asio::buffer(&byte, 1))) {
          }
          break;
        }
        case Mode::kRawBytes:
          (void)co_await platform::WriteAll(stream, asio::buffer(raw_));
          break;
        case Mode::kHelloReply:
          if (request) {
            (void)co_await transport::WriteFrame(
                stream,
                transport::MakeResponseTo(*request, transport::SerializeDeterministic(reply_)));
          }
          break;
      }
    }
  }

  asio::io_context& io_;
  platform::LocalListener listener_;
  Mode mode_ = Mode::kSilent;
  pb::HelloReply reply_;
  std::vector<std::uint8_t> raw_;
  int accepts_ = 0;
  std::optional<pb::Frame> last_request_;
  bool finished_ = false;
};

pb::HelloReply NegotiatedReply(const std::string& backend_pipe, std::uint64_t connection_id = 1) {
  pb::HelloReply reply;
  pb::Negotiated* negotiated = reply.mutable_negotiated();
  negotiated->set_negotiated_protocol(1);
  negotiated->set_daemon_version("1.11.20");
  negotiated->set_backend_pipe(backend_pipe);
  negotiated->set_keepalive_interval_secs(1800);
  negotiated->set_connection_id(connection_id);
  return reply;
}

pb::HelloReply RefusedReply(pb::ErrorCode code, std::string reason, std::uint64_t retry_ms) {
  pb::HelloReply reply;
  pb::Refused* refused = reply.mutable_refused();
  refused->set_reason(std::move(reason));
  refused->set_daemon_min_protocol(1);
  refused->set_daemon_max_protocol(1);
  refused->set_code(code);
  refused->set_retry_after_ms(retry_ms);
  return reply;
}

// A Backend running on `io` from construction until StopAndWait().
class RunningBackend {
 public:
  RunningBackend(asio::io_context& io, BackendEnvironment environment,
                 backend::ConnectionHandler handler = Echo)
      : io_(io) {
    auto created = Backend::Create(io.get_executor(), std::move(environment), std::move(handler));
    if (!created) throw std::runtime_error("Backend::Create: " + created.error().message());
    backend_ = std::move(*created);
    asio::co_spawn(io, backend_.Run(), [this](std::exception_ptr, error_code ec) {
      result_ = ec;
      done_ = true;
    });
  }
  ~RunningBackend() {
    if (!done_) StopAndWait();
  }

  error_code StopAndWait() {
    backend_.Stop();
    return WaitForRun();
  }
  error_code WaitForRun() {
    EXPECT_TRUE(RunUntil(io_, [this] { return done_; })) << "Backend::Run did not return";
    return result_;
  }
  bool done() const { return done_; }
  Backend& backend() { return backend_; }

 private:
  asio::io_context& io_;
  Backend backend_;
  error_code result_;
  bool done_ = false;
};

BackendEnvironment EchoEnvironment(const std::string& pipe) {
  BackendEnvironment environment;
  environment.service_name = "echo";
  environment.service_version = "1.11.20";
  environment.backend_pipe = pipe;
  environment.backend_namespace = "shared";
  environment.instance = "shared";
  return environment;
}

// ---- Client -----------------------------------------------------------------

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ClearHelloSkipCache(); }
  void TearDown() override { ClearHelloSkipCache(); }

  ConnectOptions Options(std::optional<std::chrono::milliseconds> timeout = 5s) {
    ConnectOptions options;
    options.broker_endpoint = broker_address_;
    options.timeout = timeout;
    return options;
  }
  Result<Connection> ConnectNow(const ConnectOptions& options,
                                const std::string& version = "1.11.20") {
    return RunAsync(io_, Connect("echo", version, options));
  }
  // The error of a Connect that must fail.
  ConnectError ConnectFails(const ConnectOptions& options) {
    auto result = ConnectNow(options);
    if (auto* connection = std::get_if<Connection>(&result)) {
      ADD_FAILURE() << "connected via " << RouteName(connection->route);
      return {};
    }
    return std::get<ConnectError>(result);
  }
  // The connection of a Connect that must succeed.
  Connection ConnectSucceeds(const ConnectOptions& options) {
    auto result = ConnectNow(options);
    if (auto* error = std::get_if<ConnectError>(&result)) {
      ADD_FAILURE() << error->message();
      return {};
    }
    return std::move(std::get<Connection>(result));
  }

  test::TempDir dir_;
  asio::io_context io_;
  std::string broker_address_ = test::UniqueEndpointAddress(dir_, "broker");
  // Clients read these; the test process's own values must not leak in.
  ScopedEnv disable_{broker::kEnvDisable, std::nullopt};
  ScopedEnv timeout_{broker::kEnvClientTimeoutMs, std::nullopt};
};

TEST_F(ClientTest, NegotiatedReachesTheBackendAndEchoes) {
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")));
  const std::string pipe = backend.backend().environment().backend_pipe;
  FakeBroker broker(io_, broker_address_);
  broker.Reply(NegotiatedReply(pipe, 7));

  Connection connection = ConnectSucceeds(Options());
  ASSERT_TRUE(connection.stream.is_open());
  EXPECT_EQ(connection.route, Route::kBrokerNegotiated);
  EXPECT_EQ(connection.backend_pipe, pipe);
  EXPECT_EQ(connection.connection_id, 7u);
  EXPECT_EQ(connection.daemon_version, "1.11.20");
  EXPECT_EQ(RunAsync(io_, RoundTrip(connection.stream, "ping")), "ping");
  EXPECT_EQ(broker.accepts(), 1);

  // What went over the wire (spec §3.16).
  ASSERT_TRUE(broker.last_request().has_value());
  const pb::Frame& frame = *broker.last_request();
  EXPECT_FALSE(transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                           transport::kControlPayloadProtocol));
  EXPECT_EQ(frame.request_id(), 1u);
  EXPECT_TRUE(frame.traceparent().empty());
  pb::Hello hello;
  ASSERT_TRUE(hello.ParseFromString(frame.payload()));
  EXPECT_EQ(hello.client_min_protocol(), 1u);
  EXPECT_EQ(hello.client_max_protocol(), 1u);
  EXPECT_EQ(hello.service_name(), "echo");
  EXPECT_EQ(hello.wanted_version(), "1.11.20");
  EXPECT_EQ(hello.client_capabilities(), transport::kCapHandlePassing);
  EXPECT_EQ(hello.request_id(), "hello");
  EXPECT_EQ(hello.peer_pid(), platform::CurrentProcessId());
  EXPECT_EQ(hello.client_lib_name(), "rp-cpp");
  EXPECT_EQ(hello.client_keepalive_secs(), 0u);
  EXPECT_TRUE(hello.auth_token().empty());
}

TEST_F(ClientTest, RefusalCarriesCodeReasonAndRetry) {
  FakeBroker broker(io_, broker_address_);
  broker.Reply(RefusedReply(pb::ERROR_RATE_LIMITED, "too many hellos", 1500));
  ConnectError error = ConnectFails(Options());
  EXPECT_EQ(error.kind, ConnectError::Kind::kRefused);
  EXPECT_EQ(error.refusal.code, pb::ERROR_RATE_LIMITED);
  EXPECT_EQ(error.refusal.reason, "too many hellos");
  EXPECT_EQ(error.refusal.retry_after_ms, 1500u);
  EXPECT_NE(error.message().find("ERROR_RATE_LIMITED (4): too many hellos (retry after 1500 ms)"),
            std::string::npos)
      << error.message();
}

TEST_F(ClientTest, UnknownRefusalCodeBecomesUnspecified) {
  FakeBroker broker(io_, broker_address_);
  broker.Reply(RefusedReply(static_cast<pb::ErrorCode>(42), "from the future", 0));
  ConnectError error = ConnectFails(Options());
  EXPECT_EQ(error.kind, ConnectError::Kind::kRefused);
  EXPECT_EQ(error.refusal.code, pb::ERROR_CODE_UNSPECIFIED);
  EXPECT_EQ(error.refusal.reason, "from the future");
}

TEST_F(ClientTest, GarbageReplyIsAProtocolError) {
  FakeBroker broker(io_, broker_address_);
  const std::string garbage = "HTTP/1.1 400 Bad Request\r\n\r\n";
  broker.ReplyRaw({garbage.begin(), garbage.end()});
  ConnectError error = ConnectFails(Options());
  EXPECT_EQ(error.kind, ConnectError::Kind::kProtocol) << error.message();
}

TEST_F(ClientTest, WrongEnvelopeIsAProtocolError) {
  FakeBroker broker(io_, broker_address_);
  // An EVENT instead of a RESPONSE, though its payload is a fine HelloReply.
  broker.ReplyRaw(FramedBytes(transport::MakeEvent(
      transport::kControlPayloadProtocol,
      transport::SerializeDeterministic(NegotiatedReply("x")), 1)));
  ConnectError error = ConnectFails(Options());
  EXPECT_EQ(error.kind, ConnectError::Kind::kProtocol);
  EXPECT_NE(error.message().find("unexpected broker response frame"), std::string::npos)
      << error.message();
}

TEST_F(ClientTest, EmptyHelloReplyIsAProtocolError) {
  FakeBroker broker(io_, broker_address_);
  broker.Reply(pb::HelloReply());
  EXPECT_EQ(ConnectFails(Options()).kind, ConnectError::Kind::kProtocol);
}

TEST_F(ClientTest, NegotiatedWithoutBackendPipeIsAProtocolError) {
  FakeBroker broker(io_, broker_address_);
  broker.Reply(NegotiatedReply(""));
  EXPECT_EQ(ConnectFails(Options()).kind, ConnectError::Kind::kProtocol);
}

TEST_F(ClientTest, SilentBrokerTimesOut) {
  FakeBroker broker(io_, broker_address_);
  broker.StaySilent();
  ConnectError error = ConnectFails(Options(200ms));
  EXPECT_EQ(error.kind, ConnectError::Kind::kTimeout) << error.message();
  EXPECT_EQ(broker.accepts(), 1);
}

TEST_F(ClientTest, TimeoutComesFromTheEnvironment) {
  ScopedEnv timeout(broker::kEnvClientTimeoutMs, "200");
  FakeBroker broker(io_, broker_address_);
  broker.StaySilent();
  // With the 30 s default this would outlive RunAsync's deadline.
  auto result = RunAsync(io_, Connect("echo", "1.11.20", Options(std::nullopt)), 10s);
  ASSERT_TRUE(std::holds_alternative<ConnectError>(result));
  EXPECT_EQ(std::get<ConnectError>(result).kind, ConnectError::Kind::kTimeout);
}

TEST_F(ClientTest, NoBrokerIsUnreachable) {
  ConnectError error = ConnectFails(Options());
  EXPECT_EQ(error.kind, ConnectError::Kind::kUnreachable);
  EXPECT_TRUE(error.io.failed());
}

TEST_F(ClientTest, DisableOneMeansDisabledWithoutContactingTheBroker) {
  FakeBroker broker(io_, broker_address_);
  ScopedEnv disable(broker::kEnvDisable, "1");
  EXPECT_EQ(ConnectFails(Options()).kind, ConnectError::Kind::kDisabled);
  EXPECT_EQ(broker.accepts(), 0);
}

TEST_F(ClientTest, DisableWithAnyOtherValueIsBadConfig) {
  for (const char* value : {"", "yes", "true", "0"}) {
    ScopedEnv disable(broker::kEnvDisable, value);
    ConnectError error = ConnectFails(Options());
    EXPECT_EQ(error.kind, ConnectError::Kind::kBadConfig) << "value \"" << value << "\"";
    EXPECT_NE(error.message().find(std::string("\"") + value + "\""), std::string::npos)
        << error.message();
  }
}

TEST_F(ClientTest, SecondConnectSkipsHelloUntilTheBackendIsGone) {
  auto first_backend = std::make_unique<RunningBackend>(
      io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be1")));
  const std::string first_pipe = first_backend->backend().environment().backend_pipe;
  FakeBroker broker(io_, broker_address_);
  broker.Reply(NegotiatedReply(first_pipe));

  Connection negotiated = ConnectSucceeds(Options());
  EXPECT_EQ(negotiated.route, Route::kBrokerNegotiated);
  EXPECT_EQ(broker.accepts(), 1);

  Connection skipped = ConnectSucceeds(Options());
  EXPECT_EQ(skipped.route, Route::kHelloSkip);
  EXPECT_EQ(skipped.backend_pipe, first_pipe);
  EXPECT_EQ(skipped.connection_id, 0u);
  EXPECT_EQ(broker.accepts(), 1) << "Hello-skip must not contact the broker";
  EXPECT_EQ(RunAsync(io_, RoundTrip(skipped.stream, "skip")), "skip");

  // Another version is another cache entry.
  EXPECT_EQ(std::get<Connection>(ConnectNow(Options(), "2.0.0")).route, Route::kBrokerNegotiated);
  EXPECT_EQ(broker.accepts(), 2);

  // The backend goes away; the broker now names a new one.
  EXPECT_FALSE(first_backend->StopAndWait());
  negotiated.stream.Close();
  skipped.stream.Close();
  first_backend.reset();
  RunningBackend second_backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be2")));
  const std::string second_pipe = second_backend.backend().environment().backend_pipe;
  broker.Reply(NegotiatedReply(second_pipe));

  Connection fallback = ConnectSucceeds(Options());
  EXPECT_EQ(fallback.route, Route::kBrokerNegotiated);
  EXPECT_EQ(fallback.backend_pipe, second_pipe);
  EXPECT_EQ(broker.accepts(), 3);
  EXPECT_EQ(RunAsync(io_, RoundTrip(fallback.stream, "again")), "again");

  Connection skipped_again = ConnectSucceeds(Options());
  EXPECT_EQ(skipped_again.route, Route::kHelloSkip);
  EXPECT_EQ(skipped_again.backend_pipe, second_pipe);
  EXPECT_EQ(broker.accepts(), 3);
}

TEST_F(ClientTest, CacheCanBeBypassed) {
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")));
  FakeBroker broker(io_, broker_address_);
  broker.Reply(NegotiatedReply(backend.backend().environment().backend_pipe));
  ConnectOptions options = Options();
  EXPECT_EQ(ConnectSucceeds(options).route, Route::kBrokerNegotiated);
  options.use_hello_skip_cache = false;
  EXPECT_EQ(ConnectSucceeds(options).route, Route::kBrokerNegotiated);
  EXPECT_EQ(broker.accepts(), 2);
}

TEST(ClientHello, MakeHelloFillsTheV1Fields) {
  ConnectOptions options;
  options.client_version = "tool 3";
  options.client_keepalive_secs = 60;
  pb::Hello hello = MakeHello("zccache", "1.2.3", options);
  EXPECT_EQ(hello.client_min_protocol(), 1u);
  EXPECT_EQ(hello.client_max_protocol(), 1u);
  EXPECT_EQ(hello.service_name(), "zccache");
  EXPECT_EQ(hello.wanted_version(), "1.2.3");
  EXPECT_EQ(hello.client_version(), "tool 3");
  EXPECT_EQ(hello.client_capabilities(), transport::kCapHandlePassing);
  EXPECT_EQ(hello.request_id(), "hello");
  EXPECT_EQ(hello.connection_id(), 0u);
  EXPECT_EQ(hello.peer_pid(), platform::CurrentProcessId());
  EXPECT_EQ(hello.client_lib_name(), "rp-cpp");
  EXPECT_EQ(hello.client_lib_version(), "0.1.0");
  EXPECT_EQ(hello.client_keepalive_secs(), 60u);
}

TEST(ClientHello, RouteNames) {
  EXPECT_STREQ(RouteName(Route::kHelloSkip), "hello-skip");
  EXPECT_STREQ(RouteName(Route::kBrokerNegotiated), "broker-negotiated");
  EXPECT_STREQ(RouteName(Route::kHandlePassed), "handle-passed");
}

// ---- Backend ----------------------------------------------------------------

class BackendTest : public ::testing::Test {
 protected:
  asio::awaitable<bool> CanConnect(const std::string& pipe) {
    auto stream = co_await LocalStream::Connect(io_.get_executor(), pipe, 2s);
    co_return stream.has_value();
  }

  test::TempDir dir_;
  asio::io_context io_;
};

std::string FileBlake3(const std::string& path) {
  std::filesystem::path fs_path(std::u8string(path.begin(), path.end()));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(std::filesystem::file_size(fs_path)));
  std::ifstream in(fs_path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in) << "cannot read " << path;
  auto digest = transport::Blake3(bytes);
  return std::string(digest.begin(), digest.end());
}

TEST_F(BackendTest, ReportsReadyWithItsIdentityAndStopsWhenAsked) {
  auto pair = platform::HandleChannel::CreatePair();
  ASSERT_TRUE(pair) << pair.error().message();
  BackendEnvironment environment = EchoEnvironment(test::UniqueEndpointAddress(dir_, "be"));
  environment.control_handle = pair->second.ToDecimalString();
  (void)pair->second.release();  // the backend adopts it from the decimal value
  auto broker_end = platform::HandleChannel::Open(io_.get_executor(), std::move(pair->first));
  ASSERT_TRUE(broker_end) << broker_end.error().message();

  RunningBackend backend(io_, environment);
  auto message = RunAsync(io_, broker_end->Receive());
  ASSERT_TRUE(message) << message.error().message();
  EXPECT_TRUE(message->handles.empty());
  auto decoded = transport::TryDecodeFrame(message->bytes);
  ASSERT_TRUE(decoded && *decoded);
  EXPECT_EQ((*decoded)->consumed, message->bytes.size()) << "exactly one frame per message";
  const pb::Frame& ready = (*decoded)->frame;
  EXPECT_FALSE(transport::ValidateEnvelope(ready, pb::FRAME_KIND_EVENT,
                                           broker::kBackendControlPayloadProtocol));
  EXPECT_EQ(ready.request_id(), broker::kReadyRequestId);

  pb::DaemonProcess identity;
  ASSERT_TRUE(identity.ParseFromString(ready.payload()));
  EXPECT_EQ(identity.pid(), platform::CurrentProcessId());
  auto exe = platform::CurrentExecutablePath();
  ASSERT_TRUE(exe);
  EXPECT_EQ(identity.exe_path(), *exe);
  EXPECT_EQ(identity.exe_hash_algorithm(), "blake3");
  EXPECT_EQ(identity.exe_hash(), FileBlake3(*exe));
  EXPECT_GT(identity.started_at_unix_ms(), 0u);
  EXPECT_EQ(identity.ipc_endpoint().namespace_id(), "shared");
  EXPECT_EQ(identity.ipc_endpoint().path(), environment.backend_pipe);

  // Ready means bound.
  EXPECT_TRUE(RunAsync(io_, CanConnect(environment.backend_pipe)));

  auto stop = FramedBytes(transport::MakeRequest(broker::kBackendControlPayloadProtocol, "", 9));
  EXPECT_FALSE(RunAsync(io_, broker_end->Send(stop, {})));
  EXPECT_FALSE(backend.WaitForRun()) << "a requested stop returns an empty error code";
  EXPECT_FALSE(RunAsync(io_, CanConnect(environment.backend_pipe)))
      << "the listener is closed once stopped";
}

TEST_F(BackendTest, IgnoresUnknownControlFramesAndKeepsServingWhenTheChannelCloses) {
  auto pair = platform::HandleChannel::CreatePair();
  ASSERT_TRUE(pair) << pair.error().message();
  BackendEnvironment environment = EchoEnvironment(test::UniqueEndpointAddress(dir_, "be"));
  environment.control_handle = pair->second.ToDecimalString();
  (void)pair->second.release();
  auto broker_end = platform::HandleChannel::Open(io_.get_executor(), std::move(pair->first));
  ASSERT_TRUE(broker_end) << broker_end.error().message();

  RunningBackend backend(io_, environment);
  ASSERT_TRUE(RunAsync(io_, broker_end->Receive()));  // ready

  // Not "stop": another protocol, and a RESPONSE on the control protocol.
  auto other = FramedBytes(transport::MakeRequest(0xF0C2, "", 3));
  EXPECT_FALSE(RunAsync(io_, broker_end->Send(other, {})));
  pb::Frame response = transport::MakeRequest(broker::kBackendControlPayloadProtocol, "", 4);
  response.set_kind(pb::FRAME_KIND_RESPONSE);
  auto not_a_request = FramedBytes(response);
  EXPECT_FALSE(RunAsync(io_, broker_end->Send(not_a_request, {})));

  // The broker dies.
  broker_end->Close();
  auto client = RunAsync(io_, LocalStream::Connect(io_.get_executor(),
                                                   environment.backend_pipe, 5s));
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_EQ(RunAsync(io_, RoundTrip(*client, "still here")), "still here");
  EXPECT_FALSE(backend.done());
  EXPECT_FALSE(backend.StopAndWait());
}

TEST_F(BackendTest, StopMakesRunReturn) {
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")));
  const std::string pipe = backend.backend().environment().backend_pipe;
  EXPECT_TRUE(RunAsync(io_, CanConnect(pipe)));
  EXPECT_FALSE(backend.StopAndWait());
}

TEST_F(BackendTest, AFailingHandlerDoesNotStopTheAcceptLoop) {
  int calls = 0;
  backend::ConnectionHandler handler = [&calls](LocalStream stream) -> asio::awaitable<void> {
    if (++calls == 1) throw std::runtime_error("handler bug");
    return Echo(std::move(stream));
  };
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")), handler);
  const std::string pipe = backend.backend().environment().backend_pipe;
  auto first = RunAsync(io_, LocalStream::Connect(io_.get_executor(), pipe, 5s));
  ASSERT_TRUE(first);
  // The handler starts with the client's first byte (see Backend).
  EXPECT_EQ(RunAsync(io_, RoundTrip(*first, "boom")), "read failed: End of file");
  EXPECT_EQ(calls, 1);
  auto second = RunAsync(io_, LocalStream::Connect(io_.get_executor(), pipe, 5s));
  ASSERT_TRUE(second);
  EXPECT_EQ(RunAsync(io_, RoundTrip(*second, "ok")), "ok");
  EXPECT_EQ(calls, 2);
}

TEST_F(BackendTest, AnswersAnIdentityProbeAndPassesOtherFramesToTheHandlerIntact) {
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")));
  const std::string pipe = backend.backend().environment().backend_pipe;

  // The probe of spec §4.5 (b): a 32-byte nonce, request id from its first bytes.
  std::string nonce(32, '\0');
  for (std::size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<char>(i * 7 + 1);
  pb::Frame probe = transport::MakeRequest(transport::kProbePayloadProtocol, nonce, 0x0807060504030201);
  probe.set_traceparent("00-0123456789abcdef0123456789abcdef-0123456789abcdef-01");
  auto prober = RunAsync(io_, LocalStream::Connect(io_.get_executor(), pipe, 5s));
  ASSERT_TRUE(prober);
  ASSERT_TRUE(RunAsync(io_, transport::WriteFrame(*prober, probe)));
  auto answer = RunAsync(io_, transport::ReadFrame(*prober));
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(answer->kind(), pb::FRAME_KIND_RESPONSE);
  EXPECT_EQ(answer->payload_protocol(), transport::kProbePayloadProtocol);
  EXPECT_EQ(answer->request_id(), probe.request_id());
  EXPECT_EQ(answer->traceparent(), probe.traceparent());
  ASSERT_GT(answer->payload().size(), nonce.size());
  EXPECT_EQ(answer->payload().substr(0, 32), nonce);
  pb::DaemonProcess identity;
  ASSERT_TRUE(identity.ParseFromString(answer->payload().substr(32)));
  EXPECT_EQ(identity.pid(), platform::CurrentProcessId());
  EXPECT_EQ(identity.exe_path(), platform::CurrentExecutablePath().value());
  EXPECT_EQ(identity.exe_hash_algorithm(), "blake3");
  EXPECT_EQ(identity.exe_hash().size(), 32u);
  EXPECT_EQ(identity.boot_id(), platform::CurrentBootId());
  EXPECT_EQ(identity.ipc_endpoint().path(), pipe);
  EXPECT_EQ(identity.ipc_endpoint().namespace_id(), "shared");
  char byte;
  EXPECT_FALSE(RunAsync(io_, prober->ReadSome(asio::buffer(&byte, 1)))) << "closed after answering";

  // A client whose first message is some other v1 frame: the handler (echo)
  // reads it byte for byte.
  auto framed = FramedBytes(transport::MakeRequest(0x5350, std::string(300, 'p'), 9));
  std::string request(framed.begin(), framed.end());
  auto client = RunAsync(io_, LocalStream::Connect(io_.get_executor(), pipe, 5s));
  ASSERT_TRUE(client);
  EXPECT_EQ(RunAsync(io_, RoundTrip(*client, request)), request);
  EXPECT_FALSE(backend.StopAndWait());
}

TEST_F(BackendTest, SecondBackendOnTheSamePipeFails) {
  RunningBackend backend(io_, EchoEnvironment(test::UniqueEndpointAddress(dir_, "be")));
  auto second = Backend::Create(io_.get_executor(), backend.backend().environment(), Echo);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), platform::Error::kAddressInUse) << second.error().message();
}

TEST_F(BackendTest, EnvironmentNeedsServiceVersionAndPipe) {
  ScopedEnv name(broker::kEnvServiceName, "echo");
  ScopedEnv version(broker::kEnvServiceVersion, "1.0.0");
  ScopedEnv pipe(broker::kEnvBackendPipe, std::nullopt);
  ScopedEnv ns(broker::kEnvBackendNamespace, "shared");
  ScopedEnv instance(broker::kEnvInstance, "shared");
  ScopedEnv control(broker::kEnvControlHandle, std::nullopt);
  EXPECT_FALSE(BackendEnvironment::FromProcessEnvironment());

  ScopedEnv pipe_set(broker::kEnvBackendPipe, "/tmp/x.sock");
  auto environment = BackendEnvironment::FromProcessEnvironment();
  ASSERT_TRUE(environment) << environment.error().message();
  EXPECT_EQ(environment->service_name, "echo");
  EXPECT_EQ(environment->service_version, "1.0.0");
  EXPECT_EQ(environment->backend_pipe, "/tmp/x.sock");
  EXPECT_EQ(environment->backend_namespace, "shared");
  EXPECT_EQ(environment->instance, "shared");
  EXPECT_FALSE(environment->control_handle.has_value());

  ScopedEnv control_set(broker::kEnvControlHandle, "17");
  environment = BackendEnvironment::FromProcessEnvironment();
  ASSERT_TRUE(environment);
  EXPECT_EQ(environment->control_handle, "17");
}

}  // namespace
}  // namespace rp::client
