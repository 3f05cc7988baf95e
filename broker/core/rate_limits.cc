// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/rate_limits.h"

#include <algorithm>

namespace rp::broker {
namespace {

std::uint64_t RemainingMs(SteadyTime started, std::chrono::milliseconds window, SteadyTime now) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(started + window - now);
  return static_cast<std::uint64_t>(std::max<std::int64_t>(left.count(), 1));
}

}  // namespace

std::optional<std::uint64_t> PeerRateLimiter::Admit(std::uint32_t pid, SteadyTime now) {
  if (pid == 0) return std::nullopt;
  EvictIdle(now);
  auto [it, inserted] = windows_.try_emplace(pid, Window{now, 0});
  Window& w = it->second;
  if (now - w.started >= window_) w = Window{now, 0};
  if (w.used >= limit_) return RemainingMs(w.started, window_, now);
  ++w.used;
  return std::nullopt;
}

void PeerRateLimiter::EvictIdle(SteadyTime now) {
  if (now - last_eviction_ < window_) return;
  last_eviction_ = now;
  std::erase_if(windows_, [&](const auto& entry) { return now - entry.second.started >= window_; });
}

SpawnBudget::Entry& SpawnBudget::Refresh(const std::string& key, SteadyTime now) {
  auto [it, inserted] = entries_.try_emplace(key, Entry{now, 0});
  if (now - it->second.started >= window_) it->second = Entry{now, 0};
  return it->second;
}

std::optional<std::uint64_t> SpawnBudget::TryBegin(const std::string& key, SteadyTime now) {
  Entry& e = Refresh(key, now);
  if (e.used >= max_attempts_) return RemainingMs(e.started, window_, now);
  ++e.used;
  return std::nullopt;
}

void SpawnBudget::Finish(const std::string& key, bool success, SteadyTime now) {
  if (success) entries_.erase(key);  // a healthy backend earns a fresh window
  else Refresh(key, now);
}

std::uint32_t SpawnBudget::Used(const std::string& key, SteadyTime now) {
  return Refresh(key, now).used;
}

std::optional<std::uint64_t> SpawnBudget::RetryAfterMs(const std::string& key, SteadyTime now) {
  Entry& e = Refresh(key, now);
  if (e.used < max_attempts_) return std::nullopt;
  return RemainingMs(e.started, window_, now);
}

std::uint32_t SpawnBudget::Remaining(const std::string& key, SteadyTime now) {
  Entry& e = Refresh(key, now);
  return e.used >= max_attempts_ ? 0 : max_attempts_ - e.used;
}

}  // namespace rp::broker
