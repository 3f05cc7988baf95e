// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "posix/posix_compat.h"
#include "posix/unix_stream.h"
#include "rp/platform/errors.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_category;
using posix::UnixSocket;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// errno after a failed MSG_DONTWAIT call, with EAGAIN/EWOULDBLOCK as
// asio's would_block on every POSIX system.
error_code NonBlockingError() {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return make_error_code(asio::error::would_block);
  return error_code(errno, system_category());
}

// A connected Unix domain stream socket. Non-blocking reads and writes go
// straight to the fd; the socket is registered with the io_context's
// reactor only when an operation first has to wait, so a connection that
// is read, answered and handed on at once (the broker's usual Hello) never
// costs the reactor a system call. Transferable: ReleaseHandle()
// deregisters the fd first (asio's release() does EPOLL_CTL_DEL; close()
// would not while another process holds the same open file description).
class UnixStream final : public LocalStream::Impl {
 public:
  explicit UnixStream(UnixSocket socket)
      : executor_(socket.get_executor()), socket_(std::move(socket)) {}
  // `fd`: connected, non-blocking, owned from here on.
  UnixStream(asio::any_io_executor executor, int fd)
      : executor_(executor), socket_(executor), unregistered_fd_(fd) {}
  ~UnixStream() override { Close(); }

  bool is_open() const noexcept override { return unregistered_fd_ >= 0 || socket_.is_open(); }
  asio::any_io_executor get_executor() const override { return executor_; }

  asio::awaitable<boost::system::result<std::size_t>> ReadSome(
      asio::mutable_buffer buffer) override {
    if (error_code ec = Register()) co_return ec;
    auto [ec, n] = co_await socket_.async_read_some(buffer, kTuple);
    if (ec) co_return ec;
    co_return n;
  }

  asio::awaitable<boost::system::result<std::size_t>> WriteSome(
      asio::const_buffer buffer) override {
    if (error_code ec = Register()) co_return ec;
    auto [ec, n] = co_await socket_.async_write_some(buffer, kTuple);
    if (ec) co_return ec;
    co_return n;
  }

  boost::system::result<std::size_t> TryReadSome(asio::mutable_buffer buffer) noexcept override {
    if (buffer.size() == 0) return std::size_t{0};
    ssize_t n;
    do {
      n = ::recv(fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0) return make_error_code(asio::error::eof);
    if (n < 0) return NonBlockingError();
    return static_cast<std::size_t>(n);
  }

  boost::system::result<std::size_t> TryWriteSome(asio::const_buffer buffer) noexcept override {
    if (buffer.size() == 0) return std::size_t{0};
    ssize_t n;
    do {
      n = ::send(fd(), buffer.data(), buffer.size(), MSG_DONTWAIT | posix::kSendFlags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return NonBlockingError();
    return static_cast<std::size_t>(n);
  }

  void Cancel() noexcept override {
    error_code ignored;
    if (socket_.is_open()) socket_.cancel(ignored);  // nothing waits on an unregistered fd
  }
  void Close() noexcept override {
    if (unregistered_fd_ >= 0) ::close(std::exchange(unregistered_fd_, -1));
    posix::CloseDeregistered(socket_);
  }
  bool is_transferable() const noexcept override { return true; }
  NativeHandle native_handle() noexcept override { return is_open() ? fd() : -1; }

  boost::system::result<PlatformHandle> ReleaseHandle() override {
    if (unregistered_fd_ >= 0) return PlatformHandle(std::exchange(unregistered_fd_, -1));
    error_code ec;
    int fd = socket_.release(ec);
    if (ec) return ec;
    return PlatformHandle(fd);
  }

 private:
  int fd() noexcept { return unregistered_fd_ >= 0 ? unregistered_fd_ : socket_.native_handle(); }

  error_code Register() {
    if (unregistered_fd_ < 0) return {};
    error_code ec;
    socket_.assign(asio::local::stream_protocol(), unregistered_fd_, ec);
    if (!ec) unregistered_fd_ = -1;
    return ec;
  }

  asio::any_io_executor executor_;
  UnixSocket socket_;
  int unregistered_fd_ = -1;
};

}  // namespace

namespace posix {

LocalStream MakeUnixStream(UnixSocket socket) {
  DisableSigpipe(socket.native_handle());
  return LocalStream(std::make_unique<UnixStream>(std::move(socket)));
}

boost::system::result<LocalStream> WrapUnixFd(asio::any_io_executor executor, PlatformHandle fd) {
  if (!fd.is_valid()) return make_error_code(asio::error::bad_descriptor);
  // No O_NONBLOCK needed: direct reads and writes pass MSG_DONTWAIT, and
  // asio makes the fd non-blocking itself when it registers it.
  const int raw = fd.release();
  DisableSigpipe(raw);
  return LocalStream(std::make_unique<UnixStream>(std::move(executor), raw));
}

boost::system::result<LocalStream> AdoptUnixFd(asio::any_io_executor executor, PlatformHandle fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return error_code(errno, system_category());
  }
  sockaddr_storage addr{};
  socklen_t addr_len = sizeof(addr);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
    return error_code(errno, system_category());
  }
  if (type != SOCK_STREAM || addr.ss_family != AF_UNIX) {
    return error_code(ENOTSOCK, system_category());
  }
  return WrapUnixFd(std::move(executor), std::move(fd));
}

}  // namespace posix

asio::awaitable<boost::system::result<LocalStream>> LocalStream::Connect(
    asio::any_io_executor executor, std::string address, std::chrono::milliseconds timeout) {
  if (address.size() >= sizeof(sockaddr_un::sun_path)) {
    co_return make_error_code(Error::kPathTooLong);
  }
  // A local connect completes at once unless the listener's backlog is full;
  // only then is there anything to wait for.
  int fd = posix::CloexecNonblockingSocket(AF_UNIX, SOCK_STREAM);
  if (fd < 0) co_return error_code(errno, system_category());
  PlatformHandle owned(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address.data(), address.size());
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) co_return posix::WrapUnixFd(std::move(executor), std::move(owned));
  if (errno != EAGAIN && errno != EINPROGRESS) co_return error_code(errno, system_category());

  UnixSocket socket(executor);
  error_code ec;
  socket.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) co_return ec;
  (void)owned.release();
  asio::steady_timer timer(executor, timeout);
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (
      socket.async_connect(asio::local::stream_protocol::endpoint(address), kTuple) ||
      timer.async_wait(kTuple));
  if (outcome.index() == 1) co_return error_code(asio::error::timed_out);
  if (auto [connect_ec] = std::get<0>(outcome); connect_ec) co_return connect_ec;
  co_return posix::MakeUnixStream(std::move(socket));
}

boost::system::result<LocalStream> LocalStream::Adopt(asio::any_io_executor executor,
                                                      PlatformHandle connected) {
  return posix::AdoptUnixFd(std::move(executor), std::move(connected));
}

boost::system::result<LocalStream> LocalStream::AdoptVouched(asio::any_io_executor executor,
                                                             PlatformHandle connected) {
  if (!connected.is_valid()) return error_code(asio::error::bad_descriptor);
  return posix::WrapUnixFd(std::move(executor), std::move(connected));
}

}  // namespace rp::platform
