// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// macOS has no close_range(2); walk up to the descriptor table size.
#include <stdlib.h>
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

// macOS has no per-process fd directory for other processes; callers get
// ENOTSUP from CountOpenHandlesOf.
std::string OpenFdDirectoryOf(std::uint32_t) { return ""; }

boost::system::error_code FillRandom(std::uint8_t* out, std::size_t size) {
  ::arc4random_buf(out, size);
  return {};
}

}  // namespace rp::platform::posix
