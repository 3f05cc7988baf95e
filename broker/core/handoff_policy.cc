// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/handoff_policy.h"

#include <algorithm>

#include "rp/platform/system.h"

namespace rp::broker {

const char* HandoffSkipName(HandoffSkip reason) {
  switch (reason) {
    case HandoffSkip::kClientUnsupported: return "client_unsupported";
    case HandoffSkip::kServiceDisabled: return "service_disabled";
    case HandoffSkip::kFdPressure: return "fd_pressure";
    case HandoffSkip::kAdoptedBackend: return "adopted_backend";
    case HandoffSkip::kRecentFailures: return "recent_failures";
    case HandoffSkip::kControlClosed: return "control_channel_closed";
  }
  return "unknown";
}

const char* HandoffFailureName(HandoffFailure reason) {
  switch (reason) {
    case HandoffFailure::kBackendGone: return "backend_gone";
    case HandoffFailure::kTransferFailed: return "transfer_failed";
    case HandoffFailure::kRejected: return "rejected";
    case HandoffFailure::kAckTimeout: return "ack_timeout";
    case HandoffFailure::kMalformedAck: return "malformed_ack";
  }
  return "unknown";
}

std::optional<HandoffSkip> HandoffPolicy::ShouldAttempt(bool client_capable, bool service_enabled,
                                                        bool fd_pressure, bool launched_here,
                                                        const std::string& backend_key,
                                                        SteadyTime now) {
  if (!client_capable) return HandoffSkip::kClientUnsupported;
  if (!service_enabled) return HandoffSkip::kServiceDisabled;
  if (fd_pressure) return HandoffSkip::kFdPressure;
  if (!launched_here) return HandoffSkip::kAdoptedBackend;
  if (failures_.Remaining(backend_key, now) == 0) return HandoffSkip::kRecentFailures;
  return std::nullopt;
}

void HandoffPolicy::RecordFailure(const std::string& backend_key, SteadyTime now) {
  failures_.TryBegin(backend_key, now);
}

void HandoffPolicy::RecordSuccess(const std::string& backend_key, SteadyTime now) {
  failures_.Finish(backend_key, true, now);
}

bool TokensEqual(const HandoffToken& a, const HandoffToken& b) {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

void HandoffTokenStore::Prune(SteadyTime now) {
  // Correlation ids grow with time and every token lives ttl_, so the
  // oldest tokens are first: pruning stops at the first live one instead
  // of reading every token per Hello. Should ids ever come out of order,
  // a full pass before refusing for lack of room still frees every slot.
  while (!pending_.empty() && pending_.begin()->second.expires <= now) {
    pending_.erase(pending_.begin());
  }
  if (pending_.size() >= max_pending_) {
    std::erase_if(pending_, [now](const auto& entry) { return entry.second.expires <= now; });
  }
}

bool HandoffTokenStore::NextRandomToken(HandoffToken& token) {
  if (random_left_ < token.size()) {
    if (platform::RandomBytes(random_pool_)) return false;
    random_left_ = random_pool_.size();
  }
  random_left_ -= token.size();
  std::uint8_t* taken = random_pool_.data() + random_left_;
  std::copy(taken, taken + token.size(), token.begin());
  std::fill(taken, taken + token.size(), std::uint8_t{0});
  return true;
}

std::optional<HandoffToken> HandoffTokenStore::Issue(std::uint64_t correlation_id,
                                                     SteadyTime now) {
  Prune(now);
  if (pending_.size() >= max_pending_) return std::nullopt;
  HandoffToken token{};
  if (!NextRandomToken(token)) return std::nullopt;
  pending_[correlation_id] = Entry{token, now + ttl_};
  return token;
}

bool HandoffTokenStore::Consume(std::uint64_t correlation_id, const HandoffToken& presented,
                                SteadyTime now) {
  auto it = pending_.find(correlation_id);
  if (it == pending_.end()) return false;
  if (it->second.expires <= now) {
    pending_.erase(it);
    return false;
  }
  if (!TokensEqual(it->second.token, presented)) return false;  // nothing consumed
  pending_.erase(it);
  return true;
}

}  // namespace rp::broker
