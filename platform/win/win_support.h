// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

// Private helpers shared by the Windows half of rp::platform: text
// conversion, the current user's SID and security descriptors, named-pipe
// creation, and one overlapped operation awaited through an event (never
// through the io_context's completion port). Only platform/win/*.cc
// include this header.

#include <windows.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/windows/object_handle.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "common/local_stream_impl.h"
#include "rp/platform/peer_identity.h"

namespace rp::platform::win {

// GetLastError() (or `code`) in the system category.
boost::system::error_code LastError() noexcept;
boost::system::error_code SystemError(DWORD code) noexcept;

std::wstring Utf8ToWide(std::string_view text);
std::string WideToUtf8(std::wstring_view text);

// True for ERROR_BROKEN_PIPE, ERROR_NO_DATA and ERROR_PIPE_NOT_CONNECTED:
// the peer end of a pipe went away.
bool IsBrokenPipeCode(DWORD code) noexcept;
// Reads report a vanished writer as boost::asio::error::eof; everything
// else passes through. ERROR_OPERATION_ABORTED becomes
// boost::asio::error::operation_aborted.
boost::system::error_code MapReadError(const boost::system::error_code& ec) noexcept;
boost::system::error_code MapWriteError(const boost::system::error_code& ec) noexcept;

// The TOKEN_USER of this process's token (the SID lives inside the buffer).
struct TokenUserInfo {
  std::vector<std::uint8_t> buffer;
  PSID sid() const noexcept { return reinterpret_cast<const TOKEN_USER*>(buffer.data())->User.Sid; }
};
boost::system::result<TokenUserInfo> QueryTokenUser(HANDLE token);
// Cached after the first successful call.
boost::system::result<const TokenUserInfo*> CurrentTokenUser();
boost::system::result<std::string> SidToString(PSID sid);

// A self-relative security descriptor parsed from SDDL (LocalFree'd on
// destruction) and SECURITY_ATTRIBUTES pointing at it with
// bInheritHandle = FALSE, so every object created with it is
// non-inheritable.
class SecurityAttributes {
 public:
  static boost::system::result<SecurityAttributes> FromSddl(const std::wstring& sddl);
  // D:P(A;;GA;;;<current user SID>): the owner-only DACL of spec §4.7.
  static boost::system::result<SecurityAttributes> CurrentUserOnly();

  SecurityAttributes(SecurityAttributes&& other) noexcept;
  SecurityAttributes& operator=(SecurityAttributes&&) = delete;
  ~SecurityAttributes();

  SECURITY_ATTRIBUTES* get() noexcept { return &attributes_; }
  PSECURITY_DESCRIPTOR descriptor() const noexcept { return descriptor_; }

 private:
  explicit SecurityAttributes(PSECURITY_DESCRIPTOR descriptor) noexcept;
  PSECURITY_DESCRIPTOR descriptor_ = nullptr;
  SECURITY_ATTRIBUTES attributes_{};
};

// "\\.\pipe\" + name unless `address` already starts with it.
std::wstring PipePath(std::string_view address);
inline constexpr std::size_t kMaxPipePathChars = 256;
inline constexpr DWORD kPipeBufferBytes = 64 * 1024;

// One server instance of a byte-mode, overlapped, local-only named pipe.
// Returns the raw handle (non-inheritable: `security` says so) or the
// CreateNamedPipeW error.
boost::system::result<HANDLE> CreatePipeInstance(const std::wstring& path, bool first_instance,
                                                 DWORD max_instances, SecurityAttributes& security);
// The client end: GENERIC_READ|GENERIC_WRITE, overlapped, identification-
// level impersonation only, non-inheritable. Returns INVALID_HANDLE_VALUE
// with GetLastError() set on failure.
HANDLE OpenPipeClient(const std::wstring& path) noexcept;

// Counts the handles process `pid` holds, from the system-wide handle table
// (NtQuerySystemInformation(SystemExtendedHandleInformation)). Used where
// GetProcessHandleCount cannot be trusted: Wine 8 always reports 0 there.
boost::system::result<std::size_t> CountProcessHandles(DWORD pid);

// What the kernel says about the client of a connected server pipe.
PeerIdentity QueryPipeClient(HANDLE server_pipe);

// EventOp is one overlapped operation slot on a handle that is NOT bound
// to an I/O completion port: it owns a manual-reset event (through an
// asio object_handle, which waits for it on the executor's thread pool) and
// the OVERLAPPED that the kernel writes to. It is shared (shared_ptr)
// between its owner and the coroutine awaiting it, so that the kernel never
// writes into freed memory: whoever gives up on a pending operation first
// calls CancelIoEx and GetOverlappedResult(..., TRUE).
//
// The awaiting coroutine does not wait on the object_handle itself but on
// `wakeup_`, a steady_timer that the object_handle's handler cancels: a
// timer supports asio's per-operation cancellation natively (the
// object_handle does not), and the coroutine is never resumed from inside
// the object_handle's completion. Each operation has a generation number, so
// a late completion of a cancelled operation's wait is ignored.
// On a handle that IS bound to a completion port, an operation made with
// `off_port` set still completes through the event only: the OVERLAPPED's
// event is tagged (low-order bit set), which tells the kernel to queue no
// completion packet, so the port's owner never sees an OVERLAPPED it does
// not know, and an operation the kernel finishes at once is done without
// a trip through the io_context's queue.
// Single-threaded, on the executor it was made for.
class EventOp {
 public:
  static boost::system::result<std::shared_ptr<EventOp>> Create(
      boost::asio::any_io_executor executor, bool off_port = false);

