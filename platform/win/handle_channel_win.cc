// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// HandleChannel on Windows: a private one-instance named pipe; handles
// travel as values duplicated into the peer process with DuplicateHandle.
#include "rp/platform/handle_channel.h"

#include <windows.h>

#include <bcrypt.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <memory>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/windows/stream_handle.hpp>
#include <boost/system/errc.hpp>

#include "common/channel_inbox.h"
#include "common/channel_wire.h"
#include "common/send_turn.h"
#include "rp/platform/errors.h"
#include "win/win_support.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;
using boost::system::result;

namespace {

error_code InvalidArgument() {
  return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

// RemoteHandles owns handles already duplicated into the peer process
// (values in the peer's handle table). Unless Commit() is called, they are
// closed again in the peer (DUPLICATE_CLOSE_SOURCE), so a failed send
// leaks nothing there. Shares the peer's process handle, so that a channel
// closed while a send waits does not close it under us.
class RemoteHandles {
 public:
  explicit RemoteHandles(std::shared_ptr<const PlatformHandle> peer)
      : owner_(std::move(peer)), peer_(owner_ ? owner_->get() : nullptr) {}
  RemoteHandles(const RemoteHandles&) = delete;
  RemoteHandles& operator=(const RemoteHandles&) = delete;
  ~RemoteHandles() {
    for (std::uint64_t value : values_) {
      ::DuplicateHandle(peer_, reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value)),
                        nullptr, nullptr, 0, FALSE, DUPLICATE_CLOSE_SOURCE);
    }
  }

  error_code Add(HANDLE local) {
    HANDLE remote = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), local, peer_, &remote, 0, FALSE,
                           DUPLICATE_SAME_ACCESS)) {
      return win::LastError();
    }
    values_.push_back(reinterpret_cast<std::uintptr_t>(remote));
    return {};
  }
  const std::vector<std::uint64_t>& values() const { return values_; }
  void Commit() { values_.clear(); }

 private:
  std::shared_ptr<const PlatformHandle> owner_;
  HANDLE peer_;
  std::vector<std::uint64_t> values_;
};

void PutU64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::wstring UniqueChannelPipePath() {
  static std::atomic<unsigned> counter{0};
  std::uint64_t random = 0;
  ::BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(&random), sizeof(random),
                    BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  char name[96];
  std::snprintf(name, sizeof(name), "\\\\.\\pipe\\rp-channel-%lu-%u-%016llx",
                static_cast<unsigned long>(::GetCurrentProcessId()), counter++,
                static_cast<unsigned long long>(random));
  return win::Utf8ToWide(name);
}

}  // namespace

// The channel end: a pipe end on this process's completion port
// (asio::windows::stream_handle; the channel itself never moves), plus an
// optional handle to the peer process for DuplicateHandle. Owns both. All
// calls on the channel's executor; one Send and one Receive at a time.
//
// Note: the receiver cannot check the handle count beyond the header. The
// values are plain numbers naming entries the sender already created in our
// handle table; nothing in the kernel ties them to this message. A message
// cut short after its header leaves the unread duplicates open (the channel
// is broken then anyway), and a lying peer can name any handle of ours:
// only our own processes hold a channel end. Whole messages read but never
// received are closed with the channel (ChannelInbox::DiscardWhole).
//
// Sends do not go through the completion port: each is an overlapped
// WriteFile on an off-port EventOp. The pipe almost always takes a message
// at once, and then the send is complete when WriteFile returns, instead
// of one trip through the io_context's queue later. For the broker that
// trip was where the next offer to the same backend waited: under Wine with
// four clients, behind every other connection's work.
class HandleChannel::Impl {
 public:
  Impl(asio::windows::stream_handle pipe, PlatformHandle peer_process,
       std::shared_ptr<win::EventOp> write_op)
      : send_turn_(pipe.get_executor()),
        pipe_(std::move(pipe)),
        peer_process_(peer_process.is_valid()
                          ? std::make_shared<const PlatformHandle>(std::move(peer_process))
                          : nullptr),
        write_op_(std::move(write_op)) {}
  ~Impl() { Close(); }

  bool is_open() const noexcept { return pipe_.is_open(); }
  SendTurn& send_turn() noexcept { return send_turn_; }

