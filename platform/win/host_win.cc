// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Host facts on Windows: the user's SID identity string and private
// directories protected by an owner+SYSTEM DACL (spec §4.6-4.7).
#include "rp/platform/host.h"

#include <aclapi.h>
#include <windows.h>

#include <cstring>

#include <boost/system/errc.hpp>

#include "rp/platform/errors.h"
#include "win/win_support.h"

namespace rp::platform {
namespace {

using boost::system::error_code;

// Owner rights + SYSTEM, full control, inherited by files and folders.
constexpr wchar_t kPrivateDirectorySddl[] = L"D:P(A;OICI;FA;;;OW)(A;OICI;FA;;;SY)";

bool IsSeparator(wchar_t c) { return c == L'\\' || c == L'/'; }

// Index where the first creatable component starts: after "C:\", after
// "\\server\share\" or "\\?\C:\", or 0 for a relative path.
std::size_t FirstComponent(const std::wstring& path) {
  if (path.size() >= 2 && IsSeparator(path[0]) && IsSeparator(path[1])) {
    std::size_t seen = 0;
    for (std::size_t i = 2; i < path.size(); ++i) {
      if (IsSeparator(path[i]) && ++seen == 2) return i + 1;
    }
    return path.size();
  }
  if (path.size() >= 2 && path[1] == L':') return path.size() >= 3 ? 3 : 2;
  return 0;
}

error_code CreateDirectoryIfMissing(const std::wstring& path, SECURITY_ATTRIBUTES* security) {
  if (::CreateDirectoryW(path.c_str(), security)) return {};
  DWORD error = ::GetLastError();
  if (error == ERROR_ALREADY_EXISTS) return {};
  // A drive or share root answers "access denied" although it exists.
  DWORD attributes = ::GetFileAttributesW(path.c_str());
  if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY)) return {};
  return win::SystemError(error);
}

// True when `path` carries exactly the protected DACL of `wanted`.
bool HasExactDacl(const std::wstring& path, PACL wanted) {
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (::GetNamedSecurityInfoW(path.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                              nullptr, &dacl, nullptr, &descriptor) != ERROR_SUCCESS) {
    return false;
  }
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  bool same = ::GetSecurityDescriptorControl(descriptor, &control, &revision) &&
              (control & SE_DACL_PROTECTED) && dacl && wanted && dacl->AclSize == wanted->AclSize &&
              std::memcmp(dacl, wanted, wanted->AclSize) == 0;
  ::LocalFree(descriptor);
  return same;
}

}  // namespace

OsFlavor CurrentOs() noexcept { return OsFlavor::kWindows; }

std::string CurrentHostName() {
  wchar_t name[MAX_COMPUTERNAME_LENGTH + 1] = {};
  DWORD size = MAX_COMPUTERNAME_LENGTH + 1;
  if (!::GetComputerNameW(name, &size) || size == 0) return "unknown";
  return win::WideToUtf8(std::wstring(name, size));
}

std::string CurrentMachineId() {
  wchar_t guid[128] = {};
  DWORD size = sizeof(guid);
  if (::RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography", L"MachineGuid",
                     RRF_RT_REG_SZ, nullptr, guid, &size) != ERROR_SUCCESS || guid[0] == L'\0') {
    return CurrentHostName();
  }
  return win::WideToUtf8(guid);
}

std::string CurrentBootId() {
  DWORD boot = 0;
  DWORD size = sizeof(boot);
  if (::RegGetValueW(HKEY_LOCAL_MACHINE,
                     L"SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory "
                     L"Management\\PrefetchParameters",
                     L"BootId", RRF_RT_REG_DWORD, nullptr, &boot, &size) != ERROR_SUCCESS ||
      size != sizeof(boot)) {
    return "";  // (the NtQueryInformationProcess fallback of the reference is not taken)
  }
  return "windows-boot-" + std::to_string(boot);
}

boost::system::result<std::string> CurrentUserIdentityString() {
  auto user = win::CurrentTokenUser();
  if (!user) return user.error();
  PSID sid = (*user)->sid();
  const auto* bytes = static_cast<const unsigned char*>(sid);
  DWORD length = ::GetLengthSid(sid);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "windows-sid:";
  for (DWORD i = 0; i < length; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

std::uint32_t CurrentUid() noexcept { return 0; }

std::optional<std::string> RuntimeDirectoryFromEnvironment() { return std::nullopt; }

error_code EnsurePrivateDirectory(const std::string& path) {
  std::wstring wide = win::Utf8ToWide(path);
  for (wchar_t& c : wide) {
    if (c == L'/') c = L'\\';
  }
  std::size_t first = FirstComponent(wide);
  while (wide.size() > first && IsSeparator(wide.back())) wide.pop_back();
  if (wide.size() <= first) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  auto security = win::SecurityAttributes::FromSddl(kPrivateDirectorySddl);
  if (!security) return security.error();

  for (std::size_t i = first; i < wide.size(); ++i) {
    if (!IsSeparator(wide[i])) continue;
    if (auto ec = CreateDirectoryIfMissing(wide.substr(0, i), nullptr)) return ec;
  }
  // The leaf is private from birth; an existing one gets the DACL now.
  if (auto ec = CreateDirectoryIfMissing(wide, security->get())) return ec;

  DWORD attributes = ::GetFileAttributesW(wide.c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES) return win::LastError();
  if (!(attributes & FILE_ATTRIBUTE_DIRECTORY) || (attributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
    return make_error_code(Error::kInsecureDirectory);
  }
  BOOL present = FALSE;
  BOOL defaulted = FALSE;
  PACL dacl = nullptr;
  if (!::GetSecurityDescriptorDacl(security->descriptor(), &present, &dacl, &defaulted)) {
    return win::LastError();
  }
  // Spec §4.7: apply the protected DACL unless it is already exactly that.
  // Note: Wine 8 (Debian 8.0~repack-4, measured) reads a directory's DACL
  // back as synthesized from its Unix mode bits: never what was set, never
  // SE_DACL_PROTECTED, and an Everyone entry for the 0775 it creates. A check
  // after setting would always fail there, so success of
  // SetNamedSecurityInfoW is what counts.
  if (HasExactDacl(wide, dacl)) return {};
  DWORD status = ::SetNamedSecurityInfoW(
      wide.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
      nullptr, nullptr, dacl, nullptr);
  if (status != ERROR_SUCCESS) return win::SystemError(status);
  return {};
}

}  // namespace rp::platform
