// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <linux/close_range.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "posix/posix_compat.h"

namespace rp::platform::posix {

void CloseFdsExcept(int low, const int* keep, int keep_count) {
  unsigned next = static_cast<unsigned>(low);
  for (int i = 0; i < keep_count; ++i) {
    if (keep[i] < low) continue;
    unsigned k = static_cast<unsigned>(keep[i]);
    if (k > next) ::syscall(SYS_close_range, next, k - 1, 0);
    next = k + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0);
}

const char* OpenFdDirectory() { return "/proc/self/fd"; }

bool IsZombie(std::uint32_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');  // the name may hold spaces and parentheses
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

int OpenProcessExitFd(std::uint32_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
}

std::string OpenFdDirectoryOf(std::uint32_t pid) { return "/proc/" + std::to_string(pid) + "/fd"; }

// The first field of /proc/<pid>/schedstat is the time the task group has
// run on a CPU, in nanoseconds (finer than stat's clock ticks).
boost::system::error_code ProcessCpuNanoseconds(std::uint32_t pid, std::uint64_t* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  if (!(in >> *out)) {
    return boost::system::error_code(ENOENT, boost::system::system_category());
  }
  return {};
}

boost::system::error_code FillRandom(std::uint8_t* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::getrandom(out + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return boost::system::error_code(errno, boost::system::system_category());
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace rp::platform::posix
