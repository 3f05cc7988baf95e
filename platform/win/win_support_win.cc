// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Shared Windows helpers: text, SIDs, security descriptors, pipe creation
// and event-awaited overlapped operations (see win_support.h).
#include "win/win_support.h"

#include <sddl.h>
#include <winternl.h>

#include <algorithm>
#include <cwctype>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rp::platform::win {

namespace asio = boost::asio;
using boost::system::error_code;

error_code SystemError(DWORD code) noexcept {
  return error_code(static_cast<int>(code), boost::system::system_category());
}

error_code LastError() noexcept { return SystemError(::GetLastError()); }

std::wstring Utf8ToWide(std::string_view text) {
  if (text.empty()) return {};
  int n = ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n > 0 ? n : 0), L'\0');
  if (n > 0) {
    ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
  }
  return out;
}

std::string WideToUtf8(std::wstring_view text) {
  if (text.empty()) return {};
  int n = ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0,
                                nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n > 0 ? n : 0), '\0');
  if (n > 0) {
    ::WideCharToMultiByte(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), n,
                          nullptr, nullptr);
  }
  return out;
}

bool IsBrokenPipeCode(DWORD code) noexcept {
  return code == ERROR_BROKEN_PIPE || code == ERROR_NO_DATA || code == ERROR_PIPE_NOT_CONNECTED;
}

error_code MapWriteError(const error_code& ec) noexcept {
  if (ec.category() == boost::system::system_category() &&
      ec.value() == static_cast<int>(ERROR_OPERATION_ABORTED)) {
    return asio::error::operation_aborted;
  }
  return ec;
}

error_code MapReadError(const error_code& ec) noexcept {
  if (ec.category() == boost::system::system_category() &&
      IsBrokenPipeCode(static_cast<DWORD>(ec.value()))) {
    return asio::error::eof;
  }
  return MapWriteError(ec);
}

boost::system::result<TokenUserInfo> QueryTokenUser(HANDLE token) {
  // Sized for any SID, so one call answers (the broker asks once per
  // connection); a larger answer is still taken on a second try.
  TokenUserInfo info;
  info.buffer.resize(sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE);
  DWORD size = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::GetTokenInformation(token, TokenUser, info.buffer.data(),
                              static_cast<DWORD>(info.buffer.size()), &size)) {
      return info;
    }
    if (::GetLastError() != ERROR_INSUFFICIENT_BUFFER || size <= info.buffer.size()) break;
    info.buffer.resize(size);
  }
  return LastError();
}

boost::system::result<const TokenUserInfo*> CurrentTokenUser() {
  static const boost::system::result<TokenUserInfo> cached =
      []() -> boost::system::result<TokenUserInfo> {
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return LastError();
    auto info = QueryTokenUser(token);
    ::CloseHandle(token);
    return info;
  }();
  if (!cached) return cached.error();
  return &*cached;
}

boost::system::result<std::string> SidToString(PSID sid) {
  wchar_t* text = nullptr;
  if (!::ConvertSidToStringSidW(sid, &text)) return LastError();
  std::string out = WideToUtf8(text);
  ::LocalFree(text);
  return out;
}

SecurityAttributes::SecurityAttributes(PSECURITY_DESCRIPTOR descriptor) noexcept
    : descriptor_(descriptor) {
  attributes_.nLength = sizeof(attributes_);
  attributes_.lpSecurityDescriptor = descriptor_;
  attributes_.bInheritHandle = FALSE;
}

SecurityAttributes::SecurityAttributes(SecurityAttributes&& other) noexcept
    : SecurityAttributes(std::exchange(other.descriptor_, nullptr)) {}

SecurityAttributes::~SecurityAttributes() {
  if (descriptor_) ::LocalFree(descriptor_);
}

boost::system::result<SecurityAttributes> SecurityAttributes::FromSddl(const std::wstring& sddl) {
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                              &descriptor, nullptr)) {
    return LastError();
  }
  return SecurityAttributes(descriptor);
}

boost::system::result<SecurityAttributes> SecurityAttributes::CurrentUserOnly() {
  auto user = CurrentTokenUser();
  if (!user) return user.error();
  auto sid = SidToString((*user)->sid());
  if (!sid) return sid.error();
  return FromSddl(L"D:P(A;;GA;;;" + Utf8ToWide(*sid) + L")");
}

std::wstring PipePath(std::string_view address) {
  static constexpr std::wstring_view kPrefix = L"\\\\.\\pipe\\";
  std::wstring path = Utf8ToWide(address);
  bool prefixed = path.size() >= kPrefix.size();
  for (std::size_t i = 0; prefixed && i < kPrefix.size(); ++i) {
    prefixed = std::towlower(path[i]) == kPrefix[i];
  }
  return prefixed ? path : std::wstring(kPrefix) + path;
}

boost::system::result<HANDLE> CreatePipeInstance(const std::wstring& path, bool first_instance,
                                                 DWORD max_instances,
                                                 SecurityAttributes& security) {
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  if (first_instance) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  HANDLE pipe = ::CreateNamedPipeW(
      path.c_str(), open_mode,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, max_instances,
      kPipeBufferBytes, kPipeBufferBytes, 0, security.get());
  if (pipe == INVALID_HANDLE_VALUE) return LastError();
  return pipe;
}

HANDLE OpenPipeClient(const std::wstring& path) noexcept {
  return ::CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                       FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                       nullptr);
}

