// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "support/async_test.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "support/child_registry.h"

namespace rp::test {

boost::system::result<platform::ChildProcess> LaunchSelf(
    boost::asio::any_io_executor executor, const std::string& name, std::vector<std::string> args,
    std::vector<std::pair<std::string, std::string>> env,
    std::vector<platform::NativeHandle> inherit) {
  auto exe = platform::CurrentExecutablePath();
  if (!exe) return exe.error();
  platform::LaunchOptions options;
  options.executable = *exe;
  options.args = ChildArgs(name, std::move(args));
  options.env = std::move(env);
  options.inherit = std::move(inherit);
  return platform::ChildProcess::Launch(std::move(executor), options);
}

std::size_t OpenHandleCount() {
  auto count = platform::CountOpenHandles();
  EXPECT_TRUE(count.has_value()) << "cannot count open handles";
  return count ? *count : 0;
}

std::pair<platform::LocalStream, platform::LocalStream> ConnectedStreams(
    boost::asio::io_context& io, platform::LocalListener& listener) {
  using Streams = std::pair<platform::LocalStream, platform::LocalStream>;
  return RunAsync(io, [&]() -> boost::asio::awaitable<Streams> {
    using namespace boost::asio::experimental::awaitable_operators;
    auto [client, server] = co_await (platform::LocalStream::Connect(
                                          io.get_executor(), listener.address(),
                                          std::chrono::seconds(5)) &&
                                      listener.Accept());
    EXPECT_TRUE(client) << client.error().message();
    EXPECT_TRUE(server) << server.error().message();
    if (!client || !server) co_return Streams();
    co_return Streams(std::move(*client), std::move(server->stream));
  }());
}

std::size_t HandleBaseline(boost::asio::io_context& io) {
  // Once per test process, a child is launched and awaited first: the
  // platform keeps some of what that creates for the rest of the process
  // (under Wine, one handle), so a test that runs first, or alone, counts
  // only its own handles.
  static const bool warmed_up = [&io] {
    auto child = LaunchSelf(io.get_executor(), "handle_baseline_warm_up");
    EXPECT_TRUE(child) << child.error().message();
    if (child) {
      auto code = RunAsync(io, child->Wait());
      EXPECT_TRUE(code && *code == 0) << "the warm-up child failed";
    }
    return true;
  }();
  (void)warmed_up;
  boost::asio::steady_timer timer(io, std::chrono::milliseconds(0));
  timer.async_wait([](boost::system::error_code) {});
  io.restart();
  io.run();
  io.restart();
  return OpenHandleCount();
}

RP_TEST_CHILD(handle_baseline_warm_up) { return 0; }

}  // namespace rp::test
