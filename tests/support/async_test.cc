// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "support/async_test.h"

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

std::size_t HandleBaseline(boost::asio::io_context& io) {
  boost::asio::steady_timer timer(io, std::chrono::milliseconds(0));
  timer.async_wait([](boost::system::error_code) {});
  io.restart();
  io.run();
  io.restart();
  return OpenHandleCount();
}

}  // namespace rp::test