PeerIdentity QueryPipeClient(HANDLE server_pipe) {
  PeerIdentity peer;
  ULONG pid = 0;
  if (!::GetNamedPipeClientProcessId(server_pipe, &pid) || pid == 0) return peer;
  peer.pid = pid;
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return peer;
  HANDLE token = nullptr;
  if (::OpenProcessToken(process, TOKEN_QUERY, &token)) {
    if (auto user = QueryTokenUser(token)) {
      if (auto text = SidToString(user->sid())) peer.user_sid = std::move(*text);
      auto mine = CurrentTokenUser();
      peer.same_user = mine && ::EqualSid(user->sid(), (*mine)->sid());
    }
    ::CloseHandle(token);
  }
  ::CloseHandle(process);
  return peer;
}

namespace {

// One row of SystemExtendedHandleInformation (class 64), as ntdll fills it.
struct SystemHandleEntryEx {
  void* object;
  ULONG_PTR process_id;
  ULONG_PTR handle_value;
  ULONG granted_access;
  USHORT creator_back_trace_index;
  USHORT object_type_index;
  ULONG handle_attributes;
  ULONG reserved;
};
struct SystemHandleInformationEx {
  ULONG_PTR count;
  ULONG_PTR reserved;
  SystemHandleEntryEx handles[1];
};
constexpr int kSystemExtendedHandleInformation = 64;
constexpr NTSTATUS kStatusInfoLengthMismatch = static_cast<NTSTATUS>(0xC0000004L);

}  // namespace

boost::system::result<std::size_t> CountProcessHandles(DWORD pid) {
  std::vector<unsigned char> buffer(256 * 1024);
  for (;;) {
    ULONG needed = 0;
    NTSTATUS status = ::NtQuerySystemInformation(
        static_cast<SYSTEM_INFORMATION_CLASS>(kSystemExtendedHandleInformation), buffer.data(),
        static_cast<ULONG>(buffer.size()), &needed);
    if (status == kStatusInfoLengthMismatch && buffer.size() < (256u << 20)) {
      buffer.resize(std::max<std::size_t>(buffer.size() * 2, needed + 64 * 1024));
      continue;
    }
    if (status != 0) return SystemError(::RtlNtStatusToDosError(status));
    break;
  }
  const auto* table = reinterpret_cast<const SystemHandleInformationEx*>(buffer.data());
  std::size_t count = 0;
  for (ULONG_PTR i = 0; i < table->count; ++i) {
    if (table->handles[i].process_id == pid) ++count;
  }
  return count;
}

boost::system::result<std::shared_ptr<EventOp>> EventOp::Create(asio::any_io_executor executor,
                                                                bool off_port) {
  // Manual-reset, initially clear, unnamed; nullptr attributes: not inheritable.
  HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (!event) return LastError();
  return std::make_shared<EventOp>(std::move(executor), event, off_port);
}

EventOp::EventOp(asio::any_io_executor executor, HANDLE event, bool off_port) noexcept
    : waiter_(executor, event), wakeup_(executor), off_port_(off_port) {}

OVERLAPPED* EventOp::Begin(HANDLE file) noexcept {
  HANDLE event = waiter_.native_handle();
  ::ResetEvent(event);
  overlapped_ = OVERLAPPED{};
  drained_done_ = false;
  // The tag bit is ignored where the handle names the event (waits, and
  // the kernel signalling it); it only keeps the packet off the port.
  overlapped_.hEvent =
      off_port_ ? reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(event) | 1) : event;
  file_ = file;
  return &overlapped_;
}

void EventOp::CancelAndDrain() noexcept {
  if (!pending_) return;
  ::CancelIoEx(file_, &overlapped_);
  // The operation may have finished before the cancel reached it: that
  // outcome is kept (a write that went out must not be reported lost).
  DWORD bytes = 0;
  drained_done_ = ::GetOverlappedResult(file_, &overlapped_, &bytes, TRUE) != FALSE;
  drained_bytes_ = bytes;
  pending_ = false;
}

boost::system::result<DWORD> EventOp::DrainedResult() const noexcept {
  if (drained_done_) return drained_bytes_;
  return error_code(asio::error::operation_aborted);
}

void EventOp::Abandon() noexcept {
  abandoned_ = true;
  wakeup_.cancel();
  // Closes the event now: a cancelled wait's handler may keep this object
  // alive until the io_context runs again, but not the kernel event.
  error_code ignored;
  waiter_.close(ignored);
}

boost::system::result<DWORD> EventOp::Result() noexcept {
  DWORD bytes = 0;
  if (!::GetOverlappedResult(file_, &overlapped_, &bytes, FALSE)) return LastError();
  return bytes;
}

asio::awaitable<boost::system::result<DWORD>> AwaitEventOp(std::shared_ptr<EventOp> op) {
  op->pending_ = true;
  op->signaled_ = false;
  const std::uint64_t generation = ++op->generation_;
  // The handler only records the event and wakes the coroutine; a late
  // handler of an earlier (cancelled) operation does nothing.
  op->waiter_.async_wait([op, generation](const error_code& ec) {
    if (op->generation_ != generation) return;
    if (!ec) op->signaled_ = true;
    op->wakeup_.cancel();
  });
  op->wakeup_.expires_at(asio::steady_timer::time_point::max());
  error_code ec;
  co_await op->wakeup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  // The owner closed the file meanwhile and already drained the OVERLAPPED;
  // an operation the kernel had finished by then still reports its bytes.
  if (op->abandoned_) co_return op->DrainedResult();
  if (!op->signaled_) {
    // Per-operation cancellation of this coroutine, or the wait failed.
    ++op->generation_;
    op->CancelAndDrain();
    co_return op->DrainedResult();
  }
  auto result = op->Result();
  op->pending_ = false;
  co_return result;
}

}  // namespace rp::platform::win
