// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace rp::broker {

struct HandoffStats;

// BrokerMetrics counts what the metrics verb reports (spec §6.6): Hellos by
// service, version and outcome ("negotiated" or the refusal's error code
// name), the Hello duration histogram per service, and spawn attempts by
// outcome. Render() writes them, with the gauges and handoff counts given
// at that moment, as OpenMetrics text under the frozen v1 names: counter
// families without "_total" in their TYPE line and samples with it,
// histograms with cumulative buckets, "+Inf", _count and _sum, "# EOF" at
// the end. Single-threaded.
class BrokerMetrics {
 public:
  // Upper bounds of the Hello duration buckets, in seconds.
  static constexpr std::array<double, 14> kHelloBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0};

  void CountHello(const std::string& service, const std::string& version,
                  const std::string& outcome);
  void ObserveHelloSeconds(const std::string& service, double seconds);
  // A Hello answered (negotiated or refused) on the accept loop's turn
  // (BrokerServer::ServeNow).
  void CountHelloAnsweredAtAccept() { ++hellos_answered_at_accept_; }
  // outcome: "spawned", "failed" or "budget_exhausted".
  void CountSpawnAttempt(const std::string& service, const std::string& version,
                         const std::string& outcome);

  // Values read when the metrics are asked for.
  struct Gauges {
    std::map<std::string, std::uint64_t> active_backends;  // by service
    // (service, version) -> spawn attempts left in the current window
    std::map<std::pair<std::string, std::string>, std::uint64_t> spawn_budget_remaining;
    std::uint64_t connections_open = 0;
    double fd_usage_ratio = 0;
    double uptime_seconds = 0;
  };
  std::string Render(const Gauges& gauges, const HandoffStats& handoff) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kHelloBuckets.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  using Labels3 = std::tuple<std::string, std::string, std::string>;
  // Transparent: a Hello for a known label set is counted without copies.
  std::map<Labels3, std::uint64_t, std::less<>> hellos_;
  std::map<std::string, Histogram> hello_seconds_;
  std::map<Labels3, std::uint64_t> spawn_attempts_;
  std::uint64_t hellos_answered_at_accept_ = 0;
};

}  // namespace rp::broker
