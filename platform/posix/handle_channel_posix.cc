// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// HandleChannel over a Unix stream socket pair: handles ride as SCM_RIGHTS
// in the same sendmsg() as the message header.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/channel_wire.h"
#include "posix/channel_inbox.h"
#include "posix/posix_compat.h"
#include "posix/unix_stream.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::system_category;
using UnixSocket = asio::local::stream_protocol::socket;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kControlBytes = CMSG_SPACE(sizeof(int) * HandleChannel::kMaxHandlesPerMessage);

// The fds in `msg`'s control data, now owned; `truncated` when the kernel
// cut the control data (MSG_CTRUNC: it closed what did not fit).
std::vector<PlatformHandle> TakeHandles(msghdr& msg, bool& truncated) {
  std::vector<PlatformHandle> handles;
  truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (std::size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
      if (!posix::kRecvSetsCloexec) posix::SetCloexec(fd);
      handles.emplace_back(fd);
    }
  }
  return handles;
}

}  // namespace

// One end of the pair, registered with the io_context's reactor for
// readiness only; every byte moves with sendmsg()/recvmsg().
class HandleChannel::Impl {
 public:
  explicit Impl(UnixSocket socket) : socket_(std::move(socket)) {}
  ~Impl() { Close(); }

  bool is_open() const noexcept { return socket_.is_open(); }

  asio::awaitable<error_code> SendBuilt(BytesBuilder build, std::span<const NativeHandle> handles) {
    if (handles.size() > kMaxHandlesPerMessage) co_return make_error_code(Error::kMalformedMessage);
    std::vector<std::uint64_t> peer_values(handles.size(), 0);
    std::vector<std::uint8_t> bytes = build(peer_values);
    ChannelHeader header{static_cast<std::uint32_t>(bytes.size()),
                         static_cast<std::uint32_t>(handles.size())};
    auto head = header.Encode();
    const std::size_t total = head.size() + bytes.size();
    std::size_t sent = 0;
    while (sent < total) {
      iovec iov[2];
      int iov_count = 0;
      if (sent < head.size()) {
        iov[iov_count++] = {head.data() + sent, head.size() - sent};
        if (!bytes.empty()) iov[iov_count++] = {bytes.data(), bytes.size()};
      } else {
        std::size_t off = sent - head.size();
        iov[iov_count++] = {bytes.data() + off, bytes.size() - off};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = iov_count;
      alignas(cmsghdr) unsigned char control[kControlBytes];
      if (sent == 0 && !handles.empty()) {
        // The fds travel with the first byte that goes out.
        std::memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * handles.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * handles.size());
        std::memcpy(CMSG_DATA(c), handles.data(), sizeof(int) * handles.size());
      }
      ssize_t n = ::sendmsg(socket_.native_handle(), &msg, posix::kSendFlags);
      if (n >= 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) co_return error_code(errno, system_category());
      auto [ec] = co_await socket_.async_wait(UnixSocket::wait_write, kTuple);
      if (ec) co_return ec;
    }
    co_return error_code();
  }

  // Takes as much as the socket has (see ChannelInbox), so messages that
  // arrived together cost one system call.
  asio::awaitable<boost::system::result<ChannelMessage>> Receive(std::size_t max_bytes) {
    for (;;) {
      if (auto next = inbox_.Next(max_bytes)) co_return std::move(*next);
      std::span<std::uint8_t> space = inbox_.ReadSpace(max_bytes);
      iovec iov{space.data(), space.size()};
      alignas(cmsghdr) unsigned char control[kControlBytes];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(socket_.native_handle(), &msg, posix::kRecvFlags);
      if (n > 0) {
        bool truncated = false;
        std::vector<PlatformHandle> handles = TakeHandles(msg, truncated);
        inbox_.Commit(static_cast<std::size_t>(n), std::move(handles), truncated);
        continue;
      }
      // EOF anywhere (even before the first byte) is asio::error::eof.
      if (n == 0) co_return error_code(asio::error::eof);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) co_return error_code(errno, system_category());
      auto [ec] = co_await socket_.async_wait(UnixSocket::wait_read, kTuple);
      if (ec) co_return ec;
    }
  }

  void Cancel() noexcept {
    error_code ignored;
    socket_.cancel(ignored);
  }
  void Close() noexcept { posix::CloseDeregistered(socket_); }

 private:
  UnixSocket socket_;
  posix::ChannelInbox inbox_{posix::kReadsMaySpanFdMessages};
};

HandleChannel::HandleChannel() noexcept = default;
HandleChannel::HandleChannel(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
HandleChannel::HandleChannel(HandleChannel&&) noexcept = default;
HandleChannel& HandleChannel::operator=(HandleChannel&&) noexcept = default;
HandleChannel::~HandleChannel() = default;

boost::system::result<std::pair<PlatformHandle, PlatformHandle>> HandleChannel::CreatePair() {
  int fds[2];
  if (posix::CloexecSocketpair(fds) != 0) return error_code(errno, system_category());
  posix::DisableSigpipe(fds[0]);
  posix::DisableSigpipe(fds[1]);
  return std::make_pair(PlatformHandle(fds[0]), PlatformHandle(fds[1]));
}

boost::system::result<HandleChannel> HandleChannel::Open(asio::any_io_executor executor,
                                                         PlatformHandle end,
                                                         PlatformHandle /*peer_process*/) {
  UnixSocket socket(executor);
  error_code ec;
  socket.assign(asio::local::stream_protocol(), end.get(), ec);
  if (ec) return ec;
  (void)end.release();
  socket.non_blocking(true, ec);
  if (ec) return ec;
  return HandleChannel(std::make_unique<Impl>(std::move(socket)));
}

bool HandleChannel::is_open() const noexcept { return impl_ && impl_->is_open(); }

asio::awaitable<error_code> HandleChannel::Send(std::span<const std::uint8_t> bytes,
                                                std::span<const NativeHandle> handles) {
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  // Note: named, never a temporary inside the co_await expression: GCC 12
  // destroys such temporaries twice (seen here; also https://github.com/equeim/tremotesf2/pull/551).
  BytesBuilder builder = [&copy](std::span<const std::uint64_t>) { return std::move(copy); };
  co_return co_await SendBuilt(std::move(builder), handles);
}

asio::awaitable<error_code> HandleChannel::SendBuilt(BytesBuilder build,
                                                     std::span<const NativeHandle> handles) {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->SendBuilt(std::move(build), handles);
}

asio::awaitable<boost::system::result<ChannelMessage>> HandleChannel::Receive(
    std::size_t max_bytes) {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->Receive(max_bytes);
}

void HandleChannel::Cancel() noexcept {
  if (impl_) impl_->Cancel();
}
void HandleChannel::Close() noexcept {
  if (impl_) impl_->Close();
}

}  // namespace rp::platform