  asio::awaitable<error_code> SendBuilt(BytesBuilder build, std::span<const NativeHandle> handles) {
    if (!pipe_.is_open()) co_return error_code(asio::error::bad_descriptor);
    if (handles.size() > kMaxHandlesPerMessage) co_return InvalidArgument();
    if (!handles.empty() && !peer_process_) co_return InvalidArgument();
    RemoteHandles remote(peer_process_);
    for (NativeHandle handle : handles) {
      if (auto ec = remote.Add(handle)) co_return ec;
    }
    std::vector<std::uint8_t> bytes = build(remote.values());
    if (bytes.size() > std::numeric_limits<std::uint32_t>::max()) {
      co_return make_error_code(Error::kMessageTooLarge);
    }
    ChannelHeader header{static_cast<std::uint32_t>(bytes.size()),
                         static_cast<std::uint32_t>(handles.size())};
    auto encoded = header.Encode();
    std::vector<std::uint8_t> message(encoded.begin(), encoded.end());
    message.insert(message.end(), bytes.begin(), bytes.end());
    for (std::uint64_t value : remote.values()) PutU64(message, value);
    // Locals only from here on: Close() (or our destruction) may happen
    // while a write waits.
    std::shared_ptr<win::EventOp> op = write_op_;
    HANDLE pipe = pipe_.native_handle();
    for (std::size_t written = 0; written < message.size();) {
      if (op->abandoned()) co_return error_code(asio::error::operation_aborted);
      const std::uint8_t* data = message.data() + written;
      const DWORD size =
          static_cast<DWORD>(std::min<std::size_t>(message.size() - written, 1u << 30));
      auto start = [&](OVERLAPPED* overlapped) {
        return ::WriteFile(pipe, data, size, nullptr, overlapped);
      };
      auto n = co_await win::RunEventOp(op, pipe, start);
      // On failure `remote` closes the duplicates again in the peer.
      if (!n) co_return win::MapWriteError(n.error());
      if (*n == 0) co_return error_code(asio::error::broken_pipe);
      written += *n;
    }
    remote.Commit();
    co_return error_code();
  }

