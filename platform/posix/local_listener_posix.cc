// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "posix/peer_credentials.h"
#include "posix/posix_compat.h"
#include "posix/unix_stream.h"
#include "rp/platform/errors.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_category;
using Acceptor = asio::local::stream_protocol::acceptor;

namespace {

error_code LastError() { return error_code(errno, system_category()); }

sockaddr_un MakeAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int BindFd(int fd, const sockaddr_un& addr) {
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
}

// True when a socket file exists at `addr` but nobody accepts on it any
// more (connect is refused), i.e. a listener died without removing it.
bool IsStaleSocketFile(const sockaddr_un& addr) {
  int probe = posix::CloexecSocket(AF_UNIX, SOCK_STREAM);
  if (probe < 0) return false;
  int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(probe);
  return rc != 0 && err == ECONNREFUSED;
}

}  // namespace

// A bound, listening Unix socket. Remembers the inode it created so Close()
// removes the socket file only while it is still ours.
class LocalListener::Impl {
 public:
  Impl(Acceptor acceptor, std::string address, struct stat st)
      : acceptor_(std::move(acceptor)), address_(std::move(address)), st_(st) {}
  ~Impl() { Close(); }

  asio::awaitable<boost::system::result<AcceptedConnection>> Accept() {
    for (;;) {
      if (!acceptor_.is_open()) co_return error_code(asio::error::operation_aborted);
      int fd = posix::CloexecAccept(acceptor_.native_handle());
      if (fd >= 0) {
        PeerIdentity peer = posix::ReadPeerIdentity(fd);
        auto stream = posix::WrapUnixFd(acceptor_.get_executor(), PlatformHandle(fd));
        if (!stream) co_return stream.error();
        co_return AcceptedConnection{std::move(*stream), std::move(peer)};
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        co_return LastError();  // EMFILE/ENFILE reach the caller, which backs off
      }
      auto [ec] = co_await acceptor_.async_wait(Acceptor::wait_read,
                                                asio::as_tuple(asio::use_awaitable));
      if (ec) co_return ec;
    }
  }

  void Close() noexcept {
    if (!acceptor_.is_open()) return;
    posix::CloseDeregistered(acceptor_);
    struct stat now {};
    if (::lstat(address_.c_str(), &now) == 0 && now.st_ino == st_.st_ino &&
        now.st_dev == st_.st_dev) {
      ::unlink(address_.c_str());
    }
  }

  const std::string& address() const noexcept { return address_; }

 private:
  Acceptor acceptor_;
  std::string address_;
  struct stat st_;
};

LocalListener::LocalListener() noexcept = default;
LocalListener::LocalListener(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
LocalListener::LocalListener(LocalListener&&) noexcept = default;
LocalListener& LocalListener::operator=(LocalListener&&) noexcept = default;
LocalListener::~LocalListener() = default;

boost::system::result<LocalListener> LocalListener::Bind(asio::any_io_executor executor,
                                                         std::string address,
                                                         const ListenOptions& options) {
  if (address.empty()) return error_code(EINVAL, system_category());
  if (address.size() >= sizeof(sockaddr_un::sun_path)) {
    return make_error_code(Error::kPathTooLong);
  }
  if (options.require_private_directory) {
    std::string dir = std::filesystem::path(address).parent_path().string();
    if (!dir.empty()) {
      if (error_code ec = EnsurePrivateDirectory(dir)) return ec;
    }
  }
  int fd = posix::CloexecSocket(AF_UNIX, SOCK_STREAM);
  if (fd < 0) return LastError();
  PlatformHandle owned(fd);
  // Linux creates the socket file with the socket inode's mode, so this makes
  // it 0600 from birth; the chmod below covers macOS.
  ::fchmod(fd, 0600);
  sockaddr_un addr = MakeAddress(address);
  if (BindFd(fd, addr) != 0) {
    if (errno != EADDRINUSE) return LastError();
    // Never remove the file before a bind attempt failed: racing starters
    // must not delete each other's live sockets.
    if (!options.replace_stale || !IsStaleSocketFile(addr)) {
      return make_error_code(Error::kAddressInUse);
    }
    ::unlink(address.c_str());
    if (BindFd(fd, addr) != 0) {
      return errno == EADDRINUSE ? make_error_code(Error::kAddressInUse) : LastError();
    }
  }
  ::chmod(address.c_str(), 0600);
  struct stat st {};
  if (::lstat(address.c_str(), &st) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    error_code ec = LastError();
    ::unlink(address.c_str());
    return ec;
  }
  Acceptor acceptor(executor);
  error_code ec;
  acceptor.assign(asio::local::stream_protocol(), owned.get(), ec);
  if (!ec) (void)owned.release();  // the acceptor owns the fd now
  if (!ec) acceptor.non_blocking(true, ec);
  if (ec) {
    ::unlink(address.c_str());
    return ec;
  }
  return LocalListener(std::make_unique<Impl>(std::move(acceptor), std::move(address), st));
}

boost::system::result<LocalListener> LocalListener::AdoptListening(asio::any_io_executor executor,
                                                                  PlatformHandle listening,
                                                                  std::string address) {
  const int fd = listening.get();
  int accepting = 0, type = 0;
  socklen_t len = sizeof(int);
  sockaddr_un bound{};
  socklen_t bound_len = sizeof(bound);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 ||
      (len = sizeof(int), ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return LastError();
  }
  const std::size_t path_len =
      bound_len > offsetof(sockaddr_un, sun_path) ? ::strnlen(bound.sun_path, sizeof(bound.sun_path))
                                                  : 0;
  if (!accepting || type != SOCK_STREAM || bound.sun_family != AF_UNIX ||
      std::string(bound.sun_path, path_len) != address) {
    return error_code(EINVAL, system_category());
  }
  struct stat st {};
  if (::lstat(address.c_str(), &st) != 0) return LastError();
  posix::SetCloexec(fd);  // it was inherited across exec; keep it out of our own children
  Acceptor acceptor(executor);
  error_code ec;
  acceptor.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) return ec;
  (void)listening.release();
  acceptor.non_blocking(true, ec);
  if (ec) return ec;
  return LocalListener(std::make_unique<Impl>(std::move(acceptor), std::move(address), st));
}

asio::awaitable<boost::system::result<AcceptedConnection>> LocalListener::Accept() {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->Accept();
}

void LocalListener::Close() noexcept {
  if (impl_) impl_->Close();
}

const std::string& LocalListener::address() const noexcept {
  static const std::string kEmpty;
  return impl_ ? impl_->address() : kEmpty;
}

}  // namespace rp::platform
