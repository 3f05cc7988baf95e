// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "broker_config.h"
#include "manifest_registry.h"
#include "broker_v1_envelope.pb.h"
#include "broker_v1_service_def.pb.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/stamp_cache.h"
#include "rp/broker/rate_limits.h"
#include "rp/broker/refusals.h"

namespace rp::broker {

class BrokerMetrics;
class EventLog;

// A backend the broker launched and that reported ready.
struct BackendInfo {
  std::string key;  // instance|service|version|exe hash
  std::string service;
  std::string version;
  std::string instance;
  std::string backend_pipe;
  std::string exe_hash;  // lowercase hex BLAKE3 of binary_path at launch
  std::uint32_t pid = 0;
  std::chrono::system_clock::time_point started;
  std::string log_path;
  // Re-adopted from a manifest a previous broker wrote: no control channel,
  // so clients reach it by reconnecting (no handoff).
  bool adopted = false;
};

struct LaunchRequest {
  std::shared_ptr<const pb::ServiceDefinition> definition;  // never null
  std::string version;
  std::string instance;
  std::string traceparent;
  std::string tracestate;
  // The caller refreshed stamp_cache() for this request (the definition was
  // just loaded through it), so the executable's stamp needs no refresh.
  bool stamps_refreshed = false;
};

// BackendSupervisor owns every backend this broker launched: the registry
// keyed by (instance, service, version, executable hash), the launches in
// flight, the spawn budget, and each child's process handle and private
// control channel (created at launch; the child inherits one end).
//
// Acquire() returns a live backend for a request, launching one if needed.
// Concurrent Acquire()s for a key that is starting wait for that launch
// (coalescing) instead of being refused. A launch succeeds only when the
// child reports ready over its control channel with its own pid and the
// endpoint it was given; it fails when the child exits first or misses the
// ready deadline. A backend's exit is noticed at once (its process handle
// is awaited), logged, and removes it from the registry, so the next Hello
// relaunches it. Single-threaded: everything runs on one executor.
class BackendSupervisor {
 public:
  using Outcome = std::variant<std::shared_ptr<const BackendInfo>, Refusal>;

  BackendSupervisor(boost::asio::any_io_executor executor, const BrokerConfig& config);
  ~BackendSupervisor();

  boost::asio::awaitable<Outcome> Acquire(LaunchRequest request);
  // What Acquire would return at once: the live backend for `request`, or
  // null when Acquire would have to launch one or wait for a launch.
  std::shared_ptr<const BackendInfo> FindRunning(const LaunchRequest& request);
  // The file stamps behind executable hashes; the service-definition store
  // shares it, so one refresh per Hello serves both.
  const std::shared_ptr<platform::StampCache>& stamp_cache() const { return stamps_; }

  // Re-adopts the backends a previous broker left running (spec §7.5-7.10):
  // for each manifest of this host and boot, the process must be alive and
  // run the executable the manifest names (BLAKE3), and its endpoint must
  // answer the identity probe as the manifest says; then Hellos for it are
  // routed to it without a launch. Manifests that fail are removed.
  boost::asio::awaitable<void> AdoptFromManifests();

  // Asks every backend to stop over its control channel, waits up to
  // `deadline`, then kills what is left.
  boost::asio::awaitable<void> StopAll(std::chrono::milliseconds deadline);

  std::vector<BackendInfo> Snapshot() const;

  // Whether the live backend `key` can still be sent offers: false once
  // it exited or closed its end of the control channel.
  bool ControlChannelOpen(const std::string& key) const;

  // Runs `send` on the control channel of the live backend `key`. Fails
  // with not_connected when the backend is gone.
  using ControlSend =
      std::function<boost::asio::awaitable<boost::system::error_code>(platform::HandleChannel&)>;
  boost::asio::awaitable<boost::system::error_code> SendToBackend(const std::string& key,
                                                                  ControlSend send);

  // Receives every frame a ready backend sends on its control channel
  // (handoff answers), with the backend's key.
  using ControlFrameSink = std::function<void(const std::string& key, const pb::Frame& frame)>;
  void set_control_frame_sink(ControlFrameSink sink) { sink_ = std::move(sink); }
  std::uint64_t spawn_attempts() const { return spawn_attempts_; }
  std::uint64_t spawns() const { return spawns_; }
  // Where launches are counted by outcome, and where spawns and deaths are
  // recorded as lifecycle events (either may stay unset).
  void set_metrics(BrokerMetrics* metrics) { metrics_ = metrics; }
  void set_events(EventLog* events) { events_ = events; }
  // Launches still allowed now, by (service, version) ever launched.
  std::map<std::pair<std::string, std::string>, std::uint64_t> SpawnBudgetRemaining();
  // One row per backend key ever launched (admin dump).
  struct SpawnBudgetRow {
    std::string service;
    std::string version;
    std::uint32_t attempts_used = 0;
    std::uint32_t remaining = 0;
    bool in_flight = false;
    std::optional<std::uint64_t> retry_after_ms;
  };
  std::vector<SpawnBudgetRow> SpawnBudgetRows();
  std::uint32_t spawn_attempts_per_window() const { return budget_.max_attempts(); }
  std::chrono::milliseconds spawn_window() const { return budget_.window(); }

 private:
  std::shared_ptr<platform::StampCache> stamps_ = std::make_shared<platform::StampCache>();
  struct Running;
  struct Pending;

  boost::asio::awaitable<Outcome> Launch(const LaunchRequest& request, const std::string& key,
                                         const std::string& exe_hash);
  boost::asio::awaitable<void> WatchExit(std::shared_ptr<Running> backend);
  // An adopted backend is not our child: its exit is noticed by polling.
  boost::asio::awaitable<void> WatchAdopted(std::shared_ptr<Running> backend);
  void OnExited(const std::shared_ptr<Running>& backend);
  // Takes a backend that asked to go (idle) out of routing and stops it.
  void Retire(const std::shared_ptr<Running>& backend);
  boost::asio::awaitable<boost::system::error_code> SendToRunning(std::shared_ptr<Running> backend,
                                                                  ControlSend send);
  void PublishManifest(const Running& backend);
  boost::asio::awaitable<void> ReadControl(std::shared_ptr<Running> backend);
  std::string AllocateBackendAddress(std::string* error);
  std::string PrepareLogFile(const std::string& service, const std::string& version);

  boost::asio::any_io_executor executor_;
  const BrokerConfig& config_;
  SpawnBudget budget_;
  std::map<std::string, std::shared_ptr<Running>> running_;
  std::string lookup_key_;  // FindRunning's key, built in place for every Hello
  std::map<std::string, std::shared_ptr<Pending>> pending_;
  std::vector<std::shared_ptr<Running>> all_;  // every child not yet reaped
  std::uint64_t spawn_attempts_ = 0;
  std::uint64_t spawns_ = 0;
  ControlFrameSink sink_;
  ManifestRegistry manifests_;
  BrokerMetrics* metrics_ = nullptr;
  EventLog* events_ = nullptr;
  std::map<std::string, std::pair<std::string, std::string>> budget_labels_;  // key -> (service, version)
};

// Lowercase hex BLAKE3 of a file's contents, memoised on the file's stamp
// from `stamps` (refreshed by the caller for this request); "" when it
// cannot be read.
const std::string& ExecutableHash(const std::string& path, platform::StampCache& stamps);

}  // namespace rp::broker
