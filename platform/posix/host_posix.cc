// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Host facts shared by Linux and macOS; the OS-specific ones live in
// host_identity_{linux,macos}.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "rp/platform/errors.h"
#include "rp/platform/host.h"

namespace rp::platform {

using boost::system::error_code;
using boost::system::system_category;

std::uint32_t CurrentUid() noexcept { return static_cast<std::uint32_t>(::getuid()); }

error_code EnsurePrivateDirectory(const std::string& path) {
  if (path.empty()) return error_code(EINVAL, system_category());
  // Create each missing component; existing parents are left as they are.
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return error_code(errno, system_category());
    }
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return error_code(errno, system_category());
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return make_error_code(Error::kInsecureDirectory);
  }
  return {};
}

std::string CurrentHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

}  // namespace rp::platform
