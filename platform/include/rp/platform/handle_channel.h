// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/linked_submitter.h"
#include "rp/platform/local_stream.h"
#include "rp/platform/platform_handle.h"

namespace rp::platform {

// A message received from a HandleChannel: its bytes and the handles that
// travelled beside them (owned by the receiver now).
struct ChannelMessage {
  std::vector<std::uint8_t> bytes;
  std::vector<PlatformHandle> handles;
};

// HandleChannel is one end of a private, duplex channel between two
// processes that carries messages with OS handles beside them. It is how a
// live connection moves from one process to another.
//
// Wire (private to this project, both ends are ours):
//   [u32 LE byte_count][u32 LE handle_count][bytes]            POSIX
//   [u32 LE byte_count][u32 LE handle_count][bytes][u64 LE value]*  Windows
// POSIX: the handles ride as SCM_RIGHTS in the same sendmsg() as the header,
// and are received with MSG_CMSG_CLOEXEC. Windows: each handle is
// duplicated into the peer process with DuplicateHandle and its value in
// the peer's table follows the bytes; if the send fails the duplicates are
// closed in the peer again, so nothing leaks there.
//
// A received message whose handle count differs from what its header
// announces, or whose control data was truncated (MSG_CTRUNC), is rejected
// with every handle that did arrive closed. Sends may overlap: they take
// turns, first come first served, and each message goes out whole (a
// later one waits while an earlier one fills the socket or pipe); Cancel()
// and Close() end the waiting ones with operation_aborted. One Receive at
// a time. All calls happen on the channel's executor.
class HandleChannel {
 public:
  class Impl;
  static constexpr std::size_t kMaxHandlesPerMessage = 8;
  static constexpr std::size_t kDefaultMaxMessageBytes = 16 * 1024 * 1024 + 5;

  HandleChannel() noexcept;
  explicit HandleChannel(std::unique_ptr<Impl> impl) noexcept;
  HandleChannel(HandleChannel&&) noexcept;
  HandleChannel& operator=(HandleChannel&&) noexcept;
  ~HandleChannel();

  // Creates the two connected ends (socketpair / a one-instance named pipe
  // pair). Both are close-on-exec / non-inheritable; give one to a child
  // with LaunchOptions::inherit.
  static boost::system::result<std::pair<PlatformHandle, PlatformHandle>> CreatePair();

  // Opens a channel on `end`. `peer_process` is needed only to Send handles
  // on Windows: a handle to the process holding the other end, with
  // PROCESS_DUP_HANDLE access (ChildProcess::DuplicateProcessHandle()). It is
  // ignored on POSIX.
  static boost::system::result<HandleChannel> Open(boost::asio::any_io_executor executor,
                                                   PlatformHandle end,
                                                   PlatformHandle peer_process = {});

  bool is_open() const noexcept;

  // Sends `bytes` with copies of `handles` for the peer. The caller keeps
  // its own handles (and usually closes them once this succeeds).
  boost::asio::awaitable<boost::system::error_code> Send(std::span<const std::uint8_t> bytes,
                                                         std::span<const NativeHandle> handles);

  // Like Send, but the bytes are built after the handles were copied for the
  // peer, from their values in the peer's handle table (Windows; zeros on
  // POSIX), so that a message can name them (HandoffOffer.handle_value).
  using BytesBuilder =
      std::function<std::vector<std::uint8_t>(std::span<const std::uint64_t> peer_values)>;
  boost::asio::awaitable<boost::system::error_code> SendBuilt(
      BytesBuilder build, std::span<const NativeHandle> handles);

  // Writes `first` to `stream` in full, then sends a message as SendBuilt
  // does, never before the last byte of `first` went out: a reply to a
  // client followed by the offer of that client's connection. With an
  // available `linker` both usually enter the kernel in one call (see
  // LinkedSubmitter); whatever does not fit there (a full socket buffer)
  // goes on asynchronously, in the same order.
  struct WriteThenSendResult {
    boost::system::error_code write;  // set: nothing was sent
    boost::system::error_code send;
    bool linked = false;  // the write and the message went in one call
  };
  boost::asio::awaitable<WriteThenSendResult> WriteThenSendBuilt(
      LinkedSubmitter& linker, LocalStream& stream, std::span<const std::uint8_t> first,
      BytesBuilder build, std::span<const NativeHandle> handles);

  // Receives one message of at most `max_bytes` bytes.
  boost::asio::awaitable<boost::system::result<ChannelMessage>> Receive(
      std::size_t max_bytes = kDefaultMaxMessageBytes);

  void Cancel() noexcept;
  void Close() noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rp::platform
