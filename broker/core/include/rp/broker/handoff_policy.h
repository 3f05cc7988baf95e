// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "rp/broker/rate_limits.h"

// Connection handoff decisions (spec §5.2-§5.3, §5.8): pure state, driven
// by the caller's clock. Not thread-safe (the broker runs one event loop).
namespace rp::broker {

using HandoffToken = std::array<std::uint8_t, 16>;

// Why a Hello is answered with "reconnect to backend_pipe" only.
enum class HandoffSkip {
  kClientUnsupported,  // no CAP_HANDLE_PASSING in the Hello
  kServiceDisabled,    // label handoff.enabled=false
  kFdPressure,         // the broker is short of descriptors
  kAdoptedBackend,     // not launched by this broker: no control channel
  kRecentFailures,     // too many failed handoffs for this backend lately
  kControlClosed,      // the backend closed its end of the control channel
};
const char* HandoffSkipName(HandoffSkip reason);

// Why a handoff that was attempted fell back to reconnect.
enum class HandoffFailure {
  kBackendGone,       // backend dead or its control channel closed
  kTransferFailed,    // sending the connection failed
  kRejected,          // the backend answered accepted=false
  kAckTimeout,        // no answer within the ACK deadline
  kMalformedAck,      // an answer that does not match the offer
};
const char* HandoffFailureName(HandoffFailure reason);

// Whether to attempt a handoff for one Hello, and the failure budget per
// backend key (8 failures per 30 s by default; a success clears it).
class HandoffPolicy {
 public:
  HandoffPolicy(std::uint32_t max_failures = 8,
                std::chrono::milliseconds window = std::chrono::seconds(30))
      : failures_(max_failures, window) {}

  // The checks in the reference order; nullopt: attempt the handoff.
  std::optional<HandoffSkip> ShouldAttempt(bool client_capable, bool service_enabled,
                                           bool fd_pressure, bool launched_here,
                                           const std::string& backend_key, SteadyTime now);
  void RecordFailure(const std::string& backend_key, SteadyTime now);
  void RecordSuccess(const std::string& backend_key, SteadyTime now);

 private:
  SpawnBudget failures_;  // same fixed-window counting, reused for failures
};

// Single-use handoff tokens: 16 random bytes, 30 s TTL, at most 1024
// pending. Comparison is constant-time.
class HandoffTokenStore {
 public:
  HandoffTokenStore(std::size_t max_pending = 1024,
                    std::chrono::milliseconds ttl = std::chrono::seconds(30))
      : max_pending_(max_pending), ttl_(ttl) {}

  // A fresh token bound to `correlation_id`; nullopt when the store is full
  // or no randomness is available.
  std::optional<HandoffToken> Issue(std::uint64_t correlation_id, SteadyTime now);
  // True once for a pending, unexpired token presented for its correlation
  // id; it is consumed then.
  bool Consume(std::uint64_t correlation_id, const HandoffToken& presented, SteadyTime now);
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Entry {
    HandoffToken token;
    SteadyTime expires;
  };
  void Prune(SteadyTime now);
  bool NextRandomToken(HandoffToken& token);

  std::size_t max_pending_;
  // CSPRNG output fetched 64 tokens at a time (one system call instead of
  // one per Hello); each token's bytes are wiped from the pool when taken.
  std::array<std::uint8_t, 64 * sizeof(HandoffToken)> random_pool_{};
  std::size_t random_left_ = 0;
  std::chrono::milliseconds ttl_;
  std::map<std::uint64_t, Entry> pending_;
};

// Constant-time equality of two tokens.
bool TokensEqual(const HandoffToken& a, const HandoffToken& b);

}  // namespace rp::broker
