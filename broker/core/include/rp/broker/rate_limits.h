// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

// Admission control for the broker: pure state machines, driven by the
// caller's clock so tests control time. Not thread-safe (the broker runs
// one event loop).
namespace rp::broker {

using SteadyTime = std::chrono::steady_clock::time_point;

// Fixed-window Hello limit per kernel-verified peer pid (spec §3.11): at
// most `limit` Hellos per `window`; pid 0 (unknown) is never limited. One
// instance lives as long as the broker, so the limit really triggers; idle
// entries are evicted so the table stays bounded.
class PeerRateLimiter {
 public:
  PeerRateLimiter(std::uint32_t limit, std::chrono::milliseconds window)
      : limit_(limit == 0 ? 1 : limit), window_(window.count() == 0 ? std::chrono::milliseconds(1) : window) {}

  // nullopt: admitted. Otherwise the milliseconds until the window resets
  // (at least 1).
  std::optional<std::uint64_t> Admit(std::uint32_t pid, SteadyTime now);
  std::size_t tracked_peers() const { return windows_.size(); }

 private:
  struct Window {
    SteadyTime started;
    std::uint32_t used = 0;
  };
  void EvictIdle(SteadyTime now);

  std::uint32_t limit_;
  std::chrono::milliseconds window_;
  std::map<std::uint32_t, Window> windows_;
  SteadyTime last_eviction_{};
};

// Launch attempts per backend key (spec §3.6): at most `max_attempts` per
// `window`; a successful launch resets the window. Concurrent Hellos for a
// key that is starting are coalesced by the caller (they wait for that one
// launch), so this only limits relaunch storms.
class SpawnBudget {
 public:
  SpawnBudget(std::uint32_t max_attempts = 3,
              std::chrono::milliseconds window = std::chrono::seconds(30))
      : max_attempts_(max_attempts == 0 ? 1 : max_attempts), window_(window) {}

  // nullopt: an attempt may start (and is counted). Otherwise the
  // milliseconds until the window resets (at least 1).
  std::optional<std::uint64_t> TryBegin(const std::string& key, SteadyTime now);
  void Finish(const std::string& key, bool success, SteadyTime now);
  // Attempts still allowed in the current window.
  std::uint32_t Remaining(const std::string& key, SteadyTime now);
  // Attempts used in the current window, and when it resets (ms; nullopt
  // while attempts remain).
  std::uint32_t Used(const std::string& key, SteadyTime now);
  std::optional<std::uint64_t> RetryAfterMs(const std::string& key, SteadyTime now);
  std::uint32_t max_attempts() const { return max_attempts_; }
  std::chrono::milliseconds window() const { return window_; }

 private:
  struct Entry {
    SteadyTime started;
    std::uint32_t used = 0;
  };
  Entry& Refresh(const std::string& key, SteadyTime now);

  std::uint32_t max_attempts_;
  std::chrono::milliseconds window_;
  std::map<std::string, Entry> entries_;
};

}  // namespace rp::broker
