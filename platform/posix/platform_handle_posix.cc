// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/platform/platform_handle.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "posix/posix_compat.h"

namespace rp::platform {

using boost::system::error_code;
using boost::system::system_category;

NativeHandle PlatformHandle::InvalidValue() noexcept { return -1; }

bool PlatformHandle::is_valid() const noexcept { return handle_ >= 0; }

void PlatformHandle::reset(NativeHandle handle) noexcept {
  if (handle_ >= 0 && handle_ != handle) {
    // Note: on Linux the fd is released even when close() reports EINTR, so
    // it is never retried (https://lwn.net/Articles/576478/).
    ::close(handle_);
  }
  handle_ = handle;
}

boost::system::result<PlatformHandle> PlatformHandle::Clone() const {
  int fd = ::fcntl(handle_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return error_code(errno, system_category());
  return PlatformHandle(fd);
}

std::string PlatformHandle::ToDecimalString() const { return std::to_string(handle_); }

boost::system::result<PlatformHandle> PlatformHandle::FromDecimalString(std::string_view text) {
  int fd = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
  if (ec != std::errc() || end != text.data() + text.size() || fd < 0) {
    return error_code(EINVAL, system_category());
  }
  if (::fcntl(fd, F_GETFD) < 0) return error_code(errno, system_category());
  return PlatformHandle(fd);
}

boost::system::result<std::size_t> CountOpenHandles() {
  DIR* dir = ::opendir(posix::OpenFdDirectory());
  if (!dir) return error_code(errno, system_category());
  std::size_t count = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory stream's own fd
}

}  // namespace rp::platform
