// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "backend_supervisor.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_v1_manifest.pb.h"
#include "broker_metrics.h"
#include "event_log.h"
#include "identity_probe.h"
#include "log.h"
#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/stamp_cache.h"
#include "rp/platform/system.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"

namespace rp::broker {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// How often an adopted backend (not our child) is checked for life.
constexpr auto kAdoptedPollInterval = std::chrono::milliseconds(250);

struct BackendSupervisor::Running {
  explicit Running(asio::any_io_executor ex) : exit_signal(ex, Clock::time_point::max()) {}
  std::shared_ptr<BackendInfo> info = std::make_shared<BackendInfo>();
  platform::ChildProcess child;
  platform::HandleChannel control;
  asio::steady_timer exit_signal;  // cancelled when the child has exited
  bool ready = false;
  bool stopping = false;
  bool idle = false;  // stopping because it asked to (idle timeout)
  bool exited = false;
  int exit_code = 0;
  pb::DaemonProcess identity;  // as reported when ready (or read from its manifest)
};

struct BackendSupervisor::Pending {
  explicit Pending(asio::any_io_executor ex) : done(ex, Clock::time_point::max()) {}
  asio::steady_timer done;  // cancelled when the launch has an outcome
  std::optional<Outcome> outcome;
};

namespace {

// Waits until `timer` is cancelled or `limit` passes.
asio::awaitable<void> WaitSignal(asio::steady_timer& timer, std::chrono::milliseconds limit) {
  asio::steady_timer bound(timer.get_executor(), limit);
  bound.async_wait([&timer](error_code ec) {
    if (!ec) timer.cancel();
  });
  co_await timer.async_wait(kTuple);
  bound.cancel();
}

}  // namespace

const std::string& ExecutableHash(const std::string& path, platform::StampCache& stamps) {
  struct Memo {
    platform::FileStamp stamp;
    std::string hash;
  };
  static std::map<std::string, Memo> memo;  // the broker is single-threaded
  static const std::string kNone;
  auto stamp = stamps.Stamp(path, /*follow_symlinks=*/true);
  if (!stamp) return kNone;
  if (auto it = memo.find(path); it != memo.end() && it->second.stamp == *stamp) {
    return it->second.hash;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return kNone;
  std::string contents = bytes.str();
  auto digest = transport::Blake3(
      std::span(reinterpret_cast<const std::uint8_t*>(contents.data()), contents.size()));
  Memo& entry = memo[path];
  entry = Memo{*stamp, transport::ToLowerHex(digest)};
  return entry.hash;
}

BackendSupervisor::BackendSupervisor(asio::any_io_executor executor, const BrokerConfig& config)
    : executor_(std::move(executor)),
      config_(config),
      budget_(config.spawn_attempts),
      manifests_(config.manifest_dir) {}

BackendSupervisor::~BackendSupervisor() = default;

namespace {

// The registry key: one backend per instance, service, version and build.
void BuildRegistryKey(const LaunchRequest& request, const std::string& exe_hash,
                      std::string& key) {
  key.clear();
  key.append(request.instance).append("|").append(request.definition->service_name());
  key.append("|").append(request.version).append("|").append(exe_hash);
}

std::string RegistryKey(const LaunchRequest& request, const std::string& exe_hash) {
  std::string key;
  BuildRegistryKey(request, exe_hash, key);
  return key;
}

}  // namespace

std::shared_ptr<const BackendInfo> BackendSupervisor::FindRunning(const LaunchRequest& request) {
  if (!request.stamps_refreshed) stamps_->Refresh();
  // Every Hello asks: the key is built in a buffer kept for it.
  BuildRegistryKey(request, ExecutableHash(request.definition->binary_path(), *stamps_),
                   lookup_key_);
  auto it = running_.find(lookup_key_);
  if (it == running_.end() || it->second->exited) return nullptr;
  return it->second->info;
}

asio::awaitable<BackendSupervisor::Outcome> BackendSupervisor::Acquire(LaunchRequest request) {
  if (!request.stamps_refreshed) stamps_->Refresh();
  const std::string exe_hash = ExecutableHash(request.definition->binary_path(), *stamps_);
  const std::string key = RegistryKey(request, exe_hash);
  if (auto it = running_.find(key); it != running_.end() && !it->second->exited) {
    co_return std::shared_ptr<const BackendInfo>(it->second->info);
  }
  if (auto it = pending_.find(key); it != pending_.end()) {
    auto pending = it->second;  // coalesce: wait for the launch in flight
    while (!pending->outcome) co_await pending->done.async_wait(kTuple);
    co_return *pending->outcome;
  }
  const std::string& service = request.definition->service_name();
  budget_labels_.try_emplace(key, service, request.version);
  if (auto retry = budget_.TryBegin(key, Clock::now())) {
    if (metrics_) metrics_->CountSpawnAttempt(service, request.version, "budget_exhausted");
    co_return refusals::SpawnBudgetExhausted(*retry);
  }
  auto pending = std::make_shared<Pending>(executor_);
  pending_[key] = pending;
  Outcome outcome = co_await Launch(request, key, exe_hash);
  const bool spawned = std::holds_alternative<std::shared_ptr<const BackendInfo>>(outcome);
  budget_.Finish(key, spawned, Clock::now());
  if (metrics_) metrics_->CountSpawnAttempt(service, request.version, spawned ? "spawned" : "failed");
  pending->outcome = outcome;
  pending->done.cancel();
  pending_.erase(key);
  co_return outcome;
}

std::map<std::pair<std::string, std::string>, std::uint64_t>
BackendSupervisor::SpawnBudgetRemaining() {
  std::map<std::pair<std::string, std::string>, std::uint64_t> remaining;
  const auto now = Clock::now();
  for (const auto& [key, labels] : budget_labels_) {
    remaining[labels] = budget_.Remaining(key, now);
  }
  return remaining;
}

std::vector<BackendSupervisor::SpawnBudgetRow> BackendSupervisor::SpawnBudgetRows() {
  std::vector<SpawnBudgetRow> rows;
  const auto now = Clock::now();
  for (const auto& [key, labels] : budget_labels_) {
    rows.push_back(SpawnBudgetRow{labels.first, labels.second, budget_.Used(key, now),
                                  budget_.Remaining(key, now), pending_.count(key) > 0,
                                  budget_.RetryAfterMs(key, now)});
  }
  return rows;
}

asio::awaitable<BackendSupervisor::Outcome> BackendSupervisor::Launch(const LaunchRequest& request,
                                                                     const std::string& key,
                                                                     const std::string& exe_hash) {
  ++spawn_attempts_;
  const std::string& service = request.definition->service_name();
  Log().info("spawn attempt: service={} version={} binary={}", service, request.version,
             request.definition->binary_path());
  if (events_) {
    events_->Emit({pb::SPAWN_ATTEMPT, Severity::kInfo, service, "launching",
                   {{"version", request.version}, {"binary", request.definition->binary_path()}}});
  }
  std::string error;
  const std::string address = AllocateBackendAddress(&error);
  if (address.empty()) co_return refusals::SpawnFailed(error);
  auto ends = platform::HandleChannel::CreatePair();
  if (!ends) co_return refusals::SpawnFailed("control channel: " + ends.error().message());

  platform::LaunchOptions options;
  options.executable = request.definition->binary_path();
  options.env = {{kEnvServiceName, service},
                 {kEnvServiceVersion, request.version},
                 {kEnvBackendPipe, address},
                 {kEnvBackendNamespace, request.instance},
                 {kEnvInstance, request.instance},
                 {kEnvIsDaemon, "1"},
                 {kEnvControlHandle, ends->second.ToDecimalString()}};
  if (auto idle = request.definition->labels().find(kIdleTimeoutLabel);
      idle != request.definition->labels().end()) {
    options.env.emplace_back(kEnvIdleTimeoutSecs, idle->second);
  }
  if (!request.traceparent.empty()) options.env.emplace_back(kEnvTraceparent, request.traceparent);
  if (!request.tracestate.empty()) options.env.emplace_back(kEnvTracestate, request.tracestate);
  options.inherit = {ends->second.get()};
  options.output_path = PrepareLogFile(service, request.version);
  auto child = platform::ChildProcess::Launch(executor_, options);
  ends->second.reset();
  if (!child) {
    Log().warn("spawn failed: service={} error={}", service, child.error().message());
    co_return refusals::SpawnFailed("cannot start " + options.executable + ": " +
                                    child.error().message());
  }
  auto process = child->DuplicateProcessHandle();
  auto channel = platform::HandleChannel::Open(
      executor_, std::move(ends->first), process ? std::move(*process) : platform::PlatformHandle());
  auto running = std::make_shared<Running>(executor_);
  running->child = std::move(*child);
  if (channel) running->control = std::move(*channel);
  BackendInfo& info = *running->info;
  info = BackendInfo{key, service, request.version, request.instance, address, exe_hash,
                     running->child.pid(), std::chrono::system_clock::now(), options.output_path};
  all_.push_back(running);
  asio::co_spawn(executor_, WatchExit(running), asio::detached);

  // Ready, or the child's exit, or the deadline: whichever comes first.
  bool timed_out = false;
  asio::steady_timer deadline(executor_, config_.backend_ready_timeout);
  deadline.async_wait([&timed_out, running](error_code ec) {
    if (ec) return;
    timed_out = true;
    running->control.Cancel();
  });
  auto message = co_await running->control.Receive(transport::kMaxHelloBytes);
  deadline.cancel();

  std::string failure;
  if (!message) {
    if (!timed_out && !running->exited) co_await WaitSignal(running->exit_signal, std::chrono::milliseconds(500));
    if (running->exited) {
      failure = "backend exited with code " + std::to_string(running->exit_code) +
                " before it was ready (see " + options.output_path + ")";
    } else if (timed_out) {
      failure = "backend was not ready within " +
                std::to_string(config_.backend_ready_timeout.count()) + " ms";
    } else {
      failure = "control channel failed before ready: " + message.error().message();
    }
  } else {
    auto decoded = transport::TryDecodeFrame(message->bytes);
    pb::DaemonProcess identity;
    if (!decoded || !*decoded ||
        transport::ValidateEnvelope((*decoded)->frame, pb::FRAME_KIND_EVENT,
                                    kBackendControlPayloadProtocol) ||
        !identity.ParseFromString((*decoded)->frame.payload())) {
      failure = "backend sent a malformed ready message";
    } else if (identity.pid() != running->child.pid() ||
               identity.ipc_endpoint().path() != address ||
               identity.ipc_endpoint().namespace_id() != request.instance) {
      Log().warn("launched backend identity mismatch: service={} pid={} reported pid={} endpoint={}",
                 service, running->child.pid(), identity.pid(), identity.ipc_endpoint().path());
      running->child.Terminate();
      co_return refusals::LaunchedIdentityMismatch();
    } else {
      running->identity = std::move(identity);
    }
  }
  if (!failure.empty()) {
    Log().warn("spawn failed: service={} version={} error={}", service, request.version, failure);
    if (events_) {
      events_->Emit({pb::DIED_CRASH, Severity::kError, service, "spawn failed: " + failure,
                     {{"version", request.version}}});
    }
    if (!running->exited) running->child.Terminate();
    co_return refusals::SpawnFailed(failure);
  }
  running->ready = true;
  running_[key] = running;
  PublishManifest(*running);
  asio::co_spawn(executor_, ReadControl(running), asio::detached);
  ++spawns_;
  Log().info("spawned backend: service={} version={} pid={} endpoint={}", service,
             request.version, info.pid, address);
  if (events_) {
    events_->Emit({pb::SPAWN, Severity::kInfo, service, "ready",
                   {{"version", request.version},
                    {"backend_pid", std::to_string(info.pid)},
                    {"endpoint", address}}});
  }
  co_return std::shared_ptr<const BackendInfo>(running->info);
}

void BackendSupervisor::PublishManifest(const Running& backend) {
  const BackendInfo& info = *backend.info;
  pb::CacheManifest manifest;
  manifest.set_service_name(info.service);
  manifest.set_service_version(info.version);
  manifest.set_broker_envelope_version("v1");
  const auto now_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  manifest.set_created_at_unix_ms(now_ms);
  manifest.set_last_active_unix_ms(now_ms);
  *manifest.mutable_host() = CurrentHostIdentity();
  *manifest.mutable_current_daemon() = backend.identity;
  if (auto ec = manifests_.Publish(std::move(manifest))) {
    Log().warn("manifest for service={} version={} not written to {}: {}", info.service,
               info.version, manifests_.directory(), ec.message());
    return;
  }
  if (events_) {
    events_->Emit({pb::MANIFEST_REWRITTEN, Severity::kInfo, info.service, "published",
                   {{"version", info.version},
                    {"path", manifests_.PathFor(info.service, info.version)}}});
  }
}

asio::awaitable<void> BackendSupervisor::AdoptFromManifests() {
  for (const auto& entry : manifests_.Scan()) {
    if (!entry.manifest) {
      Log().warn("manifest {} ignored: {}", entry.path, entry.problem);
      std::error_code ignored;
      if (!entry.foreign && entry.path != manifests_.directory()) fs::remove(entry.path, ignored);
      continue;
    }
    const pb::CacheManifest& manifest = *entry.manifest;
    const pb::DaemonProcess& daemon = manifest.current_daemon();
    std::string problem;
    if (!manifest.has_current_daemon() || daemon.pid() == 0) {
      problem = "no daemon recorded";
    } else if (!platform::ProcessExists(daemon.pid())) {
      problem = "the process is gone";
    } else if (daemon.exe_hash().size() != 32) {
      problem = "no executable hash";
    } else {
      auto exe = platform::ExecutablePathOf(daemon.pid());
      const std::string want = transport::ToLowerHex(std::span(
          reinterpret_cast<const std::uint8_t*>(daemon.exe_hash().data()), daemon.exe_hash().size()));
      stamps_->Refresh();
      if (!exe || ExecutableHash(*exe, *stamps_) != want) {
        problem = "the process runs another executable";
      } else {
        problem = co_await ProbeBackendIdentity(executor_, daemon.ipc_endpoint().path(), daemon,
                                                std::chrono::milliseconds(500));
      }
    }
    if (!problem.empty()) {
      Log().info("not adopting service={} version={} pid={}: {}; manifest removed",
                 manifest.service_name(), manifest.service_version(), daemon.pid(), problem);
      manifests_.Remove(manifest.service_name(), manifest.service_version());
      continue;
    }
    auto running = std::make_shared<Running>(executor_);
    running->identity = daemon;
    running->ready = true;
    BackendInfo& info = *running->info;
    const std::string exe_hash = transport::ToLowerHex(std::span(
        reinterpret_cast<const std::uint8_t*>(daemon.exe_hash().data()), daemon.exe_hash().size()));
    const std::string instance = daemon.ipc_endpoint().namespace_id();
    info = BackendInfo{instance + "|" + manifest.service_name() + "|" +
                           manifest.service_version() + "|" + exe_hash,
                       manifest.service_name(),
                       manifest.service_version(),
                       instance,
                       daemon.ipc_endpoint().path(),
                       exe_hash,
                       daemon.pid(),
                       std::chrono::system_clock::time_point(
                           std::chrono::milliseconds(daemon.started_at_unix_ms())),
                       "",
                       /*adopted=*/true};
    running_[info.key] = running;
    all_.push_back(running);
    asio::co_spawn(executor_, WatchAdopted(running), asio::detached);
    Log().info("adopted backend: service={} version={} pid={} endpoint={}", info.service,
               info.version, info.pid, info.backend_pipe);
    if (events_) {
      events_->Emit({pb::SPAWN, Severity::kInfo, info.service, "adopted from its manifest",
                     {{"version", info.version}, {"backend_pid", std::to_string(info.pid)}}});
    }
  }
}

asio::awaitable<void> BackendSupervisor::WatchAdopted(std::shared_ptr<Running> backend) {
  asio::steady_timer poll(executor_);
  while (!backend->exited && platform::ProcessExists(backend->info->pid)) {
    poll.expires_after(kAdoptedPollInterval);
    co_await poll.async_wait(kTuple);
  }
  if (backend->exited) co_return;
  backend->exit_code = -1;  // not ours to reap: the code is unknown
  OnExited(backend);
}

asio::awaitable<void> BackendSupervisor::WatchExit(std::shared_ptr<Running> backend) {
  auto code = co_await backend->child.Wait();
  backend->exit_code = code ? *code : -1;
  OnExited(backend);
}

void BackendSupervisor::OnExited(const std::shared_ptr<Running>& backend) {
  backend->exited = true;
  backend->exit_signal.cancel();
  backend->control.Close();
  const BackendInfo& info = *backend->info;
  if (backend->ready) {
    if (events_) {
      events_->Emit({backend->idle       ? pb::DIED_IDLE
                     : backend->stopping ? pb::DIED_SHUTDOWN
                                         : pb::DIED_CRASH,
                     backend->stopping ? Severity::kInfo : Severity::kError, info.service,
                     "exited with code " + std::to_string(backend->exit_code),
                     {{"version", info.version}, {"backend_pid", std::to_string(info.pid)}}});
    }
    if (backend->stopping) {
      Log().info("backend stopped: service={} pid={} code={}{}", info.service, info.pid,
                 backend->exit_code, backend->idle ? " (idle)" : "");
    } else {
      Log().warn("backend died: service={} version={} pid={} code={}; it is relaunched on the "
                 "next Hello",
                 info.service, info.version, info.pid, backend->exit_code);
    }
    if (platform::CurrentOs() != platform::OsFlavor::kWindows) {
      std::error_code ignored;
      fs::remove(info.backend_pipe, ignored);  // a dead backend leaves its socket file
    }
    manifests_.Remove(info.service, info.version);
  }
  if (auto it = running_.find(info.key); it != running_.end() && it->second == backend) {
    running_.erase(it);
  }
  std::erase(all_, backend);
}

asio::awaitable<void> BackendSupervisor::ReadControl(std::shared_ptr<Running> backend) {
  while (!backend->exited) {
    auto message = co_await backend->control.Receive(transport::kMaxHelloBytes);
    if (!message) {
      if (message.error() == platform::Error::kHandleCountMismatch ||
          message.error() == platform::Error::kControlDataTruncated) {
        continue;  // a rejected message; the channel is still in sync
      }
      // Closed. A backend that exits is the exit watcher's business; one
      // that lives on without its channel keeps serving backend_pipe, but
      // gets no more offers (and the descriptor goes now).
      if (!backend->exited && !backend->stopping) {
        Log().info("backend closed its control channel: service={} pid={}; its clients "
                   "reconnect to backend_pipe from now on",
                   backend->info->service, backend->info->pid);
      }
      backend->control.Close();
      break;
    }
    // One message may carry several frames back to back (a backend sends
    // its handoff answers in batches).
    std::span<const std::uint8_t> rest(message->bytes);
    while (!rest.empty() && !backend->exited) {
      auto decoded = transport::TryDecodeFrame(rest);
      if (!decoded || !*decoded) break;
      rest = rest.subspan((*decoded)->consumed);
      const pb::Frame& frame = (*decoded)->frame;
      if (!transport::ValidateEnvelope(frame, pb::FRAME_KIND_EVENT,
                                       kBackendControlPayloadProtocol) &&
          frame.request_id() == kIdleRequestId) {
        Retire(backend);
        continue;
      }
      if (sink_) sink_(backend->info->key, frame);
    }
  }
}

void BackendSupervisor::Retire(const std::shared_ptr<Running>& backend) {
  if (backend->stopping || backend->exited) return;
  backend->stopping = true;
  backend->idle = true;
  // No new Hello goes to it; the next one launches a fresh backend.
  if (auto it = running_.find(backend->info->key); it != running_.end() && it->second == backend) {
    running_.erase(it);
  }
  Log().info("backend idle, stopping it: service={} pid={}", backend->info->service,
             backend->info->pid);
  asio::co_spawn(executor_, [this, backend]() -> asio::awaitable<void> {
    auto stop = transport::EncodeFrame(
        transport::MakeRequest(kBackendControlPayloadProtocol, std::string(), 2));
    if (!stop) co_return;
    // Named first: GCC 12 destroys lambda temporaries in a co_await
    // expression twice (see StopAll).
    ControlSend send = [&stop](platform::HandleChannel& channel) {
      return channel.Send(*stop, {});
    };
    co_await SendToRunning(backend, std::move(send));
  }, asio::detached);
}

bool BackendSupervisor::ControlChannelOpen(const std::string& key) const {
  auto it = running_.find(key);
  return it != running_.end() && !it->second->exited && it->second->control.is_open();
}

asio::awaitable<error_code> BackendSupervisor::SendToBackend(const std::string& key,
                                                             ControlSend send) {
  auto it = running_.find(key);
  if (it == running_.end()) co_return error_code(asio::error::not_connected);
  co_return co_await SendToRunning(it->second, std::move(send));
}

asio::awaitable<error_code> BackendSupervisor::SendToRunning(std::shared_ptr<Running> backend,
                                                             ControlSend send) {
  if (backend->exited || !backend->control.is_open()) {
    co_return error_code(asio::error::not_connected);
  }
  // The channel queues sends that overlap (offers to one backend from
  // several clients' Hellos, a stop).
  error_code ec = co_await send(backend->control);
  if (ec && backend->exited) ec = asio::error::not_connected;  // it died meanwhile
  co_return ec;
}

asio::awaitable<void> BackendSupervisor::StopAll(std::chrono::milliseconds deadline) {
  auto snapshot = all_;
  for (auto& backend : snapshot) {
    if (backend->exited) continue;
    backend->stopping = true;
    if (backend->info->adopted) {
      // No control channel to a backend we adopted: ask the OS (SIGTERM;
      // Windows has none for it, so the deadline below kills it).
      (void)platform::RequestTermination(backend->info->pid);
      continue;
    }
    auto stop = transport::EncodeFrame(
        transport::MakeRequest(kBackendControlPayloadProtocol, std::string(), 2));
    if (stop) {
      // Named first: GCC 12 destroys lambda temporaries in a co_await
      // expression twice (seen here; also https://github.com/equeim/tremotesf2/pull/551).
      ControlSend send = [&stop](platform::HandleChannel& channel) {
        return channel.Send(*stop, {});
      };
      co_await SendToRunning(backend, std::move(send));
    }
  }
  auto until = Clock::now() + deadline;
  for (auto& backend : snapshot) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (!backend->exited && left.count() > 0) co_await WaitSignal(backend->exit_signal, left);
    if (!backend->exited) {
      Log().warn("backend did not stop in time, killing: service={} pid={}",
                 backend->info->service, backend->info->pid);
      if (backend->info->adopted) {
        platform::KillProcess(backend->info->pid);
      } else {
        backend->child.Terminate();
      }
      co_await WaitSignal(backend->exit_signal, std::chrono::seconds(5));
    }
  }
}

std::vector<BackendInfo> BackendSupervisor::Snapshot() const {
  std::vector<BackendInfo> out;
  for (const auto& [key, backend] : running_) out.push_back(*backend->info);
  return out;
}

std::string BackendSupervisor::AllocateBackendAddress(std::string* error) {
  static std::set<std::string> handed_out;
  auto hash = transport::CurrentUserHash();
  if (!hash) {
    *error = "cannot derive this user's endpoint hash: " + hash.error().message();
    return "";
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::array<std::uint8_t, 16> random{};
    if (auto ec = platform::RandomBytes(random)) {
      *error = "no randomness: " + ec.message();
      return "";
    }
    auto name = transport::BackendName(*hash, random);
    if (!name) break;
    auto address = transport::CurrentAddressForName(*name);
    if (!address) {
      *error = address.error().message();
      return "";
    }
    if (handed_out.insert(*address).second) return *address;
  }
  *error = "backend endpoint allocation exhausted 16 attempts";
  return "";
}

std::string BackendSupervisor::PrepareLogFile(const std::string& service,
                                              const std::string& version) {
  fs::path dir = fs::path(config_.state_dir) / "logs";
  if (platform::EnsurePrivateDirectory(dir.string())) return "";
  fs::path file = dir / (service + "-" + version + ".log");
  std::error_code ec;
  if (fs::exists(file, ec) && fs::file_size(file, ec) > config_.backend_log_max_bytes) {
    fs::rename(file, file.string() + ".1", ec);  // keep one previous generation
  }
  return file.string();
}

}  // namespace rp::broker
