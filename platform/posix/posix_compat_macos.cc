// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// macOS has no close_range(2); walk up to the descriptor table size.
#include <libproc.h>
#include <mach/mach_time.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "posix/posix_compat.h"

namespace rp::platform::posix {

void CloseFdsExcept(int low, const int* keep, int keep_count) {
  int max_fd = ::getdtablesize();
  int k = 0;
  for (int fd = low; fd < max_fd; ++fd) {
    while (k < keep_count && keep[k] < fd) ++k;
    if (k < keep_count && keep[k] == fd) continue;
    ::close(fd);
  }
}

const char* OpenFdDirectory() { return "/dev/fd"; }

int OpenProcessExitFd(std::uint32_t) { return -1; }

bool IsZombie(std::uint32_t) { return false; }

// macOS has no per-process fd directory for other processes; callers get
// ENOTSUP from CountOpenHandlesOf.
std::string OpenFdDirectoryOf(std::uint32_t) { return ""; }

// proc_pid_rusage reports CPU time in Mach absolute-time units.
boost::system::error_code ProcessCpuNanoseconds(std::uint32_t pid, std::uint64_t* out) {
  rusage_info_v2 usage{};
  if (::proc_pid_rusage(static_cast<int>(pid), RUSAGE_INFO_V2,
                        reinterpret_cast<rusage_info_t*>(&usage)) != 0) {
    return boost::system::error_code(errno, boost::system::system_category());
  }
  mach_timebase_info_data_t base{};
  ::mach_timebase_info(&base);
  *out = (usage.ri_user_time + usage.ri_system_time) * base.numer / base.denom;
  return {};
}

boost::system::error_code FillRandom(std::uint8_t* out, std::size_t size) {
  ::arc4random_buf(out, size);
  return {};
}

}  // namespace rp::platform::posix
