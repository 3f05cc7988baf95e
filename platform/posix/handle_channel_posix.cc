// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// HandleChannel over a Unix stream socket pair: handles ride as SCM_RIGHTS
// in the same sendmsg() as the message header.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/channel_wire.h"
#include "common/channel_inbox.h"
#include "common/send_turn.h"
#include "posix/linked_submit.h"
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
  explicit Impl(UnixSocket socket)
      : send_turn_(socket.get_executor()), socket_(std::move(socket)) {}
  ~Impl() { Close(); }

  SendTurn& send_turn() noexcept { return send_turn_; }

  bool is_open() const noexcept { return socket_.is_open(); }

  asio::awaitable<error_code> SendBuilt(BytesBuilder build, std::span<const NativeHandle> handles) {
    if (handles.size() > kMaxHandlesPerMessage) co_return make_error_code(Error::kMalformedMessage);
    Outgoing out = Build(build, handles.size());
    co_return co_await SendFrom(out, handles, 0);
  }

  asio::awaitable<WriteThenSendResult> WriteThenSendBuilt(LinkedSubmitter& linker,
                                                          LocalStream& stream,
                                                          std::span<const std::uint8_t> first,
                                                          BytesBuilder build,
                                                          std::span<const NativeHandle> handles) {
    WriteThenSendResult result;
    if (handles.size() > kMaxHandlesPerMessage) {
      result.send = make_error_code(Error::kMalformedMessage);
      co_return result;
    }
    Outgoing out = Build(build, handles.size());
    std::size_t written = 0, sent = 0;
    const int stream_fd = stream.native_handle();
    if (linker.available() && stream_fd >= 0 && !first.empty()) {
      Outgoing::Pending pending;
      out.Describe(0, handles, pending);
      auto done = linker.impl()->WriteThenSendmsg(stream_fd, first.data(), first.size(),
                                                  socket_.native_handle(), &pending.msg);
      if (done.submitted) {
        if (done.write < 0 && done.write != -EAGAIN) {
          result.write = error_code(static_cast<int>(-done.write), system_category());
          co_return result;
        }
        written = done.write > 0 ? static_cast<std::size_t>(done.write) : 0;
        if (written == first.size() && done.sendmsg >= 0) {
          sent = static_cast<std::size_t>(done.sendmsg);
          result.linked = true;
        } else if (written == first.size() && done.sendmsg != -EAGAIN &&
                   done.sendmsg != -ECANCELED) {
          result.send = error_code(static_cast<int>(-done.sendmsg), system_category());
          co_return result;
        }
      }
    }
    if (written < first.size()) {
      result.write =
          co_await WriteAll(stream, asio::buffer(first.data() + written, first.size() - written));
      if (result.write) co_return result;
    }
    if (sent < out.total()) result.send = co_await SendFrom(out, handles, sent);
    co_return result;
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
    send_turn_.AbortWaiters();
    error_code ignored;
    socket_.cancel(ignored);
  }
  void Close() noexcept {
    send_turn_.Close();
    posix::CloseDeregistered(socket_);
  }

 private:
  // A message on its way out: header and bytes, of which the first `sent`
  // have gone; the handles travel with the first byte.
  struct Outgoing {
    std::array<std::uint8_t, ChannelHeader::kSize> head;
    std::vector<std::uint8_t> bytes;

    std::size_t total() const { return head.size() + bytes.size(); }

    // The sendmsg() arguments for what is left after `sent` bytes.
    struct Pending {
      iovec iov[2];
      alignas(cmsghdr) unsigned char control[kControlBytes];
      msghdr msg{};
    };
    void Describe(std::size_t sent, std::span<const NativeHandle> handles, Pending& out) {
      int iov_count = 0;
      if (sent < head.size()) {
        out.iov[iov_count++] = {head.data() + sent, head.size() - sent};
        if (!bytes.empty()) out.iov[iov_count++] = {bytes.data(), bytes.size()};
      } else {
        std::size_t off = sent - head.size();
        out.iov[iov_count++] = {bytes.data() + off, bytes.size() - off};
      }
      out.msg = msghdr{};
      out.msg.msg_iov = out.iov;
      out.msg.msg_iovlen = iov_count;
      if (sent == 0 && !handles.empty()) {
        // The fds travel with the first byte that goes out.
        std::memset(out.control, 0, sizeof(out.control));
        out.msg.msg_control = out.control;
        out.msg.msg_controllen = CMSG_SPACE(sizeof(int) * handles.size());
        cmsghdr* c = CMSG_FIRSTHDR(&out.msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * handles.size());
        std::memcpy(CMSG_DATA(c), handles.data(), sizeof(int) * handles.size());
      }
    }
  };

  static Outgoing Build(BytesBuilder& build, std::size_t handle_count) {
    std::vector<std::uint64_t> peer_values(handle_count, 0);
    Outgoing out;
    out.bytes = build(peer_values);
    ChannelHeader header{static_cast<std::uint32_t>(out.bytes.size()),
                         static_cast<std::uint32_t>(handle_count)};
    out.head = header.Encode();
    return out;
  }

  asio::awaitable<error_code> SendFrom(Outgoing& out, std::span<const NativeHandle> handles,
                                       std::size_t sent) {
    while (sent < out.total()) {
      Outgoing::Pending pending;
      out.Describe(sent, handles, pending);
      ssize_t n = ::sendmsg(socket_.native_handle(), &pending.msg, posix::kSendFlags);
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

  SendTurn send_turn_;
  UnixSocket socket_;
  ChannelInbox inbox_{posix::kReadsMaySpanFdMessages};
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

// Not a coroutine itself: SendInTurn's frame is the only one.
asio::awaitable<error_code> HandleChannel::SendBuilt(BytesBuilder build,
                                                     std::span<const NativeHandle> handles) {
  return SendInTurn(impl_.get(), std::move(build), handles);
}

asio::awaitable<HandleChannel::WriteThenSendResult> HandleChannel::WriteThenSendBuilt(
    LinkedSubmitter& linker, LocalStream& stream, std::span<const std::uint8_t> first,
    BytesBuilder build, std::span<const NativeHandle> handles) {
  Impl* impl = impl_.get();  // as in SendInTurn
  const bool open = impl && impl->is_open();
  std::optional<SendTurn::Held> turn;
  if (open) turn = impl->send_turn().TryTake();
  if (open && !turn) turn = co_await impl->send_turn().Take();
  if (!turn) {
    // No channel, or it closed or was cancelled while we waited: `first`
    // is still written (the client's reply must not depend on the backend).
    WriteThenSendResult result;
    result.write = co_await WriteAll(stream, asio::buffer(first.data(), first.size()));
    if (!result.write) {
      result.send = open ? asio::error::operation_aborted : asio::error::bad_descriptor;
    }
    co_return result;
  }
  co_return co_await impl->WriteThenSendBuilt(linker, stream, first, std::move(build), handles);
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
