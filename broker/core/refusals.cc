// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/refusals.h"

#include <algorithm>

namespace rp::broker {

pb::HelloReply MakeRefusedReply(const Refusal& refusal) {
  pb::HelloReply reply;
  pb::Refused* refused = reply.mutable_refused();
  refused->set_reason(refusal.reason);
  refused->set_daemon_min_protocol(1);
  refused->set_daemon_max_protocol(1);
  refused->set_code(refusal.code);
  refused->set_retry_after_ms(refusal.retry_after_ms);
  return reply;
}

namespace refusals {
namespace {
Refusal Make(pb::ErrorCode code, std::string reason, std::uint64_t retry = 0) {
  return Refusal{code, std::move(reason), retry};
}
constexpr auto kRejected = pb::ERROR_PEER_REJECTED;
}  // namespace

Refusal UnsupportedFramingVersion() {
  return Make(pb::ERROR_VERSION_UNSUPPORTED, "unsupported framing version");
}
Refusal HelloTooLarge() { return Make(kRejected, "initial Hello frame exceeds 64 KiB"); }
Refusal IncompleteHello() { return Make(kRejected, "incomplete Hello frame"); }
Refusal MalformedFrame() { return Make(kRejected, "malformed broker Frame"); }
Refusal EnvelopeVersionNotV1() {
  return Make(pb::ERROR_VERSION_UNSUPPORTED, "frame envelope_version is not v1");
}
Refusal KindNotRequest() { return Make(kRejected, "Hello frame kind must be REQUEST"); }
Refusal PayloadProtocolNotControl() {
  return Make(kRejected, "Hello frame payload_protocol must be control-plane");
}
Refusal PayloadCompressed() { return Make(kRejected, "Hello payload must not be compressed"); }
Refusal MalformedHelloPayload() { return Make(kRejected, "malformed Hello payload"); }
Refusal ProtocolRangeExcludesV1() {
  return Make(pb::ERROR_VERSION_UNSUPPORTED, "client protocol range does not include v1");
}
Refusal InvalidServiceName() { return Make(kRejected, "invalid service_name"); }
Refusal InvalidWantedVersion() { return Make(kRejected, "invalid wanted_version"); }
Refusal ClientVersionTooLong() { return Make(kRejected, "client_version exceeds 128 bytes"); }
Refusal ClientLibTooLong() { return Make(kRejected, "client_lib fields exceed 64 bytes"); }
Refusal PeerPidMismatch() { return Make(kRejected, "peer_pid does not match verified peer"); }
Refusal HelloRateLimited(std::uint64_t retry_after_ms) {
  return Make(pb::ERROR_RATE_LIMITED, "Hello rate limit exceeded", std::max<std::uint64_t>(retry_after_ms, 1));
}
Refusal ServiceDefinitionNotFound() {
  return Make(pb::ERROR_SERVICE_UNKNOWN, "service definition was not found");
}
Refusal ServiceDefinitionUnloadable(const std::string& error) {
  return Make(pb::ERROR_SERVICE_UNKNOWN, "service definition could not be loaded: " + error);
}
Refusal BelowMinVersion() {
  return Make(pb::ERROR_VERSION_BLOCKED, "wanted_version is below min_version", 30000);
}
Refusal NotInAllowList() {
  return Make(pb::ERROR_VERSION_BLOCKED, "wanted_version is not in version_allow_list", 30000);
}
Refusal IsolationUnresolved(const std::string& error) {
  return Make(pb::ERROR_INTERNAL, "service isolation could not be resolved: " + error);
}
Refusal SpawnFailed(const std::string& error) {
  return Make(pb::ERROR_BACKEND_SPAWN_FAILED, "backend spawn failed: " + error, 1000);
}
Refusal SpawnInProgress() {
  return Make(pb::ERROR_RATE_LIMITED, "backend spawn already in progress", 1000);
}
Refusal SpawnBudgetExhausted(std::uint64_t retry_after_ms) {
  return Make(pb::ERROR_RATE_LIMITED, "backend spawn budget exhausted",
              std::max<std::uint64_t>(retry_after_ms, 1));
}
Refusal LaunchedIdentityMismatch() {
  return Make(pb::ERROR_INTERNAL, "launched backend identity did not match request");
}
Refusal FdPressure() {
  return Make(pb::ERROR_FD_PRESSURE, "broker is low on file descriptors; retry shortly", 1000);
}
Refusal ShuttingDown() {
  return Make(pb::ERROR_SHUTTING_DOWN, "broker is shutting down", 1000);
}

}  // namespace refusals
}  // namespace rp::broker
