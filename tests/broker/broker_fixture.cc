// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "broker/broker_fixture.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "rp/broker/contract.h"
#include "rp/broker/service_definitions.h"
#include "rp/platform/host.h"
#include "rp/platform/local_stream.h"
#include "rp/transport/envelope.h"
#include "rp/transport/framing.h"
#include "support/async_test.h"

namespace rp::test {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string BuiltProgram(const std::string& relative) {
  fs::path tests_dir = fs::path(platform::CurrentExecutablePath().value()).parent_path();
  std::string suffix = platform::CurrentOs() == platform::OsFlavor::kWindows ? ".exe" : "";
  return (tests_dir.parent_path() / (relative + suffix)).string();
}

BrokerUnderTest::BrokerUnderTest() : BrokerUnderTest(Options{}) {}

BrokerUnderTest::BrokerUnderTest(Options options) : options_(std::move(options)) {
  endpoint_ = UniqueEndpointAddress(dir_, "broker");
  service_def_dir_ = dir_.File("services");
  state_dir_ = dir_.File("state");
  log_path_ = dir_.File("broker.log");
  EXPECT_FALSE(platform::EnsurePrivateDirectory(service_def_dir_));
}

BrokerUnderTest::~BrokerUnderTest() {
  if (running_) Kill();
}

void BrokerUnderTest::Start() {
  platform::LaunchOptions launch;
  launch.executable = BuiltProgram("broker/running-process-broker-v1");
  launch.args = {"--socket", endpoint_, "serve", "--service-def-dir", service_def_dir_,
                 "--state-dir", state_dir_, "--manifest-dir", manifest_dir()};
  launch.args.insert(launch.args.end(), options_.serve_args.begin(), options_.serve_args.end());
  launch.env = options_.env;
  launch.env.emplace_back(broker::kEnvAllowPrivileged, "1");
  launch.output_path = log_path_;
  auto child = platform::ChildProcess::Launch(io_.get_executor(), launch);
  ASSERT_TRUE(child) << child.error().message();
  process_ = std::move(*child);
  running_ = true;
  bool up = RunAsync(io_, [this]() -> asio::awaitable<bool> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pause(ex);
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
      if (co_await platform::LocalStream::Connect(ex, endpoint_, 1s)) co_return true;
      if (!process_.is_running()) co_return false;
      pause.expires_after(5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    co_return false;
  }(), 30s);
  ASSERT_TRUE(up) << "broker did not come up; its log:\n" << Log();
}

int BrokerUnderTest::Shutdown() {
  auto reply = Admin(pb::ADMIN_VERB_SHUTDOWN);
  EXPECT_TRUE(reply.has_value()) << "the broker did not answer; its log:\n" << Log();
  auto code = RunAsync(io_, process_.Wait(), 30s);
  running_ = false;
  return code ? *code : -1;
}

int BrokerUnderTest::WaitForExit() {
  auto code = RunAsync(io_, process_.Wait(), 30s);
  running_ = false;
  return code ? *code : -1;
}

int BrokerUnderTest::Kill() {
  process_.Terminate();
  auto code = RunAsync(io_, process_.Wait(), 30s);
  running_ = false;
  return code ? *code : -1;
}

void BrokerUnderTest::InstallService(const std::string& name, const std::string& binary,
                                     pb::ServiceDefinition extra) {
  extra.set_service_name(name);
  extra.set_binary_path(binary.empty() ? BuiltProgram("tools/rp-echo-backend") : binary);
  broker::ServiceDefinitionStore store(service_def_dir_);
  auto written = store.Install(extra);
  ASSERT_TRUE(std::holds_alternative<std::string>(written))
      << std::get<broker::ServiceDefinitionError>(written).text;
}

std::string BrokerUnderTest::RawExchange(const std::string& bytes,
                                         std::chrono::milliseconds timeout) {
  return RunAsync(io_, [&]() -> asio::awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    auto stream = co_await platform::LocalStream::Connect(ex, endpoint_, 5s);
    if (!stream) co_return std::string();
    asio::steady_timer deadline(ex, timeout);
    deadline.async_wait([&stream](boost::system::error_code ec) {
      if (!ec) stream->Cancel();
    });
    co_await platform::WriteAll(*stream, asio::buffer(bytes));
    std::string reply;
    char buffer[4096];
    for (;;) {
      auto n = co_await stream->ReadSome(asio::buffer(buffer));
      if (!n) break;
      reply.append(buffer, *n);
    }
    deadline.cancel();
    co_return reply;
  }(), timeout + 10s);
}

