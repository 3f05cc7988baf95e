// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/platform_handle.h"

namespace rp::platform {

// LocalStream is one connected local IPC byte stream: a Unix domain stream
// socket on POSIX, a named-pipe instance on Windows. It owns its handle.
//
// I/O is asynchronous (C++20 coroutines on Boost.Asio) and runs on the
// executor given at creation; callers must use one strand/thread per stream.
// Errors come back as values, never as exceptions. A clean close by the peer
// is reported as boost::asio::error::eof on every platform.
//
// A stream is "transferable" when its handle can be handed to another
// process (ReleaseHandle()). On Windows that requires the pipe never to have
// been bound to this process's I/O completion port, so streams accepted by a
// transferable LocalListener do their I/O with events instead.
class LocalStream {
 public:
  class Impl;

  LocalStream() noexcept;
  explicit LocalStream(std::unique_ptr<Impl> impl) noexcept;
  LocalStream(LocalStream&&) noexcept;
  LocalStream& operator=(LocalStream&&) noexcept;
  ~LocalStream();

  // Connects to a listener at `address` (socket path, or \\.\pipe\ name; a
  // bare pipe name is accepted too). On Windows, "all pipe instances busy" is
  // retried until `timeout`; a missing listener fails at once.
  static boost::asio::awaitable<boost::system::result<LocalStream>> Connect(
      boost::asio::any_io_executor executor, std::string address,
      std::chrono::milliseconds timeout);

  // Wraps an already-connected handle (for example one received from another
  // process). The handle is validated to be a stream socket / pipe.
  static boost::system::result<LocalStream> Adopt(boost::asio::any_io_executor executor,
                                                  PlatformHandle connected);
  // Like Adopt, for a handle whose kind the sender vouches for: one that
  // came over our private HandleChannel from the process that accepted it
  // (a handoff). POSIX skips the validating system calls.
  static boost::system::result<LocalStream> AdoptVouched(boost::asio::any_io_executor executor,
                                                         PlatformHandle connected);

  bool is_open() const noexcept;
  boost::asio::any_io_executor get_executor() const;

  // Reads at least one byte (or fails). EOF is boost::asio::error::eof.
  // Bytes that are already there are returned without suspending (up to
  // kMaxEagerReads times in a row, then once through the event loop).
  boost::asio::awaitable<boost::system::result<std::size_t>> ReadSome(
      boost::asio::mutable_buffer buffer);
  // Writes at least one byte (or fails).
  boost::asio::awaitable<boost::system::result<std::size_t>> WriteSome(
      boost::asio::const_buffer buffer);

  // Reads or writes what the OS has or takes right now, without waiting and
  // without a trip through the event loop: boost::asio::error::would_block
  // when nothing can move yet (and always where a platform has no such
  // path: Windows pipes). No asynchronous operation in the same direction
  // may be pending.
  boost::system::result<std::size_t> TryReadSome(boost::asio::mutable_buffer buffer) noexcept;
  boost::system::result<std::size_t> TryWriteSome(boost::asio::const_buffer buffer) noexcept;

  // Cancels pending reads and writes; they complete with operation_aborted.
  // Safe to call from the stream's executor at any time (deadline timers).
  void Cancel() noexcept;
  void Close() noexcept;

  bool is_transferable() const noexcept;
  // The OS handle, still owned by the stream, where one can be written to
  // directly (POSIX sockets); PlatformHandle::InvalidValue() otherwise.
  NativeHandle native_handle() noexcept;
  // Detaches the OS handle from this process's event loop and returns it;
  // the stream is closed afterwards. No read or write may be pending.
  boost::system::result<PlatformHandle> ReleaseHandle();

 private:
  // Decorators (common/) take the platform stream out of its shell so that
  // their own reads skip a second eager attempt.
  friend std::unique_ptr<Impl> TakeImpl(LocalStream&& stream) noexcept;

  static constexpr int kMaxEagerReads = 16;
  std::unique_ptr<Impl> impl_;
  int eager_reads_ = 0;
  bool drained_ = false;  // the last TryReadSome found nothing to read
};

// A stream whose reads yield `bytes` first, then `stream`'s own: for a
// server that looked at a connection's first message and hands the
// connection on untouched. Writes go straight through. While some of
// `bytes` are unread the stream is not transferable.
LocalStream PrependReadBytes(LocalStream stream, std::vector<std::uint8_t> bytes);

// A stream whose first write carries `bytes` in front of the caller's, so a
// short message a server owes its client (the handoff-ready EVENT) and the
// server's first reply leave in one system call and wake the client once.
// The bytes never wait long on the caller: they go out on their own as soon
// as it is about to wait for a read, closes, drops or hands the stream on,
// and at the latest once the executor has run two more turns after this
// call (a caller busy with something else). Only for streams that can write
// without the event loop (CanPrependWriteBytes: POSIX sockets); the caller
// writes `bytes` itself on the others.
bool CanPrependWriteBytes(LocalStream& stream) noexcept;
LocalStream PrependWriteBytes(LocalStream stream, std::vector<std::uint8_t> bytes);

// Reads exactly buffer.size() bytes, taking what has already arrived
// without a trip through the event loop. Returns eof if the peer closed before
// the first byte and an error (eof too) if it closed in the middle;
// `bytes_read` (optional) tells how far it got.
boost::asio::awaitable<boost::system::error_code> ReadExactly(LocalStream& stream,
                                                              boost::asio::mutable_buffer buffer,
                                                              std::size_t* bytes_read = nullptr);
// Writes every byte of `buffer`; returns without suspending when the OS
// takes it all at once (the usual case for small messages).
boost::asio::awaitable<boost::system::error_code> WriteAll(LocalStream& stream,
                                                           boost::asio::const_buffer buffer);

}  // namespace rp::platform
