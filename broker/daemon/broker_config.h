// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rp::broker {

// Everything a running broker is configured with. Built from the command
// line, then environment variables, then platform defaults.
struct BrokerConfig {
  std::string endpoint;         // where Hellos and admin requests arrive
  std::string service_def_dir;  // <service>.servicedef files
  // Where service_def_dir came from (admin config): "flag:--service-def-dir",
  // "env:RUNNING_PROCESS_SERVICE_DEF_DIR" or "platform-default".
  std::string service_def_dir_source = "platform-default";
  std::string state_dir;        // logs/ (backend output) and the broker's own files
  std::string manifest_dir;     // the central cache-manifest registry (spec §7.5)
  std::string daemon_version;   // "0.1.0"
  // Per-connection bound on reading the request and writing the reply
  // (RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS, default 30 s).
  std::chrono::milliseconds hello_timeout{30'000};
  // How long a launched backend has to report ready.
  std::chrono::milliseconds backend_ready_timeout{10'000};
  // How long backends get to stop on shutdown before they are killed.
  std::chrono::milliseconds drain_deadline{5'000};
  // How long a backend has to answer a handoff offer (spec §5.3: 5 s).
  std::chrono::milliseconds handoff_ack_timeout{5'000};
  std::uint32_t hello_rate_limit = 256;  // per peer pid per second
  std::uint32_t spawn_attempts = 3;      // per backend key per 30 s
  std::uint64_t max_open_files = 0;      // 0: leave the OS limit alone
  std::uint64_t backend_log_max_bytes = 1 << 20;  // rotated to .1 above this
  // Exit (as on shutdown) after this long with no backend and no client;
  // 0: never (the default).
  std::chrono::seconds idle_exit{0};
};

// Platform default for the state directory: $XDG_STATE_HOME/running-process/
// broker (Linux, else ~/.local/state/...), ~/Library/Application Support/
// running-process/broker (macOS), %LOCALAPPDATA%\running-process\broker.
std::string DefaultStateDirectory();

// A positive integer number of milliseconds from `variable`, else `fallback`.
std::chrono::milliseconds MillisecondsFromEnv(const char* variable,
                                              std::chrono::milliseconds fallback);

}  // namespace rp::broker
