// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The broker's pure state machines and rules, driven with a fake clock.
#include <filesystem>

#include <gtest/gtest.h>

#include "rp/broker/handoff_policy.h"
#include "rp/broker/hello_policy.h"
#include "rp/broker/json.h"
#include "rp/broker/rate_limits.h"
#include "rp/broker/service_definitions.h"

namespace rp::broker {
namespace {

using namespace std::chrono_literals;
const SteadyTime kT0{};

TEST(VersionPolicy, SemverPrecedence) {
  EXPECT_EQ(CompareVersions("1.0.0", "1.0.0"), 0);
  EXPECT_EQ(CompareVersions("1.0.0", "1.0.1"), -1);
  EXPECT_EQ(CompareVersions("1.10.0", "1.9.0"), 1);  // numeric, not lexical
  EXPECT_EQ(CompareVersions("1.0.0-rc.1", "1.0.0"), -1);
  EXPECT_EQ(CompareVersions("1.0.0-alpha", "1.0.0-alpha.1"), -1);
  EXPECT_EQ(CompareVersions("1.0.0-alpha.1", "1.0.0-alpha.beta"), -1);
  EXPECT_EQ(CompareVersions("1.0.0-beta.2", "1.0.0-beta.11"), -1);
  EXPECT_EQ(CompareVersions("1.0.0-rc.1", "1.0.0-beta.11"), 1);
  EXPECT_EQ(CompareVersions("v1.0.0", "1.0.0"), std::nullopt);
  EXPECT_EQ(CompareVersions("99999999999999999999.0.0", "1.0.0"), std::nullopt);
}

TEST(VersionPolicy, FloorAllowListAndUnparsableAreRefusals) {
  pb::ServiceDefinition def;
  def.set_min_version("1.10.0");
  EXPECT_EQ(CheckVersionPolicy("1.10.0", def), std::nullopt);
  EXPECT_EQ(CheckVersionPolicy("1.9.9", def), refusals::BelowMinVersion());
  EXPECT_EQ(CheckVersionPolicy("1.10.0-rc.1", def), refusals::BelowMinVersion());
  // A floor that cannot be compared refuses instead of letting it through.
  EXPECT_EQ(CheckVersionPolicy("99999999999999999999.0.0", def), refusals::BelowMinVersion());
  def.clear_min_version();
  def.add_version_allow_list("1.11.20");
  EXPECT_EQ(CheckVersionPolicy("1.11.20", def), std::nullopt);
  EXPECT_EQ(CheckVersionPolicy("1.11.21", def), refusals::NotInAllowList());
  EXPECT_EQ(refusals::NotInAllowList().retry_after_ms, 30000u);
}

TEST(HelloShape, ChecksRunInReferenceOrder) {
  pb::Hello h;
  h.set_client_min_protocol(1);
  h.set_client_max_protocol(1);
  h.set_service_name("zccache");
  h.set_wanted_version("1.11.20");
  EXPECT_EQ(ValidateHelloShape(h, 0), std::nullopt);
  h.set_peer_pid(41);
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::PeerPidMismatch());
  EXPECT_EQ(ValidateHelloShape(h, 0), std::nullopt) << "unknown OS pid skips the cross-check";
  h.set_client_lib_name(std::string(65, 'x'));
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::ClientLibTooLong());
  h.set_client_version(std::string(129, 'x'));
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::ClientVersionTooLong());
  h.set_wanted_version("1.0");
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::InvalidWantedVersion());
  h.set_service_name("dots.are.bad");
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::InvalidServiceName());
  h.set_client_max_protocol(0);
  EXPECT_EQ(ValidateHelloShape(h, 42), refusals::ProtocolRangeExcludesV1());
  pb::Hello keep;
  EXPECT_EQ(NegotiatedKeepalive(keep), 1800u);
  keep.set_client_keepalive_secs(60);
  EXPECT_EQ(NegotiatedKeepalive(keep), 60u);
}

TEST(PeerRateLimiter, LimitsPerPidPerWindowAndNeverLimitsPidZero) {
  PeerRateLimiter limiter(3, 1000ms);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Admit(7, kT0 + 10ms), std::nullopt);
  EXPECT_EQ(limiter.Admit(7, kT0 + 400ms), 610u) << "the window started at 10 ms";
  EXPECT_EQ(limiter.Admit(8, kT0 + 400ms), std::nullopt) << "other peers are unaffected";
  EXPECT_EQ(limiter.Admit(7, kT0 + 1009ms), 1u) << "retry is at least 1 ms";
  EXPECT_EQ(limiter.Admit(7, kT0 + 1010ms), std::nullopt) << "a new window";
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.Admit(0, kT0), std::nullopt);
  // Idle peers are evicted, so the table stays bounded.
  for (std::uint32_t pid = 100; pid < 200; ++pid) limiter.Admit(pid, kT0 + 2s);
  limiter.Admit(1, kT0 + 10s);
  EXPECT_LE(limiter.tracked_peers(), 1u);
}

TEST(SpawnBudget, ThreeAttemptsPerWindowAndSuccessResets) {
  SpawnBudget budget(3, 30s);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(budget.TryBegin("k", kT0 + 1s), std::nullopt);
    budget.Finish("k", false, kT0 + 1s);
  }
  EXPECT_EQ(budget.TryBegin("k", kT0 + 10s), 21000u) << "the window started at 1 s";
  EXPECT_EQ(budget.Remaining("other", kT0 + 10s), 3u);
  EXPECT_EQ(budget.TryBegin("k", kT0 + 31s), std::nullopt) << "the window rolled over";
  budget.Finish("k", true, kT0 + 32s);
  EXPECT_EQ(budget.Remaining("k", kT0 + 32s), 3u) << "a healthy launch earns a fresh window";
}

