// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Canonical v1 endpoint names and where they live on each OS (spec §3.2,
// §4.6). Everything here is a pure function of its arguments except the
// Current* helpers, which ask rp::platform for this host's facts. Nothing
// here touches the filesystem.

#include "rp/transport/endpoint_names.h"

#include <stdexcept>

#include <boost/throw_exception.hpp>

#include "blake3.h"

namespace rp::transport {
namespace {

constexpr std::size_t kMaxServiceNameBytes = 64;
constexpr std::size_t kMaxVersionBytes = 64;
constexpr std::size_t kUserHashChars = 16;
constexpr std::string_view kNamePrefix = "rpb-v1-";
constexpr std::string_view kPipePrefix = "\\\\.\\pipe\\";

// sun_path is 108 bytes on Linux and 104 on macOS, including the NUL.
constexpr std::size_t kLinuxMaxSocketPath = 107;
constexpr std::size_t kMacMaxSocketPath = 103;
constexpr std::size_t kWindowsMaxPath = 260;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); }
char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// One or more ASCII digits.
bool IsDigitRun(std::string_view run) {
  if (run.empty()) return false;
  for (char c : run) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

NameError MakeError(NameError::Kind kind) {
  NameError error;
  error.kind = kind;
  return error;
}

NameError PathTooLong(std::size_t length, std::size_t max, std::string label) {
  NameError error;
  error.kind = NameError::Kind::kPathTooLong;
  error.length = length;
  error.max = max;
  error.label = std::move(label);
  return error;
}

// Appends `leaf` to `base` with exactly one '/' between them, the way a
// path join does (TMPDIR on macOS usually ends with '/').
std::string JoinPath(std::string_view base, std::string_view leaf) {
  std::string out(base);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(leaf);
  return out;
}

NameResult<std::string> NameWithSuffix(std::string_view user_hash, std::string_view suffix) {
  if (!IsValidUserHash(user_hash)) return MakeError(NameError::Kind::kInvalidUserHash);
  std::string name(kNamePrefix);
  name.append(user_hash);
  name.push_back('-');
  name.append(suffix);
  return name;
}

}  // namespace

std::string NameError::message() const {
  switch (kind) {
    case Kind::kInvalidService:
      return "invalid service name (expected [a-z0-9-]{1,64})";
    case Kind::kInvalidInstance:
      return "invalid instance name (expected [a-z0-9-]{1,64})";
    case Kind::kInvalidUserHash:
      return "invalid user hash (expected 16 lowercase hex characters)";
    case Kind::kPathTooLong:
      return "endpoint path of " + std::to_string(length) + " bytes exceeds the " + label +
             " limit of " + std::to_string(max) + " bytes";
    case Kind::kNoIdentity:
      return "could not determine this user's identity";
  }
  return "invalid endpoint name";
}

void throw_exception_from_error(const NameError& error, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(error.message()), loc);
}

bool IsValidServiceName(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxServiceNameBytes) return false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsValidVersion(std::string_view version) noexcept {
  if (version.empty() || version.size() > kMaxVersionBytes) return false;
  // Split at the first '-': a later '-' therefore lands in the tail, where
  // it is not allowed ("1.0.0-rc-1" is rejected).
  std::string_view core = version;
  const std::size_t dash = version.find('-');
  if (dash != std::string_view::npos) {
    core = version.substr(0, dash);
    const std::string_view tail = version.substr(dash + 1);
    if (tail.empty()) return false;
    for (char c : tail) {
      if (!IsLowerAlnum(c) && c != '.') return false;
    }
  }
  // Exactly MAJOR.MINOR.PATCH.
  const std::size_t first = core.find('.');
  if (first == std::string_view::npos) return false;
  const std::size_t second = core.find('.', first + 1);
  if (second == std::string_view::npos) return false;
  return IsDigitRun(core.substr(0, first)) &&
         IsDigitRun(core.substr(first + 1, second - first - 1)) &&
         IsDigitRun(core.substr(second + 1));
}

bool IsValidUserHash(std::string_view hash) noexcept {
  if (hash.size() != kUserHashChars) return false;
  for (char c : hash) {
    if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

std::array<std::uint8_t, 32> Blake3(std::span<const std::uint8_t> data) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, data.data(), data.size());
  std::array<std::uint8_t, 32> digest{};
  blake3_hasher_finalize(&hasher, digest.data(), digest.size());
  return digest;
}

std::string ToLowerHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

