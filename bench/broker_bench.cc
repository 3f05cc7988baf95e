// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// rp-broker-bench: connection setup through the real broker, by route.
// Starts running-process-broker-v1 (built beside this program) on a
// temporary endpoint with the echo backend installed, then measures
//   reconnect: Hello, Negotiated, new connection to backend_pipe, 1-byte echo
//   handoff:   Hello, Negotiated, handoff-ready EVENT on the same
//              connection, 1-byte echo
// interleaved (one of each per round, so machine noise hits both alike),
// and prints P50/P99 and throughput for each.
//   rp-broker-bench [rounds]     default 1000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rp/client/client.h"
#include "rp/platform/child_process.h"
#include "rp/platform/host.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Samples {
  const char* name;
  std::vector<double> micros;
  double seconds = 0;
};

void Report(Samples s) {
  std::sort(s.micros.begin(), s.micros.end());
  auto at = [&](double q) { return s.micros[static_cast<std::size_t>(q * (s.micros.size() - 1))]; };
  std::printf("%-44s n=%-6zu P50 %9.1f us   P99 %9.1f us   %8.0f conn/s\n", s.name,
              s.micros.size(), at(0.50), at(0.99), s.micros.size() / s.seconds);
}

asio::awaitable<bool> Once(std::string endpoint, bool handoff, Samples& out) {
  rp::client::ConnectOptions options;
  options.broker_endpoint = endpoint;
  options.accept_handoff = handoff;
  options.use_hello_skip_cache = false;
  auto start = Clock::now();
  auto result = co_await rp::client::Connect("echo", "1.0.0", options);
  auto* connection = std::get_if<rp::client::Connection>(&result);
  if (!connection) {
    std::fprintf(stderr, "connect failed: %s\n",
                 std::get<rp::client::ConnectError>(result).message().c_str());
    co_return false;
  }
  bool want = handoff;
  if ((connection->route == rp::client::Route::kHandlePassed) != want) {
    std::fprintf(stderr, "unexpected route %s\n", rp::client::RouteName(connection->route));
    co_return false;
  }
  char byte = 'x';
  if (co_await rp::platform::WriteAll(connection->stream, asio::buffer(&byte, 1)) ||
      co_await rp::platform::ReadExactly(connection->stream, asio::buffer(&byte, 1))) {
    co_return false;
  }
  auto elapsed = Clock::now() - start;
  out.micros.push_back(std::chrono::duration<double, std::micro>(elapsed).count());
  out.seconds += std::chrono::duration<double>(elapsed).count();
  co_return true;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::max(10, std::atoi(argv[1])) : 1000;
  fs::path here = fs::path(rp::platform::CurrentExecutablePath().value()).parent_path();
  std::string exe = rp::platform::CurrentOs() == rp::platform::OsFlavor::kWindows ? ".exe" : "";
  std::string broker = (here.parent_path() / "broker" / ("running-process-broker-v1" + exe)).string();
  std::string echo = (here.parent_path() / "tools" / ("rp-echo-backend" + exe)).string();
  fs::path dir = fs::temp_directory_path() /
                 ("rp-broker-bench-" + std::to_string(rp::platform::CurrentProcessId()));
  if (rp::platform::EnsurePrivateDirectory(dir.string())) return 1;
  std::string endpoint = rp::platform::CurrentOs() == rp::platform::OsFlavor::kWindows
                             ? "\\\\.\\pipe\\rp-broker-bench-" +
                                   std::to_string(rp::platform::CurrentProcessId())
                             : (dir / "b.sock").string();
  asio::io_context io;
  std::vector<std::pair<std::string, std::string>> env = {
      {"RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED", "1"}};
  auto install = rp::platform::ChildProcess::Launch(
      io.get_executor(), {broker,
                          {"servicedef", "install", "--service", "echo", "--binary-path", echo,
                           "--service-def-dir", (dir / "services").string()},
                          env, {}, (dir / "install.log").string()});
  auto served = rp::platform::ChildProcess::Launch(
      io.get_executor(),
      {broker,
       {"--socket", endpoint, "serve", "--service-def-dir", (dir / "services").string(),
        "--state-dir", (dir / "state").string(), "--hello-rate-limit", "1000000"},
       env, {}, (dir / "broker.log").string()});
  if (!install || !served) return 1;
  int rc = 1;
  asio::co_spawn(io, [&]() -> asio::awaitable<int> {
    co_await install->Wait();
    Samples reconnect{"Hello + reconnect to backend_pipe + 1B echo"};
    Samples handoff{"Hello + handoff (same connection) + 1B echo"};
    Samples warm{"warm-up"};
    asio::steady_timer pause(io);
    for (int i = 0; i < 400; ++i) {  // until the broker answers and the backend runs
      if (co_await Once(endpoint, false, warm)) break;
      pause.expires_after(10ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    for (int i = 0; i < 50; ++i) {
      if (!co_await Once(endpoint, true, warm) || !co_await Once(endpoint, false, warm)) co_return 1;
    }
    for (int i = 0; i < rounds; ++i) {
      if (!co_await Once(endpoint, false, reconnect) || !co_await Once(endpoint, true, handoff)) {
        co_return 1;
      }
    }
    std::printf("rp-broker-bench on %s, %d rounds (interleaved)\n",
                rp::platform::CurrentOs() == rp::platform::OsFlavor::kWindows ? "Windows" : "POSIX",
                rounds);
    Report(reconnect);
    Report(handoff);
    co_return 0;
  }(), [&](std::exception_ptr e, int value) { rc = e ? 1 : value; });
  io.run_for(std::chrono::minutes(10));
  served->Terminate();
  io.restart();
  asio::co_spawn(io, served->Wait(), asio::detached);
  io.run_for(5s);
  fs::remove_all(dir);
  return rc;
}
