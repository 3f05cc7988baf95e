// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

#include "broker_v1_envelope.pb.h"

// The complete refusal catalogue of the v1 broker (spec §3.8): code, exact
// reason string and retry_after_ms for every way a Hello can be refused.
namespace rp::broker {

namespace pb = ::running_process::broker::v1;

struct Refusal {
  pb::ErrorCode code = pb::ERROR_INTERNAL;
  std::string reason;
  std::uint64_t retry_after_ms = 0;
  bool operator==(const Refusal&) const = default;
};

// A HelloReply carrying `refusal` (daemon_min/max_protocol = 1, no details).
pb::HelloReply MakeRefusedReply(const Refusal& refusal);

namespace refusals {
// Framing and envelope (spec §1.6).
Refusal UnsupportedFramingVersion();
Refusal HelloTooLarge();
Refusal IncompleteHello();
Refusal MalformedFrame();
Refusal EnvelopeVersionNotV1();
Refusal KindNotRequest();
Refusal PayloadProtocolNotControl();
Refusal PayloadCompressed();
Refusal MalformedHelloPayload();
// Shape (B1-B6).
Refusal ProtocolRangeExcludesV1();
Refusal InvalidServiceName();
Refusal InvalidWantedVersion();
Refusal ClientVersionTooLong();
Refusal ClientLibTooLong();
Refusal PeerPidMismatch();
// Policy.
Refusal HelloRateLimited(std::uint64_t retry_after_ms);
Refusal ServiceDefinitionNotFound();
Refusal ServiceDefinitionUnloadable(const std::string& error);
Refusal BelowMinVersion();
Refusal NotInAllowList();
Refusal IsolationUnresolved(const std::string& error);
Refusal SpawnFailed(const std::string& error);
Refusal SpawnInProgress();
Refusal SpawnBudgetExhausted(std::uint64_t retry_after_ms);
Refusal LaunchedIdentityMismatch();
Refusal FdPressure();
Refusal ShuttingDown();
}  // namespace refusals

}  // namespace rp::broker
