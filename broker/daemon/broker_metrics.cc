// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "broker_metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "handoff_coordinator.h"

namespace rp::broker {
namespace {

constexpr char kPrefix[] = "running_process_broker_v1_";

// A label value with OpenMetrics escapes (backslash, quote, newline).
std::string Escaped(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest decimal that reads back as `value`.
std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

// Writes families one after another.
class Writer {
 public:
  void Family(const std::string& name, const char* type, const char* help) {
    out_ += "# TYPE " + std::string(kPrefix) + name + " " + type + "\n";
    out_ += "# HELP " + std::string(kPrefix) + name + " " + help + "\n";
  }
  // `labels`: pairs in contract order.
  void Sample(const std::string& name,
              const std::vector<std::pair<const char*, std::string>>& labels,
              const std::string& value) {
    out_ += kPrefix + name;
    if (!labels.empty()) {
      out_ += "{";
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ",";
        out_ += std::string(labels[i].first) + "=\"" + Escaped(labels[i].second) + "\"";
      }
      out_ += "}";
    }
    out_ += " " + value + "\n";
  }
  std::string Finish() { return std::move(out_) + "# EOF\n"; }

 private:
  std::string out_;
};

}  // namespace

void BrokerMetrics::CountHello(const std::string& service, const std::string& version,
                               const std::string& outcome) {
  const std::tuple<const std::string&, const std::string&, const std::string&> labels{
      service, version, outcome};
  if (auto it = hellos_.find(labels); it != hellos_.end()) {
    ++it->second;
  } else {
    hellos_.emplace(Labels3{service, version, outcome}, 1);
  }
}

void BrokerMetrics::ObserveHelloSeconds(const std::string& service, double seconds) {
  Histogram& h = hello_seconds_[service];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < kHelloBuckets.size(); ++i) {
    if (seconds <= kHelloBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void BrokerMetrics::CountSpawnAttempt(const std::string& service, const std::string& version,
                                      const std::string& outcome) {
  ++spawn_attempts_[{service, version, outcome}];
}

std::string BrokerMetrics::Render(const Gauges& gauges, const HandoffStats& handoff) const {
  Writer w;
  w.Family("hello", "counter", "Hellos answered, by service, wanted version and outcome.");
  for (const auto& [labels, count] : hellos_) {
    const auto& [service, version, outcome] = labels;
    w.Sample("hello_total", {{"service", service}, {"version", version}, {"outcome", outcome}},
             std::to_string(count));
  }
  w.Family("hello_duration_seconds", "histogram",
           "Time from accepting a connection to the HelloReply written.");
  for (const auto& [service, h] : hello_seconds_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kHelloBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      w.Sample("hello_duration_seconds_bucket", {{"service", service}, {"le", Number(kHelloBuckets[i])}},
               std::to_string(cumulative));
    }
    w.Sample("hello_duration_seconds_bucket", {{"service", service}, {"le", "+Inf"}},
             std::to_string(h.count));
    w.Sample("hello_duration_seconds_count", {{"service", service}}, std::to_string(h.count));
    w.Sample("hello_duration_seconds_sum", {{"service", service}}, Number(h.sum));
  }
  w.Family("active_backends", "gauge", "Backends running, by service.");
  for (const auto& [service, count] : gauges.active_backends) {
    w.Sample("active_backends", {{"service", service}}, std::to_string(count));
  }
  w.Family("spawn_attempts", "counter", "Backend launches, by outcome.");
  for (const auto& [labels, count] : spawn_attempts_) {
    const auto& [service, version, outcome] = labels;
    w.Sample("spawn_attempts_total",
             {{"service", service}, {"version", version}, {"outcome", outcome}},
             std::to_string(count));
  }
  w.Family("spawn_budget_remaining", "gauge", "Launches still allowed in the current window.");
  for (const auto& [labels, remaining] : gauges.spawn_budget_remaining) {
    w.Sample("spawn_budget_remaining", {{"service", labels.first}, {"version", labels.second}},
             std::to_string(remaining));
  }
  w.Family("connections_open", "gauge", "Client connections the broker holds now.");
  w.Sample("connections_open", {}, std::to_string(gauges.connections_open));
  w.Family("fd_usage_ratio", "gauge", "Open descriptors over the open-file limit.");
  w.Sample("fd_usage_ratio", {}, Number(gauges.fd_usage_ratio));
  w.Family("uptime_seconds", "gauge", "Seconds since the broker started.");
  w.Sample("uptime_seconds", {}, Number(gauges.uptime_seconds));

  // Ours from here on; not in the frozen v1 set.
  w.Family("hello_answered_at_accept", "counter",
           "Hellos answered as soon as accepted: all of the Hello had arrived and "
           "nothing had to wait (no launch).");
  w.Sample("hello_answered_at_accept_total", {}, std::to_string(hellos_answered_at_accept_));

  // Connection handoff.
  w.Family("handoff_attempts", "counter", "Client connections offered to their backend.");
  w.Sample("handoff_attempts_total", {}, std::to_string(handoff.attempts));
  w.Family("handoff_completions", "counter", "Handoffs the backend confirmed.");
  w.Sample("handoff_completions_total", {}, std::to_string(handoff.completions));
  w.Family("handoff_fallbacks", "counter",
           "Clients sent to backend_pipe instead: skipped (kind=skipped) or failed handoffs.");
  for (const auto& [reason, count] : handoff.skipped) {
    w.Sample("handoff_fallbacks_total", {{"kind", "skipped"}, {"reason", reason}},
             std::to_string(count));
  }
  for (const auto& [reason, count] : handoff.failures) {
    w.Sample("handoff_fallbacks_total", {{"kind", "failed"}, {"reason", reason}},
             std::to_string(count));
  }
  return w.Finish();
}

}  // namespace rp::broker
