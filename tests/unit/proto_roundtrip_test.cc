// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Encode -> decode -> encode equality for every v1 message with realistic
// values (catalogue §2), plus the presence and ordering facts of spec §2.5
// and the 512-byte LifecycleEvent budget.

#include <string>

#include <gtest/gtest.h>

#include "broker_v1_admin.pb.h"
#include "broker_v1_envelope.pb.h"
#include "broker_v1_manifest.pb.h"
#include "broker_v1_service_def.pb.h"
#include "rp/transport/envelope.h"
#include "rp/transport/framing.h"
#include "unit/wire_bytes.h"

namespace rp::transport {
namespace {

using ::rp::test::HexToString;

// Encodes `message`, decodes it into a fresh object and checks that the
// re-encoding is byte-identical. Returns the decoded copy for field checks.
template <class Message>
Message RoundTrip(const Message& message) {
  const std::string bytes = SerializeDeterministic(message);
  Message decoded;
  EXPECT_TRUE(decoded.ParseFromString(bytes));
  EXPECT_EQ(SerializeDeterministic(decoded), bytes);
  return decoded;
}

TEST(ProtoRoundTripTest, Frame) {
  pb::Frame frame;
  frame.set_envelope_version(1);
  frame.set_kind(pb::FRAME_KIND_EVENT);
  frame.set_payload_protocol(kHandoffPayloadProtocol);
  frame.set_payload(std::string("\0\1\2", 3));
  frame.set_request_id(0xFFFFFFFFFFFFFFFFULL);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_ZSTD);
  frame.set_deadline_unix_ms(1700000000123ULL);
  frame.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  frame.set_tracestate("rp=1,vendor=x");
  const pb::Frame back = RoundTrip(frame);
  EXPECT_EQ(back.kind(), pb::FRAME_KIND_EVENT);
  EXPECT_EQ(back.payload(), std::string("\0\1\2", 3));
  EXPECT_EQ(back.request_id(), 0xFFFFFFFFFFFFFFFFULL);

