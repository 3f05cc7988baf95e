// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// rp-broker-bench: connection setup through the real broker, by route.
// Starts running-process-broker-v1 (built beside this program) on a
// temporary endpoint with the echo backend installed (the broker launches
// it as its own process); this process is the client. Each sample is one
// rp::client::Connect for service "echo" plus a 1-byte echo round trip:
//   reconnect        Hello, Negotiated, new connection to backend_pipe,
//                    the byte written on it, echo read
//   handoff          the byte handed to Connect as early data: it travels
//                    behind the Hello; the broker hands the connection to
//                    the backend, which finds it waiting; ready EVENT and
//                    echo read (the SDK's default use of a handoff)
//   handoff (serial) Hello, Negotiated, ready EVENT, and only then the byte
//                    written and its echo read
// The routes are interleaved (one of each per round and client, so machine
// noise hits all alike), with 1 and with 4 concurrent clients; every
// sample checks the route taken. Then each route runs alone, with 1 and
// with 4 clients, and the CPU time per connection of the broker, the
// backend and this client is read from the OS.
//   rp-broker-bench [rounds]     default 2000 per route and concurrency
//   rp-broker-bench rounds ROUTE [clients]
//       only ROUTE (reconnect, handoff or serial), for profiling: latency
//       and CPU per connection of that route alone
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_v1_manifest.pb.h"
#include "rp/client/client.h"
#include "rp/platform/child_process.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class Mode { kReconnect, kHandoff, kHandoffSerial };
constexpr Mode kModes[] = {Mode::kReconnect, Mode::kHandoff, Mode::kHandoffSerial};

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kReconnect:
      return "reconnect to backend_pipe";
    case Mode::kHandoff:
      return "handoff, byte behind Hello";
    case Mode::kHandoffSerial:
      return "handoff, byte after ready";
  }
  return "?";
}

double Percentile(const std::vector<double>& sorted, double q) {
  return sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
}

struct Stats {
  double p50 = 0, p99 = 0, mean = 0;
};

Stats Summarize(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  Stats stats;
  stats.p50 = Percentile(micros, 0.50);
  stats.p99 = Percentile(micros, 0.99);
  stats.mean = std::accumulate(micros.begin(), micros.end(), 0.0) / micros.size();
  return stats;
}

// Where a sample's time went, in microseconds.
struct Phases {
  double hello = 0;  // connect to the broker, Hello, Negotiated
  double route = 0;  // reaching the backend: new connection, or ready EVENT
};

