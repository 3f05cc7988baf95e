// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Every refusal of spec §3.8, produced by the real broker over a real
// connection: exact code, reason and retry_after_ms.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "rp/platform/host.h"
#include "rp/transport/envelope.h"
#include "rp/transport/framing.h"
#include "support/child_registry.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace rp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Expected {
  pb::ErrorCode code;
  std::string reason;
  std::uint64_t retry_after_ms = 0;
};

void ExpectRefused(const std::optional<pb::HelloReply>& reply, const Expected& want) {
  ASSERT_TRUE(reply.has_value()) << "no reply for: " << want.reason;
  ASSERT_TRUE(reply->has_refused()) << "expected a refusal: " << want.reason;
  EXPECT_EQ(reply->refused().code(), want.code) << reply->refused().reason();
  EXPECT_EQ(reply->refused().reason(), want.reason);
  EXPECT_EQ(reply->refused().retry_after_ms(), want.retry_after_ms) << want.reason;
  EXPECT_EQ(reply->refused().daemon_min_protocol(), 1u);
  EXPECT_EQ(reply->refused().daemon_max_protocol(), 1u);
  EXPECT_TRUE(reply->refused().details().empty());
}

std::optional<pb::HelloReply> DecodeRaw(const std::string& raw) {
  auto decoded = transport::TryDecodeFrame(
      std::span(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
  if (!decoded || !*decoded) return std::nullopt;
  EXPECT_EQ((*decoded)->frame.request_id(), 0u) << "framing errors answer request_id 0";
  pb::HelloReply reply;
  if (!reply.ParseFromString((*decoded)->frame.payload())) return std::nullopt;
  return reply;
}

std::string Header(std::uint8_t version, std::uint32_t length) {
  std::string h(1, static_cast<char>(version));
  for (int i = 0; i < 4; ++i) h += static_cast<char>((length >> (8 * i)) & 0xff);
  return h;
}

// One broker serves every stateless case.
class Refusals : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new BrokerUnderTest(
        BrokerUnderTest::Options{{}, {{"RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS", "500"}}});
    broker_->Start();
    pb::ServiceDefinition floor;
    floor.set_min_version("2.0.0");
    broker_->InstallService("floored", {}, floor);
    pb::ServiceDefinition allow;
    allow.add_version_allow_list("1.2.3");
    broker_->InstallService("allowlisted", {}, allow);
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(broker_->Shutdown(), 0);
    delete broker_;
    broker_ = nullptr;
  }
  static BrokerUnderTest* broker_;
};
BrokerUnderTest* Refusals::broker_ = nullptr;

TEST_F(Refusals, FramingAndEnvelope) {
  ExpectRefused(DecodeRaw(broker_->RawExchange(Header(2, 0))),
                {pb::ERROR_VERSION_UNSUPPORTED, "unsupported framing version"});
  ExpectRefused(DecodeRaw(broker_->RawExchange(Header(1, 65537))),
                {pb::ERROR_PEER_REJECTED, "initial Hello frame exceeds 64 KiB"});
  ExpectRefused(DecodeRaw(broker_->RawExchange(Header(1, 2) + "\x0f\xff")),
                {pb::ERROR_PEER_REJECTED, "malformed broker Frame"});
  // Half a frame, then silence: the broker's 500 ms deadline answers.
  ExpectRefused(DecodeRaw(broker_->RawExchange(Header(1, 10) + "abc")),
                {pb::ERROR_PEER_REJECTED, "incomplete Hello frame"});

  pb::Frame frame = HelloFrame(MakeTestHello("echo"));
  frame.set_envelope_version(2);
  frame.set_payload_protocol(0x7A63);  // version is checked first
  ExpectRefused(broker_->Exchange(frame),
                {pb::ERROR_VERSION_UNSUPPORTED, "frame envelope_version is not v1"});
  frame = HelloFrame(MakeTestHello("echo"));
  frame.set_kind(pb::FRAME_KIND_RESPONSE);
  ExpectRefused(broker_->Exchange(frame),
                {pb::ERROR_PEER_REJECTED, "Hello frame kind must be REQUEST"});
  frame = HelloFrame(MakeTestHello("echo"));
  frame.set_payload_protocol(0x7A63);
  ExpectRefused(broker_->Exchange(frame), {pb::ERROR_PEER_REJECTED,
                                           "Hello frame payload_protocol must be control-plane"});
  frame = HelloFrame(MakeTestHello("echo"));
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_ZSTD);
  ExpectRefused(broker_->Exchange(frame),
                {pb::ERROR_PEER_REJECTED, "Hello payload must not be compressed"});
  frame = HelloFrame(MakeTestHello("echo"));
  frame.set_payload("\x0f\xff");
  ExpectRefused(broker_->Exchange(frame), {pb::ERROR_PEER_REJECTED, "malformed Hello payload"});
}