  // One read takes as much as the pipe has (see ChannelInbox): offers
  // queued behind each other cost one completion, not three each.
  asio::awaitable<result<ChannelMessage>> Receive(std::size_t max_bytes) {
    for (;;) {
      if (!pipe_.is_open()) co_return error_code(asio::error::bad_descriptor);
      if (auto next = inbox_.Next(max_bytes)) co_return std::move(*next);
      std::span<std::uint8_t> space = inbox_.ReadSpace(max_bytes);
      error_code ec;
      std::size_t n = co_await pipe_.async_read_some(
          asio::buffer(space.data(), space.size()), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return win::MapReadError(ec);
      inbox_.Commit(n);
    }
  }

  void Cancel() noexcept {
    send_turn_.AbortWaiters();
    error_code ignored;
    pipe_.cancel(ignored);
  }

  void Close() noexcept {
    send_turn_.Close();
    if (write_op_ && !write_op_->abandoned()) {
      // The kernel is done with the send's OVERLAPPED before the pipe goes;
      // a send waiting for it reports what the kernel did (written, or
      // operation_aborted).
      write_op_->CancelAndDrain();
      write_op_->Abandon();
    }
    error_code ignored;
    pipe_.close(ignored);
    peer_process_.reset();
    inbox_.DiscardWhole();  // the peer counts those handles as delivered
  }

 private:
  static PlatformHandle AdoptValue(std::uint64_t value) noexcept {
    return PlatformHandle(reinterpret_cast<NativeHandle>(static_cast<std::uintptr_t>(value)));
  }

  // Declared before the pipe, so that it outlives it: a read still pending
  // when the channel is destroyed writes into the inbox's buffer until the
  // pipe's close has cancelled it.
  ChannelInbox inbox_{&AdoptValue};
  SendTurn send_turn_;  // one send's bytes at a time in the pipe
  asio::windows::stream_handle pipe_;
  std::shared_ptr<const PlatformHandle> peer_process_;  // shared with sends in flight
  std::shared_ptr<win::EventOp> write_op_;               // off the port; see above
};

HandleChannel::HandleChannel() noexcept = default;
HandleChannel::HandleChannel(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
HandleChannel::HandleChannel(HandleChannel&&) noexcept = default;
HandleChannel& HandleChannel::operator=(HandleChannel&&) noexcept = default;
HandleChannel::~HandleChannel() = default;

result<std::pair<PlatformHandle, PlatformHandle>> HandleChannel::CreatePair() {
  auto security = win::SecurityAttributes::CurrentUserOnly();
  if (!security) return security.error();
  std::wstring path = UniqueChannelPipePath();
  auto server_handle = win::CreatePipeInstance(path, /*first_instance=*/true, 1, *security);
  if (!server_handle) return server_handle.error();
  PlatformHandle server(*server_handle);
  PlatformHandle client(win::OpenPipeClient(path));
  if (!client.is_valid()) {
    (void)client.release();
    return win::LastError();
  }
  // The client is already there, so this normally answers
  // ERROR_PIPE_CONNECTED at once.
  OVERLAPPED overlapped{};
  PlatformHandle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!event.is_valid()) return win::LastError();
  overlapped.hEvent = event.get();
  if (!::ConnectNamedPipe(server.get(), &overlapped)) {
    DWORD error = ::GetLastError();
    if (error == ERROR_IO_PENDING) {
      DWORD ignored = 0;
      if (!::GetOverlappedResult(server.get(), &overlapped, &ignored, TRUE)) {
        return win::LastError();
      }
    } else if (error != ERROR_PIPE_CONNECTED) {
      return win::SystemError(error);
    }
  }
  return std::make_pair(std::move(server), std::move(client));
}

result<HandleChannel> HandleChannel::Open(asio::any_io_executor executor, PlatformHandle end,
                                          PlatformHandle peer_process) {
  if (!end.is_valid()) return error_code(asio::error::bad_descriptor);
  auto write_op = win::EventOp::Create(executor, /*off_port=*/true);
  if (!write_op) return write_op.error();
  asio::windows::stream_handle pipe(executor);
  error_code ec;
  pipe.assign(end.get(), ec);
  if (ec) return ec;
  (void)end.release();
  return HandleChannel(
      std::make_unique<Impl>(std::move(pipe), std::move(peer_process), std::move(*write_op)));
}

bool HandleChannel::is_open() const noexcept { return impl_ && impl_->is_open(); }

asio::awaitable<error_code> HandleChannel::Send(std::span<const std::uint8_t> bytes,
                                                std::span<const NativeHandle> handles) {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  // Note: the builder is a named local on purpose. GCC 12 destroys a lambda
  // temporary that owns resources twice when it is created inside a co_await
  // expression (a double free here).
  BytesBuilder build = [copy = std::vector<std::uint8_t>(bytes.begin(), bytes.end())](
                           std::span<const std::uint64_t>) { return copy; };
  co_return co_await SendBuilt(std::move(build), handles);  // takes the turn
}

// Not a coroutine itself: SendInTurn's frame is the only one.
asio::awaitable<error_code> HandleChannel::SendBuilt(BytesBuilder build,
                                                     std::span<const NativeHandle> handles) {
  return SendInTurn(impl_.get(), std::move(build), handles);
}

// Windows has no way to link a pipe write and a DuplicateHandle send, so
// they are two steps (LinkedSubmitter is always empty here), both in the
// channel's turn, as on POSIX. `first` is written whatever becomes of the
// channel meanwhile: the client's reply must not depend on the backend.
asio::awaitable<HandleChannel::WriteThenSendResult> HandleChannel::WriteThenSendBuilt(
    LinkedSubmitter& /*linker*/, LocalStream& stream, std::span<const std::uint8_t> first,
    BytesBuilder build, std::span<const NativeHandle> handles) {
  Impl* impl = impl_.get();  // as in SendInTurn
  const bool open = impl && impl->is_open();
  std::optional<SendTurn::Held> turn;
  if (open) turn = impl->send_turn().TryTake();
  if (open && !turn) turn = co_await impl->send_turn().Take();
  WriteThenSendResult result;
  result.write = co_await WriteAll(stream, asio::buffer(first.data(), first.size()));
  if (result.write) co_return result;
  if (!turn || turn->closed()) {
    result.send = open ? asio::error::operation_aborted : asio::error::bad_descriptor;
    co_return result;
  }
  result.send = co_await impl->SendBuilt(std::move(build), handles);
  co_return result;
}

asio::awaitable<result<ChannelMessage>> HandleChannel::Receive(std::size_t max_bytes) {
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
