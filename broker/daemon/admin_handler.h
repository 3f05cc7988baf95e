// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend_supervisor.h"
#include "broker_v1_admin.pb.h"
#include "broker_v1_envelope.pb.h"

namespace rp::broker {

// The live facts admin verbs report.
struct BrokerSnapshot {
  std::string broker_instance;
  std::uint32_t broker_pid = 0;
  double uptime_seconds = 0;
  bool accepting_hello = true;
  bool fd_pressure = false;
  std::uint64_t connections_open = 0;
  std::vector<BackendInfo> backends;
  std::string state_dir;  // whose file system's inodes status reports
  std::function<std::string()> metrics;  // the OpenMetrics text, made when asked
  std::string service_def_dir;
  std::string service_def_dir_source;  // "flag:--service-def-dir", "env:…" or "platform-default"
  std::uint32_t spawn_attempts_per_window = 3;
  std::uint64_t spawn_window_ms = 30'000;
  std::vector<BackendSupervisor::SpawnBudgetRow> spawn_budgets;
  // Most recent lifecycle events, oldest first, one JSON object each.
  std::vector<std::string> recent_events_json;
  std::string manifest_dir;
};

// Answers one admin frame (payload protocol 0xAD01, spec §6). Returns
// nullopt for a frame that breaks the admin envelope or does not decode:
// the caller closes the connection without a reply (spec §6.5). The
// shutdown verb replies first; `request_shutdown` then stops the broker,
// with the request's drain_deadline_ms (0: the configured one).
std::optional<pb::Frame> HandleAdminFrame(
    const pb::Frame& frame, const BrokerSnapshot& snapshot,
    const std::function<void(std::chrono::milliseconds)>& request_shutdown);

}  // namespace rp::broker