TEST_F(Refusals, HelloShapeInOrder) {
  pb::Hello h = MakeTestHello("echo");
  h.set_client_min_protocol(2);
  h.set_client_max_protocol(3);
  h.set_service_name("UPPER");  // the protocol check comes first
  ExpectRefused(broker_->SendHello(h),
                {pb::ERROR_VERSION_UNSUPPORTED, "client protocol range does not include v1"});
  h = MakeTestHello("Echo");
  ExpectRefused(broker_->SendHello(h), {pb::ERROR_PEER_REJECTED, "invalid service_name"});
  h = MakeTestHello("echo", "v1.0.0");
  ExpectRefused(broker_->SendHello(h), {pb::ERROR_PEER_REJECTED, "invalid wanted_version"});
  h = MakeTestHello("echo", "1.0.0-" + std::string(60, 'a'));
  ExpectRefused(broker_->SendHello(h), {pb::ERROR_PEER_REJECTED, "invalid wanted_version"});
  h = MakeTestHello("echo");
  h.set_client_version(std::string(129, 'v'));
  ExpectRefused(broker_->SendHello(h),
                {pb::ERROR_PEER_REJECTED, "client_version exceeds 128 bytes"});
  h = MakeTestHello("echo");
  h.set_client_lib_version(std::string(65, 'l'));
  ExpectRefused(broker_->SendHello(h),
                {pb::ERROR_PEER_REJECTED, "client_lib fields exceed 64 bytes"});
  h = MakeTestHello("echo");
  h.set_peer_pid(platform::CurrentProcessId() + 1);
  ExpectRefused(broker_->SendHello(h),
                {pb::ERROR_PEER_REJECTED, "peer_pid does not match verified peer"});
}

TEST_F(Refusals, ServiceDefinitionsAndVersionPolicy) {
  ExpectRefused(broker_->SendHello(MakeTestHello("nosuch")),
                {pb::ERROR_SERVICE_UNKNOWN, "service definition was not found"});
  ExpectRefused(broker_->SendHello(MakeTestHello("floored", "1.9.9")),
                {pb::ERROR_VERSION_BLOCKED, "wanted_version is below min_version", 30000});
  // A pre-release ranks below its release (semver), unlike the reference.
  ExpectRefused(broker_->SendHello(MakeTestHello("floored", "2.0.0-rc.1")),
                {pb::ERROR_VERSION_BLOCKED, "wanted_version is below min_version", 30000});
  ExpectRefused(broker_->SendHello(MakeTestHello("allowlisted", "1.2.4")),
                {pb::ERROR_VERSION_BLOCKED, "wanted_version is not in version_allow_list", 30000});

  // A file that names another service.
  pb::ServiceDefinition other;
  other.set_service_name("someone-else");
  other.set_binary_path(BuiltProgram("tools/rp-echo-backend"));
  std::ofstream(fs::path(broker_->service_def_dir()) / "liar.servicedef", std::ios::binary)
      << transport::SerializeDeterministic(other);
  ExpectRefused(broker_->SendHello(MakeTestHello("liar")),
                {pb::ERROR_SERVICE_UNKNOWN,
                 "service definition could not be loaded: service-definition requested \"liar\" "
                 "but file declares \"someone-else\""});
  // A relative binary path.
  pb::ServiceDefinition relative;
  relative.set_service_name("relative");
  relative.set_binary_path("bin/echo");
  std::ofstream(fs::path(broker_->service_def_dir()) / "relative.servicedef", std::ios::binary)
      << transport::SerializeDeterministic(relative);
  ExpectRefused(broker_->SendHello(MakeTestHello("relative")),
                {pb::ERROR_SERVICE_UNKNOWN,
                 "service definition could not be loaded: service-definition binary_path is "
                 "invalid: \"bin/echo\" (must be absolute)"});
  // Not a ServiceDefinition at all.
  std::ofstream(fs::path(broker_->service_def_dir()) / "garbage.servicedef", std::ios::binary)
      << "\x0f\xff\xff";
  ExpectRefused(broker_->SendHello(MakeTestHello("garbage")),
                {pb::ERROR_SERVICE_UNKNOWN,
                 "service definition could not be loaded: service-definition protobuf decode "
                 "failed: not a ServiceDefinition"});
}

TEST_F(Refusals, SpawnFailureThenBudget) {
  pb::ServiceDefinition missing;
  broker_->InstallService("missing-binary", (fs::path(broker_->dir().path()) / "no-such-program").string());
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto reply = broker_->SendHello(MakeTestHello("missing-binary"));
    ASSERT_TRUE(reply && reply->has_refused());
    EXPECT_EQ(reply->refused().code(), pb::ERROR_BACKEND_SPAWN_FAILED);
    EXPECT_EQ(reply->refused().reason().rfind("backend spawn failed: ", 0), 0u)
        << reply->refused().reason();
    EXPECT_EQ(reply->refused().retry_after_ms(), 1000u);
  }
  auto reply = broker_->SendHello(MakeTestHello("missing-binary"));
  ASSERT_TRUE(reply && reply->has_refused());
  EXPECT_EQ(reply->refused().code(), pb::ERROR_RATE_LIMITED);
  EXPECT_EQ(reply->refused().reason(), "backend spawn budget exhausted");
  EXPECT_GE(reply->refused().retry_after_ms(), 1u);
  EXPECT_LE(reply->refused().retry_after_ms(), 30000u);
}

