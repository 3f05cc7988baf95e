// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/platform/system.h"

#include <windows.h>
#include <aclapi.h>
#include <bcrypt.h>
#include <sddl.h>

#include <boost/asio/error.hpp>

#include "rp/platform/errors.h"
#include "win/win_support.h"

namespace rp::platform {

using boost::system::error_code;
using boost::system::system_category;

namespace {

error_code LastError() { return error_code(static_cast<int>(::GetLastError()), system_category()); }

std::wstring Widen(const std::string& s) {
  if (s.empty()) return {};
  int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n);
  return out;
}

// Note: Wine 8 reads a directory's DACL back synthesized from its Unix mode
// bits, never as set (measured; see EnsurePrivateDirectory in host_win.cc),
// so a read-back check cannot pass there. Wine is recognised by ntdll's
// wine_get_version export.
bool RunningUnderWine() {
  HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

}  // namespace

error_code RandomBytes(std::span<std::uint8_t> out) {
  NTSTATUS status = ::BCryptGenRandom(nullptr, out.data(), static_cast<ULONG>(out.size()),
                                      BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  if (status != 0) return error_code(static_cast<int>(status), system_category());
  return {};
}

error_code MoveFileOver(const std::string& source, const std::string& target) {
  if (!::MoveFileExW(Widen(source).c_str(), Widen(target).c_str(),
                     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return LastError();
  }
  return {};
}

// A directory is private when its DACL is protected and every allow entry
// names the owner (or Owner Rights) or SYSTEM: what EnsurePrivateDirectory
// applies.
error_code CheckPrivateDirectory(const std::string& path) {
  std::wstring wide = Widen(path);
  DWORD attributes = ::GetFileAttributesW(wide.c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES) {
    return error_code(boost::system::errc::no_such_file_or_directory,
                      boost::system::generic_category());
  }
  if (!(attributes & FILE_ATTRIBUTE_DIRECTORY) || (attributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
    return make_error_code(Error::kInsecureDirectory);
  }
  if (RunningUnderWine()) return {};  // see RunningUnderWine()
  PSECURITY_DESCRIPTOR sd = nullptr;
  PACL dacl = nullptr;
  PSID owner = nullptr;
  DWORD rc = ::GetNamedSecurityInfoW(wide.c_str(), SE_FILE_OBJECT,
                                     DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
                                     &owner, nullptr, &dacl, nullptr, &sd);
  if (rc != ERROR_SUCCESS) return error_code(static_cast<int>(rc), system_category());
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  bool ok = dacl != nullptr && ::GetSecurityDescriptorControl(sd, &control, &revision) &&
            (control & SE_DACL_PROTECTED);
  PSID system_sid = nullptr;
  ::ConvertStringSidToSidW(L"S-1-5-18", &system_sid);
  for (DWORD i = 0; ok && i < dacl->AceCount; ++i) {
    ACE_HEADER* header = nullptr;
    if (!::GetAce(dacl, i, reinterpret_cast<void**>(&header))) {
      ok = false;
    } else if (header->AceType == ACCESS_ALLOWED_ACE_TYPE) {
      PSID sid = &reinterpret_cast<ACCESS_ALLOWED_ACE*>(header)->SidStart;
      // OW in the applied SDDL is the Owner Rights SID (S-1-3-4).
      ok = ::EqualSid(sid, owner) || (system_sid && ::EqualSid(sid, system_sid)) ||
           ::IsWellKnownSid(sid, WinCreatorOwnerRightsSid);
    }
  }
  if (system_sid) ::LocalFree(system_sid);
  ::LocalFree(sd);
  return ok ? error_code() : make_error_code(Error::kInsecureDirectory);
}

bool IsPrivilegedProcess(std::string* identity) {
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  alignas(TOKEN_USER) unsigned char buffer[256];
  DWORD size = 0;
  bool system = false;
  if (::GetTokenInformation(token, TokenUser, buffer, sizeof(buffer), &size)) {
    system = ::IsWellKnownSid(reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid,
                              WinLocalSystemSid);
  }
  ::CloseHandle(token);
  if (system && identity) *identity = "Windows LocalSystem (S-1-5-18)";
  return system;
}

error_code SetOpenFileLimit(std::uint64_t) { return {}; }

double OpenFileUsageRatio() { return 0.0; }

error_code KillProcess(std::uint32_t pid) {
  HANDLE process = ::OpenProcess(PROCESS_TERMINATE, FALSE, pid);
  if (!process) return LastError();
  BOOL ok = ::TerminateProcess(process, 1);
  error_code ec = ok ? error_code() : LastError();
  ::CloseHandle(process);
  return ec;
}

error_code RequestTermination(std::uint32_t) {
  return error_code(boost::asio::error::operation_not_supported);
}

error_code SwitchUser(std::uint32_t, std::uint32_t) {
  return error_code(boost::asio::error::operation_not_supported);
}

boost::system::result<std::size_t> CountOpenHandlesOf(std::uint32_t pid) {
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return LastError();
  DWORD count = 0;
  BOOL ok = ::GetProcessHandleCount(process, &count);
  error_code ec = ok ? error_code() : LastError();
  ::CloseHandle(process);
  if (ec) return ec;
  // Note: Wine 8 always reports 0 here; the system handle table is right.
  if (count == 0) return win::CountProcessHandles(pid);
  return static_cast<std::size_t>(count);
}

boost::system::result<std::optional<InodeCounts>> InodeCountsOf(const std::string&) {
  return std::optional<InodeCounts>();  // NTFS has no inode budget to run out of
}

std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> bytes) {
  std::array<std::uint8_t, 32> digest{};
  BCRYPT_ALG_HANDLE algorithm = nullptr;
  BCRYPT_HASH_HANDLE hash = nullptr;
  if (BCRYPT_SUCCESS(::BCryptOpenAlgorithmProvider(&algorithm, BCRYPT_SHA256_ALGORITHM, nullptr, 0))) {
    if (BCRYPT_SUCCESS(::BCryptCreateHash(algorithm, &hash, nullptr, 0, nullptr, 0, 0))) {
      ::BCryptHashData(hash, const_cast<PUCHAR>(bytes.data()), static_cast<ULONG>(bytes.size()), 0);
      ::BCryptFinishHash(hash, digest.data(), static_cast<ULONG>(digest.size()), 0);
      ::BCryptDestroyHash(hash);
    }
    ::BCryptCloseAlgorithmProvider(algorithm, 0);
  }
  return digest;
}

boost::system::result<FileStamp> StampFile(const std::string& path, bool follow_symlinks) {
  DWORD flags = FILE_FLAG_BACKUP_SEMANTICS;  // directories open too
  if (!follow_symlinks) flags |= FILE_FLAG_OPEN_REPARSE_POINT;
  HANDLE file = ::CreateFileW(win::Utf8ToWide(path).c_str(), FILE_READ_ATTRIBUTES,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                              OPEN_EXISTING, flags, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    DWORD error = ::GetLastError();
    if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND) {
      return make_error_code(boost::system::errc::no_such_file_or_directory);
    }
    return error_code(static_cast<int>(error), system_category());
  }
  BY_HANDLE_FILE_INFORMATION info{};
  BOOL ok = ::GetFileInformationByHandle(file, &info);
  error_code ec = ok ? error_code() : LastError();
  ::CloseHandle(file);
  if (ec) return ec;
  auto join = [](DWORD high, DWORD low) {
    return (static_cast<std::uint64_t>(high) << 32) | low;
  };
  FileStamp stamp;
  stamp.regular =
      (info.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT |
                                FILE_ATTRIBUTE_DEVICE)) == 0;
  stamp.size = join(info.nFileSizeHigh, info.nFileSizeLow);
  stamp.modified_ns = static_cast<std::int64_t>(
      join(info.ftLastWriteTime.dwHighDateTime, info.ftLastWriteTime.dwLowDateTime) * 100);
  stamp.changed_ns = static_cast<std::int64_t>(
      join(info.ftCreationTime.dwHighDateTime, info.ftCreationTime.dwLowDateTime) * 100);
  stamp.file_id = join(info.nFileIndexHigh, info.nFileIndexLow) ^
                  (static_cast<std::uint64_t>(info.dwVolumeSerialNumber) << 32);
  return stamp;
}

boost::system::result<std::chrono::nanoseconds> ProcessCpuTime(std::uint32_t pid) {
  // Wine answers for another process with numbers that are not its own
  // (the same for the broker, the backend and the caller, measured): not
  // reported there rather than wrong.
  if (pid != ::GetCurrentProcessId() && RunningUnderWine()) {
    return make_error_code(boost::system::errc::not_supported);
  }
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return LastError();
  FILETIME created{}, exited{}, kernel{}, user{};
  BOOL ok = ::GetProcessTimes(process, &created, &exited, &kernel, &user);
  error_code ec = ok ? error_code() : LastError();
  ::CloseHandle(process);
  if (ec) return ec;
  auto ticks = [](const FILETIME& t) {  // 100 ns units
    return (static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime;
  };
  return std::chrono::nanoseconds((ticks(kernel) + ticks(user)) * 100);
}

bool ProcessExists(std::uint32_t pid) {
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return false;
  DWORD code = 0;
  bool alive = ::GetExitCodeProcess(process, &code) && code == STILL_ACTIVE;
  ::CloseHandle(process);
  return alive;
}

DescriptorReserve::DescriptorReserve() = default;
bool DescriptorReserve::Release() { return false; }
bool DescriptorReserve::Reacquire() { return false; }

bool IsResourceExhaustion(const error_code& ec) noexcept {
  if (ec.category() != system_category()) return false;
  switch (ec.value()) {
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_TOO_MANY_OPEN_FILES:
      return true;
    default:
      return false;
  }
}

}  // namespace rp::platform