std::optional<pb::HelloReply> BrokerUnderTest::Exchange(const pb::Frame& frame,
                                                        std::chrono::milliseconds timeout) {
  auto framed = transport::EncodeFrame(frame);
  if (!framed) return std::nullopt;
  std::string raw = RawExchange(std::string(framed->begin(), framed->end()), timeout);
  auto decoded = transport::TryDecodeFrame(
      std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
  if (!decoded || !*decoded) return std::nullopt;
  const pb::Frame& reply_frame = (*decoded)->frame;
  EXPECT_EQ(reply_frame.kind(), pb::FRAME_KIND_RESPONSE);
  EXPECT_EQ(reply_frame.payload_protocol(), 0u);
  pb::HelloReply reply;
  if (!reply.ParseFromString(reply_frame.payload())) return std::nullopt;
  return reply;
}

std::optional<pb::HelloReply> BrokerUnderTest::SendHello(const pb::Hello& hello) {
  return Exchange(HelloFrame(hello));
}

std::optional<pb::AdminReply> BrokerUnderTest::Admin(pb::AdminVerb verb, bool json) {
  pb::AdminRequest request;
  request.set_verb(verb);
  request.set_json(json);
  return AdminRequest(request);
}

std::optional<pb::AdminReply> BrokerUnderTest::AdminRequest(const pb::AdminRequest& request) {
  auto framed = transport::EncodeFrame(transport::MakeRequest(
      transport::kAdminPayloadProtocol, transport::SerializeDeterministic(request), 1));
  std::string raw = RawExchange(std::string(framed->begin(), framed->end()));
  auto decoded = transport::TryDecodeFrame(
      std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
  if (!decoded || !*decoded) return std::nullopt;
  pb::AdminReply reply;
  if (!reply.ParseFromString((*decoded)->frame.payload())) return std::nullopt;
  return reply;
}

std::uint64_t BrokerUnderTest::MetricSample(const std::string& sample) {
  auto metrics = Admin(pb::ADMIN_VERB_METRICS);
  if (!metrics) return 0;
  const std::string& body = metrics->body();
  const auto at = body.find("\n" + sample + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(body.substr(at + sample.size() + 2));
}

std::uint32_t BrokerUnderTest::BackendPid() {
  auto status = Admin(pb::ADMIN_VERB_STATUS, true);
  if (!status) return 0;
  auto at = status->body().find("\"pid\":");
  if (at == std::string::npos) return 0;
  return static_cast<std::uint32_t>(std::stoul(status->body().substr(at + 6)));
}

std::string BrokerUnderTest::Log() const {
  std::ifstream in(log_path_);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

pb::Hello MakeTestHello(const std::string& service, const std::string& version) {
  pb::Hello hello;
  hello.set_client_min_protocol(1);
  hello.set_client_max_protocol(1);
  hello.set_service_name(service);
  hello.set_wanted_version(version);
  hello.set_request_id("hello");
  hello.set_peer_pid(platform::CurrentProcessId());
  hello.set_client_lib_name("rp-cpp-tests");
  return hello;
}

pb::Frame HelloFrame(const pb::Hello& hello) {
  return transport::MakeRequest(transport::kControlPayloadProtocol,
                                transport::SerializeDeterministic(hello), 1);
}

}  // namespace rp::test