// An absolute path on the platform the test runs on.
std::string AbsolutePath(const std::string& tail) {
  return (std::filesystem::temp_directory_path() / tail).string();
}

TEST(ServiceDefinitionRules, ValidationTexts) {
  pb::ServiceDefinition def;
  def.set_service_name("echo");
  def.set_binary_path(AbsolutePath("echo"));
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"), std::nullopt);
  EXPECT_EQ(ValidateServiceDefinition(def, "other"),
            "service-definition requested \"other\" but file declares \"echo\"");
  def.set_explicit_instance("ci");
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"),
            "service-definition isolation is invalid: explicit_instance must be empty unless "
            "isolation is EXPLICIT_INSTANCE");
  def.set_isolation(pb::EXPLICIT_INSTANCE);
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"), std::nullopt);
  EXPECT_EQ(InstanceId(def), "explicit:ci");
  def.set_explicit_instance("");
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"),
            "service-definition isolation is invalid: EXPLICIT_INSTANCE requires explicit_instance");
  def.set_isolation(static_cast<pb::BrokerIsolation>(7));
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"),
            "service-definition isolation is invalid: unknown BrokerIsolation value");
  def.set_isolation(pb::SHARED_BROKER);
  EXPECT_EQ(InstanceId(def), "shared");
  def.set_isolation(pb::PRIVATE_BROKER);
  EXPECT_EQ(InstanceId(def), "private:echo");
  def.set_binary_path("");
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"),
            "service-definition binary_path is invalid: \"\" (must not be empty)");
  def.set_binary_path(AbsolutePath("x"));
  def.set_min_version("1.0");
  EXPECT_EQ(ValidateServiceDefinition(def, "echo"),
            "service-definition min_version is invalid: \"1.0\"");
}

TEST(JsonWriter, CompactWithSortedKeys) {
  Json value = Json::Object{{"zeta", 1}, {"alpha", Json::Array{true, nullptr, "a\"b\n"}},
                            {"mid", 2.5}, {"whole", 0.0}};
  EXPECT_EQ(value.Dump(), "{\"alpha\":[true,null,\"a\\\"b\\n\"],\"mid\":2.5,\"whole\":0.0,\"zeta\":1}");
}

}  // namespace
}  // namespace rp::broker

namespace rp::broker {
namespace {

using namespace std::chrono_literals;

TEST(HandoffTokens, SingleUseBoundedAndExpiring) {
  const SteadyTime t0{};
  HandoffTokenStore store(2, 30s);
  auto a = store.Issue(1, t0);
  auto b = store.Issue(2, t0);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(store.Issue(3, t0)) << "bounded";
  HandoffToken wrong = *a;
  wrong[0] ^= 1;
  EXPECT_FALSE(store.Consume(1, wrong, t0));
  EXPECT_TRUE(store.Consume(1, *a, t0)) << "a mismatch consumes nothing";
  EXPECT_FALSE(store.Consume(1, *a, t0)) << "single use";
  EXPECT_FALSE(store.Consume(2, *b, t0 + 30s)) << "expired";
  EXPECT_TRUE(store.Issue(4, t0 + 31s)) << "expired entries make room";
}

TEST(HandoffTokens, ExpiredTokensMakeRoomInOrderOrNot) {
  const SteadyTime t0{};
  HandoffTokenStore store(2, 30s);
  ASSERT_TRUE(store.Issue(1, t0));
  ASSERT_TRUE(store.Issue(2, t0 + 1s));
  ASSERT_TRUE(store.Issue(3, t0 + 30500ms)) << "1 expired and made room";
  EXPECT_EQ(store.pending(), 2u);
  // Ids out of order (the broker's never are): the first by id is not the
  // oldest, and the expired one still makes room.
  HandoffTokenStore mixed(2, 30s);
  ASSERT_TRUE(mixed.Issue(5, t0));
  ASSERT_TRUE(mixed.Issue(1, t0 + 10s));
  EXPECT_TRUE(mixed.Issue(7, t0 + 35s)) << "5 expired, though 1 comes first";
  EXPECT_EQ(mixed.pending(), 2u);
}

TEST(HandoffPolicyTest, SkipsInReferenceOrderAndLimitsFailures) {
  const SteadyTime t0{};
  HandoffPolicy policy(8, 30s);
  EXPECT_EQ(policy.ShouldAttempt(false, false, true, false, "k", t0), HandoffSkip::kClientUnsupported);
  EXPECT_EQ(policy.ShouldAttempt(true, false, true, false, "k", t0), HandoffSkip::kServiceDisabled);
  EXPECT_EQ(policy.ShouldAttempt(true, true, true, false, "k", t0), HandoffSkip::kFdPressure);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, false, "k", t0), HandoffSkip::kAdoptedBackend);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, true, "k", t0), std::nullopt);
  for (int i = 0; i < 8; ++i) policy.RecordFailure("k", t0 + 1s);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, true, "k", t0 + 2s), HandoffSkip::kRecentFailures);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, true, "other", t0 + 2s), std::nullopt);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, true, "k", t0 + 32s), std::nullopt);
  for (int i = 0; i < 8; ++i) policy.RecordFailure("k", t0 + 33s);
  policy.RecordSuccess("k", t0 + 34s);
  EXPECT_EQ(policy.ShouldAttempt(true, true, false, true, "k", t0 + 34s), std::nullopt);
}

}  // namespace
}  // namespace rp::broker