// One Connect + 1-byte echo; returns its latency, or a negative value on
// any failure or on a route other than the one the mode expects. A failed
// Connect is reported on stderr unless `quiet` (the start-up probe).
asio::awaitable<double> Once(const std::string& endpoint, Mode mode, Phases* phases = nullptr,
                             bool quiet = false) {
  rp::client::ConnectOptions options;
  options.broker_endpoint = endpoint;
  options.accept_handoff = mode != Mode::kReconnect;
  options.use_hello_skip_cache = false;
  if (mode != Mode::kHandoffSerial) options.early_data = "x";
  auto start = Clock::now();
  auto result = co_await rp::client::Connect("echo", "1.0.0", options);
  auto* connection = std::get_if<rp::client::Connection>(&result);
  if (!connection) {
    if (quiet) co_return -1;
    std::fprintf(stderr, "connect failed: %s\n",
                 std::get<rp::client::ConnectError>(result).message().c_str());
    co_return -1;
  }
  const bool handed_off = connection->route == rp::client::Route::kHandlePassed;
  if (handed_off != (mode != Mode::kReconnect)) {
    std::fprintf(stderr, "%s: unexpected route %s\n", ModeName(mode),
                 rp::client::RouteName(connection->route));
    co_return -1;
  }
  if (phases) {
    phases->hello += static_cast<double>(connection->hello_time.count());
    phases->route += static_cast<double>(connection->connect_time.count());
  }
  char byte = 'x';
  if (mode == Mode::kHandoffSerial &&
      co_await rp::platform::WriteAll(connection->stream, asio::buffer(&byte, 1))) {
    co_return -1;
  }
  if (co_await rp::platform::ReadExactly(connection->stream, asio::buffer(&byte, 1)) ||
      byte != 'x') {
    co_return -1;
  }
  co_return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct Samples {
  std::vector<double> micros[3];
  Phases phases[3];
  bool failed = false;
};

Phases& samples_phases(Samples& samples, Mode mode) {
  return samples.phases[static_cast<int>(mode)];
}

// `rounds` rounds of one sample per mode, modes rotated per round.
asio::awaitable<void> ClientLoop(std::string endpoint, int rounds, int offset, Samples& out) {
  for (int round = 0; round < rounds && !out.failed; ++round) {
    for (int i = 0; i < 3 && !out.failed; ++i) {
      Mode mode = kModes[(round + offset + i) % 3];
      double micros = co_await Once(endpoint, mode, &samples_phases(out, mode));
      if (micros < 0) out.failed = true;
      out.micros[static_cast<int>(mode)].push_back(micros);
    }
  }
}

// Interleaved latency with `clients` concurrent clients.
asio::awaitable<bool> MeasureLatency(const std::string& endpoint, int clients, int rounds) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  Samples samples;
  int running = clients;
  asio::steady_timer all_done(executor, Clock::time_point::max());
  for (int c = 0; c < clients; ++c) {
    auto finished = [&](std::exception_ptr) {
      if (--running == 0) all_done.cancel();
    };
    asio::co_spawn(executor, ClientLoop(endpoint, rounds / clients, c, samples), finished);
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (samples.failed) co_return false;
  std::printf("\n%d concurrent client%s, %zu samples per route (interleaved):\n", clients,
              clients == 1 ? "" : "s", samples.micros[0].size());
  std::printf("  %-28s %10s %10s %10s %12s\n", "route", "P50 us", "P99 us", "mean us",
              "conn/s");
  Stats reconnect = Summarize(samples.micros[0]);
  for (Mode mode : kModes) {
    Stats stats = Summarize(samples.micros[static_cast<int>(mode)]);
    std::printf("  %-28s %10.1f %10.1f %10.1f %12.0f", ModeName(mode), stats.p50, stats.p99,
                stats.mean, clients * 1e6 / stats.mean);
    const Phases& phases = samples.phases[static_cast<int>(mode)];
    const double n = static_cast<double>(samples.micros[static_cast<int>(mode)].size());
    std::printf("   [hello %.0f, route %.0f]", phases.hello / n, phases.route / n);
    if (mode != Mode::kReconnect) {
      std::printf("   P50 %.2fx  P99 %.2fx", stats.p50 / reconnect.p50, stats.p99 / reconnect.p99);
    }
    std::printf("\n");
  }
  co_return true;
}

// `connections` connections of one mode, one after another.
// Latencies go to `micros` when given.
asio::awaitable<void> RouteLoop(std::string endpoint, Mode mode, int connections, bool& failed,
                                std::vector<double>* micros = nullptr) {
  for (int i = 0; i < connections && !failed; ++i) {
    double sample = co_await Once(endpoint, mode);
    if (sample < 0) failed = true;
    if (micros) micros->push_back(sample);
  }
}

// The processes whose CPU time is reported: the broker, the echo backend
// it launched, and this client process.
struct CpuSubjects {
  std::uint32_t broker = 0, backend = 0, client = 0;
};

// CPU time (all threads) of each subject, as the OS accounts it; nullopt
// where the OS does not report it.
std::optional<std::array<double, 3>> CpuMicros(const CpuSubjects& subjects) {
  std::array<double, 3> micros{};
  const std::uint32_t pids[] = {subjects.broker, subjects.backend, subjects.client};
  for (int i = 0; i < 3; ++i) {
    auto cpu = rp::platform::ProcessCpuTime(pids[i]);
    if (!cpu) return std::nullopt;
    micros[i] = std::chrono::duration<double, std::micro>(*cpu).count();
  }
  return micros;
}

// The launched echo backend's pid, from the manifest the broker seals for it.
std::uint32_t EchoBackendPid(const fs::path& manifest_dir) {
  std::ifstream in(manifest_dir / "echo-1.0.0.pb", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  running_process::broker::v1::CacheManifest manifest;
  if (!manifest.ParseFromString(bytes)) return 0;
  return manifest.current_daemon().pid();
}

// CPU per connection of the broker, the backend and the client, each route
// run alone by `clients` concurrent clients.
asio::awaitable<bool> MeasureCpu(const std::string& endpoint, const CpuSubjects& subjects,
                                 int clients, int connections) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  std::printf("\nCPU per connection, %d client%s, %d connections per route:\n", clients,
              clients == 1 ? "" : "s", connections);
  std::printf("  %-28s %10s %10s %10s %10s\n", "route", "broker us", "backend us", "client us",
              "total us");
  for (Mode mode : kModes) {
    bool failed = false;
    int running = clients;
    asio::steady_timer all_done(executor, Clock::time_point::max());
    auto before = CpuMicros(subjects);
    for (int c = 0; c < clients; ++c) {
      auto finished = [&](std::exception_ptr) {
        if (--running == 0) all_done.cancel();
      };
      asio::co_spawn(executor, RouteLoop(endpoint, mode, connections / clients, failed), finished);
    }
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    auto after = CpuMicros(subjects);
    if (failed) co_return false;
    if (!before || !after) {
      std::printf("  %-28s (not reported here: no CPU time of other processes, as under Wine)\n",
                  ModeName(mode));
      continue;
    }
    double per[3], total = 0;
    for (int i = 0; i < 3; ++i) total += per[i] = ((*after)[i] - (*before)[i]) / connections;
    std::printf("  %-28s %10.1f %10.1f %10.1f %10.1f\n", ModeName(mode), per[0], per[1], per[2],
                total);
  }
  co_return true;
}

// One route alone (for profiling): latency, then CPU per connection.
asio::awaitable<bool> MeasureAlone(const std::string& endpoint, const CpuSubjects& subjects,
                                   Mode mode, int clients, int connections) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  bool failed = false;
  int running = clients;
  std::vector<double> micros;
  asio::steady_timer all_done(executor, Clock::time_point::max());
  auto before = CpuMicros(subjects);
  for (int c = 0; c < clients; ++c) {
    auto finished = [&](std::exception_ptr) {
      if (--running == 0) all_done.cancel();
    };
    asio::co_spawn(executor, RouteLoop(endpoint, mode, connections / clients, failed, &micros),
                   finished);
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  auto after = CpuMicros(subjects);
  if (failed) co_return false;
  Stats stats = Summarize(micros);
  std::printf("%s alone, %d client%s, %zu connections: P50 %.1f us, P99 %.1f us, mean %.1f us\n",
              ModeName(mode), clients, clients == 1 ? "" : "s", micros.size(), stats.p50,
              stats.p99, stats.mean);
  if (before && after) {
    const double n = static_cast<double>(micros.size());
    std::printf("CPU per connection: broker %.1f us, backend %.1f us, client %.1f us\n",
                ((*after)[0] - (*before)[0]) / n, ((*after)[1] - (*before)[1]) / n,
                ((*after)[2] - (*before)[2]) / n);
  }
  co_return true;
}

CpuSubjects Subjects(std::uint32_t broker, const fs::path& manifest_dir) {
  return {broker, EchoBackendPid(manifest_dir), rp::platform::CurrentProcessId()};
}

// Everything, or only one route when `only` is set.
asio::awaitable<bool> Measure(std::string endpoint, CpuSubjects subjects, int rounds,
                              std::optional<Mode> only, int only_clients) {
  if (only) co_return co_await MeasureAlone(endpoint, subjects, *only, only_clients, rounds);
  if (!co_await MeasureLatency(endpoint, 1, rounds)) co_return false;
  if (!co_await MeasureLatency(endpoint, 4, rounds * 4)) co_return false;
  for (int clients : {1, 4}) {
    if (!co_await MeasureCpu(endpoint, subjects, clients, rounds)) co_return false;
  }
  co_return true;
}

}  // namespace