  EventOp(boost::asio::any_io_executor executor, HANDLE event, bool off_port = false) noexcept;

  // Prepares the OVERLAPPED for a new operation on `file`.
  OVERLAPPED* Begin(HANDLE file) noexcept;
  bool pending() const noexcept { return pending_; }
  void set_pending(bool pending) noexcept { pending_ = pending; }
  // Cancels a pending operation and waits until the kernel is done with the
  // OVERLAPPED. Safe to call when nothing is pending. The awaiting coroutine
  // then reports what the kernel did: the bytes, if the operation finished
  // before the cancel reached it, else operation_aborted.
  void CancelAndDrain() noexcept;
  // Non-blocking completion check after the event fired.
  boost::system::result<DWORD> Result() noexcept;
  boost::asio::windows::object_handle& waiter() noexcept { return waiter_; }
  HANDLE file() const noexcept { return file_; }
  OVERLAPPED* overlapped() noexcept { return &overlapped_; }
  // Marks the op's file as closed, closes the event and wakes a waiting
  // coroutine, which then reports operation_aborted instead of touching the
  // file. Call CancelAndDrain() first; the op cannot be used again.
  void Abandon() noexcept;
  bool abandoned() const noexcept { return abandoned_; }

 private:
  friend boost::asio::awaitable<boost::system::result<DWORD>> AwaitEventOp(
      std::shared_ptr<EventOp> op);
  boost::system::result<DWORD> DrainedResult() const noexcept;

  boost::asio::windows::object_handle waiter_;
  boost::asio::steady_timer wakeup_;
  OVERLAPPED overlapped_{};
  HANDLE file_ = nullptr;
  std::uint64_t generation_ = 0;
  bool signaled_ = false;
  bool pending_ = false;
  bool abandoned_ = false;
  bool off_port_ = false;
  bool drained_done_ = false;  // CancelAndDrain found the operation finished
  DWORD drained_bytes_ = 0;
};

// Starts an overlapped call (`start` gets the OVERLAPPED and returns the
// API's BOOL) on `op->file()`, waits for it through the event, and returns
// the byte count. CancelIoEx on the file completes it with
// ERROR_OPERATION_ABORTED, asio per-operation cancellation of the awaiting
// coroutine with operation_aborted; the OVERLAPPED is always drained first.
//
// Note: GCC 12 destroys a lambda temporary created inside a co_await
// expression twice, so pass `start` (and any builder) as a named object.
template <typename Start>
boost::asio::awaitable<boost::system::result<DWORD>> RunEventOp(std::shared_ptr<EventOp> op,
                                                                HANDLE file, Start start);
boost::asio::awaitable<boost::system::result<DWORD>> AwaitEventOp(std::shared_ptr<EventOp> op);

template <typename Start>
boost::asio::awaitable<boost::system::result<DWORD>> RunEventOp(std::shared_ptr<EventOp> op,
                                                                HANDLE file, Start start) {
  OVERLAPPED* overlapped = op->Begin(file);
  if (start(overlapped)) co_return op->Result();  // Completed at once; no wait needed.
  DWORD error = ::GetLastError();
  if (error != ERROR_IO_PENDING) co_return SystemError(error);
  co_return co_await AwaitEventOp(std::move(op));
}

// Stream factories, shared by LocalStream (Connect, Adopt) and
// LocalListener (Accept). Both take ownership of `pipe`, also on failure.
boost::system::result<std::unique_ptr<LocalStream::Impl>> MakeEventPipeStream(
    boost::asio::any_io_executor executor, HANDLE pipe);
boost::system::result<std::unique_ptr<LocalStream::Impl>> MakeIocpPipeStream(
    boost::asio::any_io_executor executor, HANDLE pipe);

}  // namespace rp::platform::win
