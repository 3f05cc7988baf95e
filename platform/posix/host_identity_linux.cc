// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"

namespace rp::platform {
namespace {

using boost::system::error_code;
using boost::system::system_category;

std::string Trim(const std::string& s) {
  auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// Reads a whole small file. nullopt when it does not exist; an error when it
// exists but cannot be read (the spec makes that a hard error).
boost::system::result<std::optional<std::string>> ReadIfPresent(const char* path) {
  if (::access(path, F_OK) != 0) return std::optional<std::string>();
  std::ifstream in(path);
  if (!in) return error_code(EACCES, system_category());
  std::ostringstream out;
  out << in.rdbuf();
  return std::optional<std::string>(Trim(out.str()));
}

}  // namespace

OsFlavor CurrentOs() noexcept { return OsFlavor::kLinux; }

std::string CurrentBootId() {
  auto boot = ReadIfPresent("/proc/sys/kernel/random/boot_id");
  return boot && *boot ? **boot : std::string();
}

boost::system::result<std::string> CurrentUserIdentityString() {
  std::string uid = std::to_string(::getuid());
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    auto content = ReadIfPresent(path);
    if (!content) return content.error();
    if (*content && !(*content)->empty()) return uid + ":" + **content;
  }
  auto boot = ReadIfPresent("/proc/sys/kernel/random/boot_id");
  if (!boot) return boot.error();
  if (!*boot || (*boot)->empty()) return error_code(ENOENT, system_category());
  return uid + ":boot:" + **boot;
}

std::optional<std::string> RuntimeDirectoryFromEnvironment() {
  const char* dir = std::getenv("XDG_RUNTIME_DIR");
  if (!dir || !*dir) return std::nullopt;
  return std::string(dir);
}

std::string CurrentMachineId() {
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    auto content = ReadIfPresent(path);
    if (content && *content && !(*content)->empty()) return **content;
  }
  std::string boot = CurrentBootId();
  return boot.empty() ? "unknown" : "boot:" + boot;
}

boost::system::result<std::string> ExecutablePathOf(std::uint32_t pid) {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  if (ec) return error_code(ec.value(), system_category());
  return path.string();
}

boost::system::result<std::string> CurrentExecutablePath() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return error_code(ec.value(), system_category());
  return path.string();
}

}  // namespace rp::platform
