// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// macOS host identity. Untested here (no macOS runner); kept to the spec.
#include <libproc.h>
#include <mach-o/dyld.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <unistd.h>

#include <climits>
#include <cstdint>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"

namespace rp::platform {

using boost::system::error_code;
using boost::system::system_category;

OsFlavor CurrentOs() noexcept { return OsFlavor::kMacOS; }

std::string CurrentBootId() {
  struct timeval boot {};
  std::size_t size = sizeof(boot);
  if (::sysctlbyname("kern.boottime", &boot, &size, nullptr, 0) != 0) return "";
  return "macos-boot-" + std::to_string(boot.tv_sec) + "-" + std::to_string(boot.tv_usec);
}

// "{uid}:{IOPlatformUUID}", the UUID parsed from
// `ioreg -d2 -c IOPlatformExpertDevice` (the line starting with
// "IOPlatformUUID", the value after '=', quotes trimmed).
boost::system::result<std::string> CurrentUserIdentityString() {
  FILE* pipe = ::popen("/usr/sbin/ioreg -d2 -c IOPlatformExpertDevice", "r");
  if (!pipe) return error_code(errno, system_category());
  std::string uuid;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string s(line);
    auto start = s.find_first_not_of(" \t|");
    if (start == std::string::npos || s.compare(start, 16, "\"IOPlatformUUID\"") != 0) continue;
    auto eq = s.find('=', start);
    if (eq == std::string::npos) continue;
    uuid = s.substr(eq + 1);
    auto b = uuid.find_first_not_of(" \t\"");
    auto e = uuid.find_last_not_of(" \t\"\r\n");
    uuid = (b == std::string::npos) ? std::string() : uuid.substr(b, e - b + 1);
    break;
  }
  ::pclose(pipe);
  if (uuid.empty()) return error_code(ENOENT, system_category());
  return std::to_string(::getuid()) + ":" + uuid;
}

std::optional<std::string> RuntimeDirectoryFromEnvironment() {
  const char* dir = std::getenv("TMPDIR");
  if (!dir || !*dir) return std::nullopt;
  return std::string(dir);
}

std::string CurrentMachineId() { return "macos-" + CurrentHostName(); }

boost::system::result<std::string> ExecutablePathOf(std::uint32_t pid) {
  char path[PROC_PIDPATHINFO_MAXSIZE];
  if (::proc_pidpath(static_cast<int>(pid), path, sizeof(path)) <= 0) {
    return error_code(errno, system_category());
  }
  return std::string(path);
}

boost::system::result<std::string> CurrentExecutablePath() {
  char raw[PATH_MAX];
  std::uint32_t size = sizeof(raw);
  if (_NSGetExecutablePath(raw, &size) != 0) return error_code(ENAMETOOLONG, system_category());
  char resolved[PATH_MAX];
  if (!::realpath(raw, resolved)) return error_code(errno, system_category());
  return std::string(resolved);
}

}  // namespace rp::platform