std::string UserHashFromIdentity(std::string_view identity) {
  const auto digest = Blake3(std::span(reinterpret_cast<const std::uint8_t*>(identity.data()),
                                       identity.size()));
  return ToLowerHex(std::span(digest).first(8));
}

NameResult<std::string> SharedBrokerName(std::string_view user_hash) {
  return NameWithSuffix(user_hash, "shared");
}

NameResult<std::string> PrivateBrokerName(std::string_view user_hash, std::string_view service) {
  if (!IsValidUserHash(user_hash)) return MakeError(NameError::Kind::kInvalidUserHash);
  if (!IsValidServiceName(service)) return MakeError(NameError::Kind::kInvalidService);
  return NameWithSuffix(user_hash, "svc-" + std::string(service));
}

NameResult<std::string> InstanceBrokerName(std::string_view user_hash,
                                           std::string_view instance) {
  if (!IsValidUserHash(user_hash)) return MakeError(NameError::Kind::kInvalidUserHash);
  if (!IsValidServiceName(instance)) return MakeError(NameError::Kind::kInvalidInstance);
  return NameWithSuffix(user_hash, "inst-" + std::string(instance));
}

NameResult<std::string> BackendName(std::string_view user_hash,
                                    std::span<const std::uint8_t, 16> random128) {
  return NameWithSuffix(user_hash, "be-" + ToLowerHex(random128));
}

NameResult<std::string> EndpointAddress(platform::OsFlavor os,
                                        const std::optional<std::string>& runtime_dir,
                                        std::uint32_t uid, std::string_view bare_name) {
  const bool have_runtime_dir = runtime_dir.has_value() && !runtime_dir->empty();
  const std::string uid_text = std::to_string(uid);
  switch (os) {
    case platform::OsFlavor::kLinux: {
      const std::string dir =
          have_runtime_dir ? JoinPath(*runtime_dir, "running-process/broker")
                           : "/tmp/running-process-" + uid_text + "/broker";
      std::string path = JoinPath(dir, std::string(bare_name) + ".sock");
      if (path.size() > kLinuxMaxSocketPath) {
        return PathTooLong(path.size(), kLinuxMaxSocketPath, "Linux sun_path");
      }
      return path;
    }
    case platform::OsFlavor::kMacOS: {
      // macOS sun_path is short and TMPDIR long, so the leaf is a fixed
      // 21 characters: 16 hex digits of BLAKE3(name) plus ".sock".
      const auto digest = Blake3(std::span(
          reinterpret_cast<const std::uint8_t*>(bare_name.data()), bare_name.size()));
      const std::string dir =
          JoinPath(have_runtime_dir ? std::string_view(*runtime_dir) : "/tmp", ".rp-" + uid_text);
      std::string path = JoinPath(dir, ToLowerHex(std::span(digest).first(8)) + ".sock");
      if (path.size() > kMacMaxSocketPath) {
        return PathTooLong(path.size(), kMacMaxSocketPath, "macOS sun_path");
      }
      return path;
    }
    case platform::OsFlavor::kWindows: {
      // Accept an already prefixed name rather than doubling the prefix.
      std::string path = std::string(kPipePrefix) + StripPipePrefix(bare_name);
      if (path.size() > kWindowsMaxPath) {
        return PathTooLong(path.size(), kWindowsMaxPath, "Windows MAX_PATH");
      }
      return path;
    }
  }
  // Not reached: every OsFlavor is handled above.
  return MakeError(NameError::Kind::kNoIdentity);
}

NameResult<std::string> CurrentUserHash() {
  auto identity = platform::CurrentUserIdentityString();
  if (!identity) return MakeError(NameError::Kind::kNoIdentity);
  return UserHashFromIdentity(*identity);
}

NameResult<std::string> CurrentSharedBrokerAddress() {
  auto hash = CurrentUserHash();
  if (!hash) return hash.error();
  auto name = SharedBrokerName(*hash);
  if (!name) return name.error();
  return CurrentAddressForName(*name);
}

NameResult<std::string> CurrentAddressForName(std::string_view bare_name) {
  return EndpointAddress(platform::CurrentOs(), platform::RuntimeDirectoryFromEnvironment(),
                         platform::CurrentUid(), bare_name);
}

std::string StripPipePrefix(std::string_view name) {
  if (name.size() < kPipePrefix.size()) return std::string(name);
  for (std::size_t i = 0; i < kPipePrefix.size(); ++i) {
    char c = AsciiLower(name[i]);
    if (c == '/') c = '\\';
    if (c != kPipePrefix[i]) return std::string(name);
  }
  return std::string(name.substr(kPipePrefix.size()));
}

}  // namespace rp::transport