  // And through the frame codec.
  auto framed = EncodeFrame(frame);
  ASSERT_TRUE(framed.has_value());
  auto decoded = TryDecodeFrame(*framed);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ(SerializeDeterministic((*decoded)->frame), SerializeDeterministic(frame));
}

TEST(ProtoRoundTripTest, Hello) {
  pb::Hello hello;
  hello.set_client_min_protocol(1);
  hello.set_client_max_protocol(1);
  hello.set_service_name("zccache");
  hello.set_wanted_version("1.11.20");
  hello.set_client_version("1.11.20");
  hello.set_client_capabilities(kCapHandlePassing);
  hello.set_request_id("hello");
  hello.set_peer_pid(1234);
  hello.set_client_lib_name("running-process");
  hello.set_client_lib_version("4.10.6");
  hello.set_peer_attestation_nonce(std::string(32, '\xAA'));
  hello.set_capability_token("");
  hello.set_client_keepalive_secs(900);
  const pb::Hello back = RoundTrip(hello);
  EXPECT_EQ(back.peer_attestation_nonce(), std::string(32, '\xAA'));
  EXPECT_TRUE(back.capability_token().empty());
  EXPECT_EQ(back.client_keepalive_secs(), 900u);
}

TEST(ProtoRoundTripTest, HelloReplyNegotiated) {
  pb::HelloReply reply;
  pb::Negotiated* negotiated = reply.mutable_negotiated();
  negotiated->set_negotiated_protocol(1);
  negotiated->set_daemon_version("1.11.20");
  negotiated->set_backend_pipe("\\\\.\\pipe\\rpb-v1-abc-zccache-1.11.20-deadbeef");
  negotiated->add_warnings("client_version is older than the daemon");
  negotiated->set_server_capabilities(kCapHandlePassing);
  negotiated->set_keepalive_interval_secs(1800);
  negotiated->set_handle_passed_token(std::string(16, '\x42'));
  negotiated->set_connection_id(1);
  const pb::HelloReply back = RoundTrip(reply);
  ASSERT_EQ(back.result_case(), pb::HelloReply::kNegotiated);
  EXPECT_EQ(back.negotiated().backend_pipe(), "\\\\.\\pipe\\rpb-v1-abc-zccache-1.11.20-deadbeef");
  ASSERT_EQ(back.negotiated().warnings_size(), 1);
}

TEST(ProtoRoundTripTest, HelloReplyRefusedWithDetails) {
  pb::HelloReply reply;
  pb::Refused* refused = reply.mutable_refused();
  refused->set_reason("wanted_version is below min_version");
  refused->set_daemon_min_protocol(1);
  refused->set_daemon_max_protocol(1);
  refused->set_code(pb::ERROR_VERSION_BLOCKED);
  (*refused->mutable_details())["hint"] = "upgrade to >=1.12";
  refused->set_retry_after_ms(500);
  const pb::HelloReply back = RoundTrip(reply);
  ASSERT_EQ(back.result_case(), pb::HelloReply::kRefused);
  EXPECT_EQ(back.refused().code(), pb::ERROR_VERSION_BLOCKED);
  EXPECT_EQ(back.refused().details().at("hint"), "upgrade to >=1.12");
  EXPECT_EQ(back.refused().retry_after_ms(), 500u);
}

TEST(ProtoRoundTripTest, HelloReplyOneofKeepsTheLastArm) {
  pb::HelloReply reply;
  reply.mutable_negotiated()->set_negotiated_protocol(1);
  reply.mutable_refused()->set_code(pb::ERROR_INTERNAL);
  EXPECT_EQ(RoundTrip(reply).result_case(), pb::HelloReply::kRefused);
  EXPECT_EQ(RoundTrip(pb::HelloReply()).result_case(), pb::HelloReply::RESULT_NOT_SET);
}

TEST(ProtoRoundTripTest, HandoffOffer) {
  pb::HandoffOffer offer;
  offer.set_handle_value(0xB0B);
  offer.set_token(std::string(16, '\x42'));
  offer.set_service_name("zccache");
  offer.set_correlation_id(0xC0FFEE);
  const pb::HandoffOffer back = RoundTrip(offer);
  EXPECT_EQ(back.handle_value(), 0xB0Bu);
  EXPECT_EQ(back.correlation_id(), 0xC0FFEEu);
}

TEST(ProtoRoundTripTest, HandoffAckRejected) {
  pb::HandoffAck ack;
  ack.set_token(std::string(16, '\x42'));
  ack.set_accepted(false);
  ack.set_error_detail("handoff token mismatch");
  ack.set_correlation_id(0xC0FFEE);
  const pb::HandoffAck back = RoundTrip(ack);
  EXPECT_FALSE(back.accepted());
  EXPECT_EQ(back.error_detail(), "handoff token mismatch");
}

TEST(ProtoRoundTripTest, AdminRequest) {
  pb::AdminRequest request;
  request.set_verb(pb::ADMIN_VERB_BACKEND_HEALTH);
  request.set_json(true);
  request.set_service_name("zccache");
  request.set_output_path("/tmp/diag");
  request.set_drain_deadline_ms(5000);
  const pb::AdminRequest back = RoundTrip(request);
  EXPECT_EQ(back.verb(), pb::ADMIN_VERB_BACKEND_HEALTH);
  EXPECT_TRUE(back.json());
  EXPECT_EQ(back.drain_deadline_ms(), 5000u);

  pb::AdminRequest shutdown;
  shutdown.set_verb(pb::ADMIN_VERB_SHUTDOWN);
  EXPECT_EQ(SerializeDeterministic(shutdown), HexToString("0815"));
}

TEST(ProtoRoundTripTest, AdminReply) {
  pb::AdminReply reply;
  reply.set_kind(pb::ADMIN_REPLY_KIND_JSON);
  reply.set_body("{\"schema_version\":1}");
  reply.set_exit_code(0);
  reply.set_content_type("application/json");
  const pb::AdminReply back = RoundTrip(reply);
  EXPECT_EQ(back.kind(), pb::ADMIN_REPLY_KIND_JSON);
  EXPECT_EQ(back.body(), "{\"schema_version\":1}");
  EXPECT_EQ(back.content_type(), "application/json");
}

pb::CacheManifest FullManifest() {
  pb::CacheManifest manifest;
  manifest.set_manifest_schema_version(1);
  manifest.set_media_type("application/vnd.running-process.cache-manifest.v1");
  manifest.set_self_sha256(std::string(32, '\0'));
  pb::HostIdentity* host = manifest.mutable_host();
  host->set_hostname("builder");
  host->set_machine_id("0123456789abcdef0123456789abcdef");
  host->set_boot_id("6f1c2d4e-0000-4000-8000-000000000001");
  host->set_fs_dev_id(2049);
  host->set_namespace_id("shared");
  pb::Operation* operation = manifest.mutable_current_operation();
  operation->set_kind(pb::OPERATION_COMPACTING);
  operation->set_started_at_unix_ms(1700000000000ULL);
  operation->set_expected_done_unix_ms(1700000060000ULL);
  manifest.set_valid_until_unix_ms(1700086400000ULL);

  manifest.set_service_name("zccache");
  manifest.set_service_version("1.11.20");
  manifest.set_broker_envelope_version("1");
  manifest.set_created_at_unix_ms(1699990000000ULL);
  manifest.set_last_active_unix_ms(1700000000000ULL);

  pb::CacheRoot* root = manifest.add_roots();
  root->set_path("/home/u/.cache/zccache");
  root->set_kind(pb::CACHE_DATA);
  root->set_estimated_size_bytes(1ULL << 30);
  root->set_disposition(pb::PRUNE_WHEN_DORMANT);
  (*root->mutable_labels())["tier"] = "hot";
  (*root->mutable_labels())["owner"] = "ci";
  root->mutable_quota()->set_hard_max_bytes(10ULL << 30);
  root->mutable_quota()->set_soft_target_bytes(8ULL << 30);
  root->mutable_quota()->set_reserved_bytes(1ULL << 20);
  root->mutable_teardown_hook()->set_kind(pb::TEARDOWN_CUSTOM_COMMAND);
  root->mutable_teardown_hook()->add_argv("zccache");
  root->mutable_teardown_hook()->add_argv("--compact");
  root->mutable_teardown_hook()->set_timeout_secs(30);
  root->add_exclude_globs("*.lock");
  (*root->mutable_platform_paths())["windows"] = "C:\\Users\\u\\AppData\\Local\\zccache";
  root->mutable_ownership()->set_uid(1000);
  root->mutable_ownership()->set_gid(1000);
  root->mutable_ownership()->set_mode(0700);
  root->mutable_ownership()->set_windows_sid("S-1-5-21-1-2-3-1001");
  root->mutable_endpoint()->set_namespace_id("shared");
  root->mutable_endpoint()->set_path("/run/user/1000/running-process/broker/x.sock");
  manifest.add_roots()->set_kind(pb::CACHE_LOGS);

  pb::DaemonProcess* daemon = manifest.mutable_current_daemon();
  daemon->set_pid(4321);
  daemon->set_exe_path("/usr/bin/zccache");
  daemon->mutable_ipc_endpoint()->set_namespace_id("shared");
  daemon->mutable_ipc_endpoint()->set_path(
      "rpb-v1-deadbeefdeadbeef-be-abababababababababababababababab");
  daemon->set_started_at_unix_ms(1700000000000ULL);
  daemon->set_boot_id("6f1c2d4e-0000-4000-8000-000000000001");
  daemon->set_idle_timeout_secs(900);
  daemon->set_exe_hash_algorithm("blake3");
  daemon->set_exe_hash(std::string(32, '\x11'));

  manifest.mutable_cleanup_policy()->set_dormant_after_secs(30ULL * 24 * 3600);
  manifest.mutable_cleanup_policy()->set_keep_last_n_versions(2);
  manifest.mutable_cleanup_policy()->set_keep_current(true);
  manifest.mutable_cleanup_policy()->set_min_size_for_prune_bytes(1 << 20);
  manifest.set_broker_instance("shared");
  pb::ManifestRef* dependency = manifest.add_depends_on();
  dependency->set_service_name("fbuild");
  dependency->set_min_version("2.0.0");
  dependency->set_optional(true);
  manifest.add_provides("compile-cache");
  manifest.mutable_observability()->set_metrics_endpoint("rpb-v1-deadbeefdeadbeef-shared");
  manifest.mutable_observability()->set_log_path("/var/log/zccache.log");
  manifest.mutable_observability()->set_health_check_endpoint("healthz");
  manifest.set_bundle_id("bundle-1");
  return manifest;
}

TEST(ProtoRoundTripTest, CacheManifestFull) {
  const pb::CacheManifest back = RoundTrip(FullManifest());
  EXPECT_EQ(back.self_sha256(), std::string(32, '\0'));
  EXPECT_EQ(back.host().fs_dev_id(), 2049u);
  EXPECT_EQ(back.current_operation().kind(), pb::OPERATION_COMPACTING);
  ASSERT_EQ(back.roots_size(), 2);
  EXPECT_EQ(back.roots(0).labels().at("owner"), "ci");
  EXPECT_EQ(back.roots(0).teardown_hook().argv_size(), 2);
  EXPECT_EQ(back.roots(0).ownership().mode(), 0700u);
  EXPECT_EQ(back.roots(1).kind(), pb::CACHE_LOGS);
  ASSERT_TRUE(back.has_current_daemon());
  EXPECT_EQ(back.current_daemon().exe_hash_algorithm(), "blake3");
  ASSERT_TRUE(back.current_daemon().has_idle_timeout_secs());
  EXPECT_EQ(back.current_daemon().idle_timeout_secs(), 900u);
  ASSERT_EQ(back.depends_on_size(), 1);
  EXPECT_TRUE(back.depends_on(0).optional());
  EXPECT_TRUE(back.cleanup_policy().keep_current());
  EXPECT_EQ(back.bundle_id(), "bundle-1");
}

TEST(ProtoRoundTripTest, CacheManifestEmitsHighFieldsLast) {
  pb::CacheManifest manifest;
  manifest.set_manifest_schema_version(1);
  manifest.set_service_name("a");
  // Field 1 ("a") first, then field 100 = tag a0 06.
  EXPECT_EQ(SerializeDeterministic(manifest), HexToString("0a0161" "a00601"));
}

TEST(ProtoRoundTripTest, DaemonIdleTimeoutPresenceSurvives) {
  pb::DaemonProcess unset;
  unset.set_pid(1);
  EXPECT_FALSE(RoundTrip(unset).has_idle_timeout_secs());

  // An explicit zero is still on the wire (field 7, value 0).
  pb::DaemonProcess zero;
  zero.set_idle_timeout_secs(0);
  EXPECT_EQ(SerializeDeterministic(zero), HexToString("3800"));
  const pb::DaemonProcess back = RoundTrip(zero);
  EXPECT_TRUE(back.has_idle_timeout_secs());
  EXPECT_EQ(back.idle_timeout_secs(), 0u);
}

TEST(ProtoRoundTripTest, CurrentDaemonPresenceSurvives) {
  pb::CacheManifest manifest;
  manifest.mutable_current_daemon();
  EXPECT_TRUE(RoundTrip(manifest).has_current_daemon());
  EXPECT_FALSE(RoundTrip(pb::CacheManifest()).has_current_daemon());
}

TEST(ProtoRoundTripTest, DaemonProcessSkipsReservedField3) {
  // An old writer's SHA-256 in field 3 is just an unknown field now.
  pb::DaemonProcess daemon;
  ASSERT_TRUE(daemon.ParseFromString(HexToString("0801" "1a02abcd" "4a01ff")));
  EXPECT_EQ(daemon.pid(), 1u);
  EXPECT_EQ(daemon.exe_hash(), HexToString("ff"));
}

TEST(ProtoRoundTripTest, ServiceDefinitionWithLabels) {
  pb::ServiceDefinition definition;
  definition.set_service_name("zccache");
  definition.set_binary_path("/usr/bin/zccache");
  definition.set_isolation(pb::SHARED_BROKER);
  definition.set_per_version_binary_dir("/opt/zccache/versions");
  definition.set_min_version("1.11.0");
  definition.add_version_allow_list("1.11.20");
  definition.add_version_allow_list("1.12.0");
  (*definition.mutable_labels())["env"] = "ci";
  const pb::ServiceDefinition back = RoundTrip(definition);
  EXPECT_EQ(back.isolation(), pb::SHARED_BROKER);
  ASSERT_EQ(back.version_allow_list_size(), 2);
  EXPECT_EQ(back.version_allow_list(1), "1.12.0");
  EXPECT_EQ(back.labels().at("env"), "ci");

  pb::ServiceDefinition instance;
  instance.set_isolation(pb::EXPLICIT_INSTANCE);
  instance.set_explicit_instance("ci-trusted");
  EXPECT_EQ(RoundTrip(instance).explicit_instance(), "ci-trusted");
}

TEST(ProtoRoundTripTest, ServiceDefinitionV2SupersetDecodes) {
  // The v2 file adds field 10 (http_server, a message); v1 skips it.
  pb::ServiceDefinition definition;
  ASSERT_TRUE(definition.ParseFromString(HexToString("0a0161" "5205" "0a03" "3a3830")));
  EXPECT_EQ(definition.service_name(), "a");
}

TEST(ProtoRoundTripTest, LifecycleEventSpawn) {
  pb::LifecycleEvent event;
  event.set_ts_ms(1700000000000ULL);
  event.set_pid(4321);
  event.set_service_name("zccache");
  event.set_kind(pb::SPAWN);
  event.set_reason("spawned on demand");
  (*event.mutable_extra())["backend_pid"] = "4321";
  event.set_severity_number(9);
  event.set_severity_text("INFO");
  event.set_request_id("hello");
  event.set_connection_id(1);
  event.set_broker_instance("shared");
  const pb::LifecycleEvent back = RoundTrip(event);
  EXPECT_EQ(back.kind(), pb::SPAWN);
  EXPECT_EQ(back.extra().at("backend_pid"), "4321");
  EXPECT_EQ(back.severity_text(), "INFO");
}

pb::LifecycleEvent WorstCaseEvent(int kind) {
  pb::LifecycleEvent event;
  event.set_ts_ms(0xFFFFFFFFFFFFFFFFULL);
  event.set_pid(0xFFFFFFFFu);
  event.set_service_name(std::string(64, 's'));
  event.set_kind(static_cast<pb::EventKind>(kind));
  event.set_reason(std::string(80, 'r'));
  (*event.mutable_extra())["k1"] = "v1";
  (*event.mutable_extra())["k2"] = "v2";
  event.set_severity_number(24);
  event.set_severity_text("CRITICAL");
  event.set_request_id(std::string(32, 'q'));
  event.set_connection_id(0xFFFFFFFFFFFFFFFFULL);
  event.set_broker_instance("instance-name-padded");
  return event;
}

TEST(ProtoRoundTripTest, LifecycleEventWorstCaseFitsPipeBuf) {
  for (int kind = 0; kind <= 50; ++kind) {
    const std::string bytes = SerializeDeterministic(WorstCaseEvent(kind));
    EXPECT_LE(bytes.size(), kMaxLifecycleEventBytes) << "kind " << kind;
  }
  // Upstream reports 266 bytes for this shape (non-zero kind).
  EXPECT_EQ(SerializeDeterministic(WorstCaseEvent(pb::SPAWN)).size(), 266u);
}

TEST(ProtoRoundTripTest, EnumValuesMatchTheSpec) {
  EXPECT_EQ(pb::FRAME_KIND_CANCEL, 3);
  EXPECT_EQ(pb::PAYLOAD_ENCODING_LZ4, 3);
  EXPECT_EQ(pb::ERROR_FD_PRESSURE, 9);
  EXPECT_EQ(pb::ADMIN_VERB_METRICS, 9);
  EXPECT_EQ(pb::ADMIN_VERB_SHUTDOWN, 21);
  EXPECT_EQ(pb::ADMIN_REPLY_KIND_OPENMETRICS, 2);
  EXPECT_EQ(pb::CACHE_SECRETS, 9);
  EXPECT_EQ(pb::PRUNE_ON_CRASH, 4);
  EXPECT_EQ(pb::TEARDOWN_CUSTOM_COMMAND, 3);
  EXPECT_EQ(pb::OPERATION_ARCHIVING, 5);
  EXPECT_EQ(pb::MANIFEST_REWRITTEN, 20);
  EXPECT_EQ(pb::EXPLICIT_INSTANCE, 2);
}

}  // namespace
}  // namespace rp::transport