std::optional<Mode> ModeFromArg(std::string_view arg) {
  if (arg == "reconnect") return Mode::kReconnect;
  if (arg == "handoff") return Mode::kHandoff;
  if (arg == "serial") return Mode::kHandoffSerial;
  return std::nullopt;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::max(40, std::atoi(argv[1])) : 2000;
  std::optional<Mode> only = argc > 2 ? ModeFromArg(argv[2]) : std::nullopt;
  const int only_clients = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  if (argc > 2 && !only) {
    std::fprintf(stderr, "usage: rp-broker-bench [rounds [reconnect|handoff|serial [clients]]]\n");
    return 2;
  }
  fs::path here = fs::path(rp::platform::CurrentExecutablePath().value()).parent_path();
  const bool windows = rp::platform::CurrentOs() == rp::platform::OsFlavor::kWindows;
  std::string exe = windows ? ".exe" : "";
  std::string broker = (here.parent_path() / "broker" / ("running-process-broker-v1" + exe)).string();
  std::string echo = (here.parent_path() / "tools" / ("rp-echo-backend" + exe)).string();
  std::string id = std::to_string(rp::platform::CurrentProcessId());
  fs::path dir = fs::temp_directory_path() / ("rp-broker-bench-" + id);
  if (rp::platform::EnsurePrivateDirectory(dir.string())) return 1;
  std::string endpoint =
      windows ? "\\\\.\\pipe\\rp-broker-bench-" + id : (dir / "b.sock").string();
  asio::io_context io;
  std::vector<std::pair<std::string, std::string>> env = {
      {"RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED", "1"}};
  auto run_broker = [&](std::vector<std::string> args, const char* log) {
    return rp::platform::ChildProcess::Launch(io.get_executor(),
                                              {broker, std::move(args), env, {},
                                               (dir / log).string()});
  };
  auto install = run_broker({"servicedef", "install", "--service", "echo", "--binary-path", echo,
                             "--service-def-dir", (dir / "services").string()},
                            "install.log");
  auto served = run_broker({"--socket", endpoint, "serve", "--service-def-dir",
                            (dir / "services").string(), "--state-dir", (dir / "state").string(),
                            "--manifest-dir", (dir / "manifests").string(),
                            "--hello-rate-limit", "1000000"},
                           "broker.log");
  if (!install || !served) return 1;
  int rc = 1;
  // Named: the coroutine refers to the closure's captures, so the closure
  // must outlive it (a temporary would die when co_spawn returns).
  auto bench = [&]() -> asio::awaitable<int> {
    co_await install->Wait();
    asio::steady_timer pause(io);
    bool up = false;
    for (int i = 0; i < 400 && !up; ++i) {  // until the broker answers and the backend runs
      up = co_await Once(endpoint, Mode::kReconnect, nullptr, /*quiet=*/true) >= 0;
      if (!up) {
        pause.expires_after(10ms);
        co_await pause.async_wait(asio::use_awaitable);
      }
    }
    for (int i = 0; i < 300 && up; ++i) up = co_await Once(endpoint, kModes[i % 3]) >= 0;
    if (!up) co_return 1;
    std::printf("rp-broker-bench on %s: Connect + 1-byte echo through running-process-broker-v1\n",
                windows ? "Windows" : "POSIX");
    const CpuSubjects subjects = Subjects(served->pid(), dir / "manifests");
    const bool measured = co_await Measure(endpoint, subjects, rounds, only, only_clients);
    if (!measured) co_return 1;
    co_return 0;
  };
  asio::co_spawn(io, bench(), [&](std::exception_ptr e, int value) { rc = e ? 1 : value; });
  io.run_for(std::chrono::minutes(20));
  // A graceful stop lets the broker stop the echo backend it launched.
  io.restart();
  auto shutdown = run_broker({"--socket", endpoint, "shutdown"}, "shutdown.log");
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    if (shutdown) co_await shutdown->Wait();
    co_await served->Wait();
  }, asio::detached);
  io.run_for(10s);
  served->Terminate();
  fs::remove_all(dir);
  return rc;
}
