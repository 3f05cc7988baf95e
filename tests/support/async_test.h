// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "rp/platform/child_process.h"
#include "rp/platform/local_listener.h"
#include "rp/platform/local_stream.h"

namespace rp::test {

// Runs `work` on `io` until it finishes, and returns its result. Waits on
// the coroutine's completion, bounded by `deadline` (a hung test fails with
// an exception instead of blocking ctest).
template <class T>
T RunAsync(boost::asio::io_context& io, boost::asio::awaitable<T> work,
           std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out.emplace(std::move(value));
    done = true;
  });
  io.restart();
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!done) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until || io.run_one_until(until) == 0) break;
  }
  if (!done) throw std::runtime_error("coroutine did not finish before its deadline");
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

// A client connected to `listener`, and the server side it accepted;
// fails the test (empty streams) if either step fails.
std::pair<platform::LocalStream, platform::LocalStream> ConnectedStreams(
    boost::asio::io_context& io, platform::LocalListener& listener);

// Launches this test binary as child `name` (see child_registry.h).
boost::system::result<platform::ChildProcess> LaunchSelf(
    boost::asio::any_io_executor executor, const std::string& name,
    std::vector<std::string> args = {},
    std::vector<std::pair<std::string, std::string>> env = {},
    std::vector<platform::NativeHandle> inherit = {});

// The open-handle count now, failing the test if it cannot be read.
std::size_t OpenHandleCount();

// The open-handle count once `io`'s event loop has created its own handles
// (asio makes its reactor's epoll fd, eventfd and timerfd lazily, on first
// use) and, once per process, a child has been launched and awaited (what
// the platform keeps after the first one is not the test's); take leak
// baselines with this.
std::size_t HandleBaseline(boost::asio::io_context& io);

}  // namespace rp::test
