// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/platform/system.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>

#include <openssl/evp.h>

#include "posix/posix_compat.h"
#include "rp/platform/errors.h"
#include "rp/platform/platform_handle.h"

namespace rp::platform {

using boost::system::error_code;
using boost::system::system_category;

boost::system::error_code RandomBytes(std::span<std::uint8_t> out) {
  return posix::FillRandom(out.data(), out.size());
}

error_code MoveFileOver(const std::string& source, const std::string& target) {
  if (::rename(source.c_str(), target.c_str()) != 0) return error_code(errno, system_category());
  std::string dir = std::filesystem::path(target).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);  // make the rename itself durable
    ::close(fd);
  }
  return {};
}

namespace posix {

namespace {
std::atomic<std::int64_t> remembered_euid{-1};
}  // namespace

uid_t EffectiveUid() {
  std::int64_t known = remembered_euid.load(std::memory_order_relaxed);
  if (known >= 0) return static_cast<uid_t>(known);
  uid_t uid = ::geteuid();
  remembered_euid.store(uid, std::memory_order_relaxed);
  return uid;
}

void ForgetEffectiveUid() { remembered_euid.store(-1, std::memory_order_relaxed); }

}  // namespace posix

error_code CheckPrivateDirectory(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return error_code(errno, system_category());
  if (!S_ISDIR(st.st_mode) || st.st_uid != posix::EffectiveUid() || (st.st_mode & 077) != 0) {
    return make_error_code(Error::kInsecureDirectory);
  }
  return {};
}

bool IsPrivilegedProcess(std::string* identity) {
  if (::geteuid() != 0) return false;
  if (identity) *identity = "root (effective uid 0)";
  return true;
}

error_code SetOpenFileLimit(std::uint64_t limit) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return error_code(errno, system_category());
  rl.rlim_cur = static_cast<rlim_t>(limit);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return error_code(errno, system_category());
  return {};
}

double OpenFileUsageRatio() {
  struct rlimit rl {};
  auto open = CountOpenHandles();
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || !open || rl.rlim_cur == 0 ||
      rl.rlim_cur == RLIM_INFINITY) {
    return 0.0;
  }
  return static_cast<double>(*open) / static_cast<double>(rl.rlim_cur);
}

error_code KillProcess(std::uint32_t pid) {
  if (pid == 0 || ::kill(static_cast<pid_t>(pid), SIGKILL) != 0) {
    return error_code(pid == 0 ? EINVAL : errno, system_category());
  }
  return {};
}

error_code RequestTermination(std::uint32_t pid) {
  if (pid == 0 || ::kill(static_cast<pid_t>(pid), SIGTERM) != 0) {
    return error_code(pid == 0 ? EINVAL : errno, system_category());
  }
  return {};
}

error_code SwitchUser(std::uint32_t uid, std::uint32_t gid) {
  error_code ec;
  if (::setgid(static_cast<gid_t>(gid)) != 0 || ::setuid(static_cast<uid_t>(uid)) != 0) {
    ec = error_code(errno, system_category());
  }
  posix::ForgetEffectiveUid();
  return ec;
}

boost::system::result<std::size_t> CountOpenHandlesOf(std::uint32_t pid) {
  std::string dir = posix::OpenFdDirectoryOf(pid);
  if (dir.empty()) return error_code(ENOTSUP, system_category());
  DIR* d = ::opendir(dir.c_str());
  if (!d) return error_code(errno, system_category());
  std::size_t count = 0;
  while (dirent* entry = ::readdir(d)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(d);
  return count;
}

boost::system::result<std::optional<InodeCounts>> InodeCountsOf(const std::string& path) {
  std::filesystem::path probe(path);
  std::error_code exists_error;
  while (!std::filesystem::exists(probe, exists_error) && probe.has_parent_path() &&
         probe.parent_path() != probe) {
    probe = probe.parent_path();
  }
  struct statvfs fs {};
  if (::statvfs(probe.c_str(), &fs) != 0) return error_code(errno, system_category());
  if (fs.f_files == 0) return std::optional<InodeCounts>();
  return std::optional<InodeCounts>(
      InodeCounts{static_cast<std::uint64_t>(fs.f_files), static_cast<std::uint64_t>(fs.f_favail)});
}

std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> bytes) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  ::EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, ::EVP_sha256(), nullptr);
  return digest;
}

boost::system::result<FileStamp> StampFile(const std::string& path, bool follow_symlinks) {
  struct stat st {};
  int rc = follow_symlinks ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return error_code(errno, system_category());
  FileStamp stamp;
  stamp.regular = S_ISREG(st.st_mode);
  stamp.mode = static_cast<std::uint32_t>(st.st_mode);
  stamp.owner = static_cast<std::uint32_t>(st.st_uid);
  stamp.size = static_cast<std::uint64_t>(st.st_size);
  stamp.modified_ns = posix::ModifiedNs(st);
  stamp.changed_ns = posix::ChangedNs(st);
  stamp.file_id = static_cast<std::uint64_t>(st.st_ino) ^
                  (static_cast<std::uint64_t>(st.st_dev) << 48);
  return stamp;
}

boost::system::result<std::chrono::nanoseconds> ProcessCpuTime(std::uint32_t pid) {
  std::uint64_t nanoseconds = 0;
  if (error_code ec = posix::ProcessCpuNanoseconds(pid, &nanoseconds)) return ec;
  return std::chrono::nanoseconds(nanoseconds);
}

bool ProcessExists(std::uint32_t pid) {
  if (pid == 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) return false;
  return !posix::IsZombie(pid);  // exited, waiting for a parent that may never reap it
}

DescriptorReserve::DescriptorReserve() { Reacquire(); }

bool DescriptorReserve::Release() {
  if (!handle_.is_valid()) return false;
  handle_.reset();
  return true;
}

bool DescriptorReserve::Reacquire() {
  if (!handle_.is_valid()) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) handle_.reset(fd);
  }
  return handle_.is_valid();
}

bool IsResourceExhaustion(const error_code& ec) noexcept {
  if (ec.category() != system_category() && ec.category() != boost::system::generic_category()) {
    return false;
  }
  int v = ec.value();
  return v == EMFILE || v == ENFILE || v == ENOBUFS || v == ENOMEM;
}

}  // namespace rp::platform