TEST(RefusalsAlone, HelloRateLimitTriggersPerPeer) {
  BrokerUnderTest broker({{"--hello-rate-limit", "5"}, {}});
  broker.Start();
  for (int i = 0; i < 5; ++i) {
    auto reply = broker.SendHello(MakeTestHello("nosuch"));
    ASSERT_TRUE(reply && reply->has_refused());
    EXPECT_EQ(reply->refused().code(), pb::ERROR_SERVICE_UNKNOWN) << "hello " << i;
  }
  auto limited = broker.SendHello(MakeTestHello("nosuch"));
  ASSERT_TRUE(limited && limited->has_refused());
  EXPECT_EQ(limited->refused().code(), pb::ERROR_RATE_LIMITED);
  EXPECT_EQ(limited->refused().reason(), "Hello rate limit exceeded");
  EXPECT_GE(limited->refused().retry_after_ms(), 1u);
  EXPECT_LE(limited->refused().retry_after_ms(), 1000u);
  // Admin is not rate limited.
  auto health = broker.Admin(pb::ADMIN_VERB_HEALTHZ);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body(), "ok\n");
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(RefusalsAlone, BackendThatExitsBeforeReadyIsASpawnFailure) {
  BrokerUnderTest broker({{}, {{kChildEnv, "exit_before_ready"}}});
  broker.Start();
  broker.InstallService("quitter", platform::CurrentExecutablePath().value());
  auto reply = broker.SendHello(MakeTestHello("quitter"));
  ASSERT_TRUE(reply && reply->has_refused());
  EXPECT_EQ(reply->refused().code(), pb::ERROR_BACKEND_SPAWN_FAILED);
  EXPECT_NE(reply->refused().reason().find("exited with code 7 before it was ready"),
            std::string::npos)
      << reply->refused().reason();
  EXPECT_EQ(reply->refused().retry_after_ms(), 1000u);
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(RefusalsAlone, BackendThatNeverReportsReadyIsASpawnFailure) {
  BrokerUnderTest broker({{"--backend-ready-timeout-ms", "300"}, {{kChildEnv, "never_ready"}}});
  broker.Start();
  broker.InstallService("sleeper", platform::CurrentExecutablePath().value());
  auto reply = broker.SendHello(MakeTestHello("sleeper"));
  ASSERT_TRUE(reply && reply->has_refused());
  EXPECT_EQ(reply->refused().code(), pb::ERROR_BACKEND_SPAWN_FAILED);
  EXPECT_NE(reply->refused().reason().find("not ready within 300 ms"), std::string::npos)
      << reply->refused().reason();
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(RefusalsAlone, InsecureServiceDefinitionDirectory) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "POSIX permission bits; the Windows DACL check is in the unit tests";
  }
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  fs::permissions(broker.service_def_dir(), fs::perms(0755));
  auto reply = broker.SendHello(MakeTestHello("echo"));
  ExpectRefused(reply, {pb::ERROR_SERVICE_UNKNOWN,
                        "service definition could not be loaded: service-definition directory "
                        "has insecure permissions: " +
                            broker.service_def_dir()});
  // A symlinked definition is refused too.
  fs::permissions(broker.service_def_dir(), fs::perms(0700));
  fs::rename(fs::path(broker.service_def_dir()) / "echo.servicedef",
             fs::path(broker.dir().path()) / "real.servicedef");
  fs::create_symlink(fs::path(broker.dir().path()) / "real.servicedef",
                     fs::path(broker.service_def_dir()) / "echo.servicedef");
  reply = broker.SendHello(MakeTestHello("echo"));
  ASSERT_TRUE(reply && reply->has_refused());
  EXPECT_EQ(reply->refused().code(), pb::ERROR_SERVICE_UNKNOWN);
  EXPECT_NE(reply->refused().reason().find("symlinks are refused"), std::string::npos);
  EXPECT_EQ(broker.Shutdown(), 0);
}

}  // namespace
}  // namespace rp::test

RP_TEST_CHILD(exit_before_ready) { return 7; }

RP_TEST_CHILD(never_ready) {
  // Holds its control channel open and never says ready; the broker kills it.
  boost::asio::io_context io;
  boost::asio::steady_timer forever(io, std::chrono::hours(1));
  forever.wait();
  return 0;
}
