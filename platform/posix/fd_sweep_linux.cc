// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

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

}  // namespace rp::platform::posix
