// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// A backend launched by a broker that bound backend_pipe itself (the Rust
// broker's "broker-owned bind") serves on the listener it was passed.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "rp/backend/backend.h"
#include "rp/platform/local_listener.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

namespace rp::backend {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// What the launching broker does: a listening socket bound at `path`.
int BindListeningSocket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 16) != 0) {
    return -1;
  }
  return fd;
}

asio::awaitable<void> Echo(platform::LocalStream stream) {
  char buf[256];
  for (;;) {
    auto n = co_await stream.ReadSome(asio::buffer(buf));
    if (!n || co_await platform::WriteAll(stream, asio::buffer(buf, *n))) co_return;
  }
}

BackendEnvironment EnvironmentFor(const std::string& pipe, int listener_fd) {
  BackendEnvironment environment;
  environment.service_name = "echo";
  environment.service_version = "1.0.0";
  environment.backend_pipe = pipe;
  environment.inherited_listener = std::to_string(listener_fd);
  return environment;
}

TEST(InheritedListener, BackendServesOnTheListenerItWasPassed) {
  test::TempDir dir;
  asio::io_context io;
  const std::string pipe = dir.File("owned.sock");
  const int fd = BindListeningSocket(pipe);
  ASSERT_GE(fd, 0) << std::strerror(errno);

  // A listener bound anywhere else, or not listening, is refused (and the
  // descriptor closed: hence a duplicate here).
  EXPECT_FALSE(
      Backend::Create(io.get_executor(), EnvironmentFor(dir.File("other.sock"), ::dup(fd)), Echo));
  const int unbound = ::socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT_FALSE(Backend::Create(io.get_executor(), EnvironmentFor(pipe, unbound), Echo));

  auto created = Backend::Create(io.get_executor(), EnvironmentFor(pipe, fd), Echo);
  ASSERT_TRUE(created) << created.error().message();
  asio::co_spawn(io, created->Run(), [](std::exception_ptr, boost::system::error_code) {});
  auto reply = test::RunAsync(io, [&]() -> asio::awaitable<std::string> {
    auto client = co_await platform::LocalStream::Connect(io.get_executor(), pipe, 5s);
    if (!client) co_return "connect failed: " + client.error().message();
    if (co_await platform::WriteAll(*client, asio::buffer(std::string("served")))) {
      co_return "write failed";
    }
    std::string back(6, '\0');
    if (co_await platform::ReadExactly(*client, asio::buffer(back))) co_return "read failed";
    co_return back;
  }());
  EXPECT_EQ(reply, "served");
  created->Stop();
  io.run_for(2s);
  EXPECT_NE(::access(pipe.c_str(), F_OK), 0) << "the backend removes the socket file on stop";
}

}  // namespace
}  // namespace rp::backend
