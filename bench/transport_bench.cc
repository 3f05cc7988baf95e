// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// rp-transport-bench: latency of the transport on the platform it runs on.
// Prints P50/P99 and throughput for
//   1. a 1-byte round trip on an open connection,
//   2. a new connection + 1-byte round trip,
//   3. a handle transfer + 1-byte round trip (the connection is accepted
//      here, handed to another process over a HandleChannel, and that
//      process answers on it).
// Every peer is a separate process (this program re-executed), so each
// number includes a real cross-process wake-up.
//   rp-transport-bench [iterations]      default 2000
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

#include "rp/platform/child_process.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/transport/connection_transfer.h"
#include "rp/transport/envelope.h"

namespace {

namespace asio = boost::asio;
namespace platform = rp::platform;
namespace transport = rp::transport;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kChannelEnv[] = "RP_BENCH_CHANNEL";

void Report(const char* name, std::vector<double> micros, double total_seconds) {
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<std::size_t>(q * (micros.size() - 1))]; };
  std::printf("%-34s n=%-6zu P50 %9.1f us   P99 %9.1f us   %9.0f ops/s\n", name, micros.size(),
              at(0.50), at(0.99), micros.size() / total_seconds);
  std::fflush(stdout);
}

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// Child: accepts connections on `address` and echoes each byte, forever.
asio::awaitable<int> EchoServer(std::string address) {
  auto ex = co_await asio::this_coro::executor;
  auto listener = platform::LocalListener::Bind(ex, address);
  if (!listener) co_return 1;
  for (;;) {
    auto accepted = co_await listener->Accept();
    if (!accepted) co_return 0;
    asio::co_spawn(
        ex,
        [](platform::LocalStream s) -> asio::awaitable<void> {
          char byte;
          while (!co_await platform::ReadExactly(s, asio::buffer(&byte, 1))) {
            if (co_await platform::WriteAll(s, asio::buffer(&byte, 1))) break;
          }
        }(std::move(accepted->stream)),
        asio::detached);
  }
}

// Child: receives connections over its channel and echoes one byte on each.
asio::awaitable<int> TransferReceiver(platform::HandleChannel channel) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto received = co_await transport::ReceiveConnection(channel, ex);
    if (!received) co_return 0;
    asio::co_spawn(
        ex,
        [](platform::LocalStream s) -> asio::awaitable<void> {
          char byte;
          if (!co_await platform::ReadExactly(s, asio::buffer(&byte, 1))) {
            co_await platform::WriteAll(s, asio::buffer(&byte, 1));
          }
        }(std::move(received->stream)),
        asio::detached);
  }
}

asio::awaitable<bool> RoundTrip(platform::LocalStream& s) {
  char byte = 'x';
  if (co_await platform::WriteAll(s, asio::buffer(&byte, 1))) co_return false;
  co_return !co_await platform::ReadExactly(s, asio::buffer(&byte, 1));
}

// Waits until the echo server's endpoint accepts connections.
asio::awaitable<bool> WaitForServer(const std::string& address) {
  auto ex = co_await asio::this_coro::executor;
  auto deadline = Clock::now() + 10s;
  asio::steady_timer pause(ex);
  while (Clock::now() < deadline) {
    if (auto s = co_await platform::LocalStream::Connect(ex, address, 1s)) co_return true;
    pause.expires_after(5ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_return false;
}

asio::awaitable<int> Run(std::string self, std::string address, int iterations) {
  auto ex = co_await asio::this_coro::executor;
  std::printf("rp-transport-bench on %s, %d iterations per case\n",
              platform::CurrentOs() == platform::OsFlavor::kWindows ? "Windows" : "POSIX",
              iterations);

  // 1 + 2: against an echo server process.
  auto server =
      platform::ChildProcess::Launch(ex, {self, {"--echo-server", address}, {}, {}, {}}).value();
  if (!co_await WaitForServer(address)) co_return 1;
  {
    auto s = (co_await platform::LocalStream::Connect(ex, address, 5s)).value();
    for (int i = 0; i < 200; ++i) co_await RoundTrip(s);  // warm-up
    std::vector<double> samples;
    auto begin = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      auto t = Clock::now();
      if (!co_await RoundTrip(s)) co_return 1;
      samples.push_back(MicrosSince(t));
    }
    Report("1-byte round trip (open conn)", samples,
           std::chrono::duration<double>(Clock::now() - begin).count());
  }
  {
    std::vector<double> samples;
    auto begin = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      auto t = Clock::now();
      auto s = co_await platform::LocalStream::Connect(ex, address, 5s);
      if (!s || !co_await RoundTrip(*s)) co_return 1;
      samples.push_back(MicrosSince(t));
    }
    Report("connect + 1-byte round trip", samples,
           std::chrono::duration<double>(Clock::now() - begin).count());
  }
  server.Terminate();
  co_await server.Wait();

  // 3: a listener here, the connection served by another process.
  auto listener = platform::LocalListener::Bind(ex, address + "-x").value();
  auto ends = platform::HandleChannel::CreatePair().value();
  auto receiver = platform::ChildProcess::Launch(
                      ex, {self, {"--receiver"}, {{kChannelEnv, ends.second.ToDecimalString()}},
                           {ends.second.get()}, {}})
                      .value();
  ends.second.reset();
  auto channel = platform::HandleChannel::Open(ex, std::move(ends.first),
                                               receiver.DuplicateProcessHandle().value())
                     .value();
  auto offer = transport::MakeRequest(transport::kHandoffPayloadProtocol, std::string(40, 'o'), 1);
  std::vector<double> samples;
  auto begin = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    auto t = Clock::now();
    auto client = co_await platform::LocalStream::Connect(ex, listener.address(), 5s);
    auto accepted = co_await listener.Accept();
    if (!client || !accepted) co_return 1;
    if (co_await transport::SendConnection(channel, std::move(accepted->stream), offer)) co_return 1;
    if (!co_await RoundTrip(*client)) co_return 1;
    samples.push_back(MicrosSince(t));
  }
  Report("connect + transfer + round trip", samples,
         std::chrono::duration<double>(Clock::now() - begin).count());
  channel.Close();
  co_await receiver.Wait();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  asio::io_context io;
  std::string mode = argc > 1 ? argv[1] : "";
  int rc = 1;
  auto done = [&rc](std::exception_ptr e, int value) { rc = e ? 1 : value; };
  if (mode == "--echo-server" && argc > 2) {
    asio::co_spawn(io, EchoServer(argv[2]), done);
  } else if (mode == "--receiver") {
    auto end = platform::PlatformHandle::FromDecimalString(
        platform::GetEnv(kChannelEnv).value_or(""));
    if (!end) return 1;
    auto channel = platform::HandleChannel::Open(io.get_executor(), std::move(*end));
    if (!channel) return 1;
    asio::co_spawn(io, TransferReceiver(std::move(*channel)), done);
  } else {
    int iterations = argc > 1 ? std::max(10, std::atoi(argv[1])) : 2000;
    std::string dir, address;
    if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
      address = "\\\\.\\pipe\\rp-bench-" + std::to_string(platform::CurrentProcessId());
    } else {
      dir = "/tmp/rp-bench-" + std::to_string(platform::CurrentProcessId());
      address = dir + "/b.sock";
    }
    asio::co_spawn(io, Run(platform::CurrentExecutablePath().value(), address, iterations), done);
    io.run();
    if (!dir.empty()) std::filesystem::remove_all(dir);
    return rc;
  }
  io.run();
  return rc;
}
