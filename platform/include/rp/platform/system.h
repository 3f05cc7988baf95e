// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/platform_handle.h"

namespace rp::platform {

// Process- and file-level services the broker needs from the OS, as values.

// Fills `out` from the OS CSPRNG (getrandom / arc4random_buf /
// BCryptGenRandom).
boost::system::error_code RandomBytes(std::span<std::uint8_t> out);

// SHA-256 of `bytes` (OpenSSL's libcrypto on POSIX, BCrypt on Windows).
std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> bytes);

// Atomically replaces `target` with `source` (same directory): rename(2)
// then fsync of the directory on POSIX, MoveFileExW(REPLACE_EXISTING |
// WRITE_THROUGH) on Windows.
boost::system::error_code MoveFileOver(const std::string& source, const std::string& target);

// Checks, without creating anything, that `path` is a directory private to
// this user (POSIX: owned by us, no group/other bits, not a symlink;
// Windows: a protected DACL granting only the owner and SYSTEM). Missing:
// no_such_file_or_directory; not private: Error::kInsecureDirectory.
boost::system::error_code CheckPrivateDirectory(const std::string& path);

// True when this process runs with root (effective uid 0) or as Windows
// LocalSystem; `identity` then names it for the refusal message.
bool IsPrivilegedProcess(std::string* identity);

// Lowers or raises this process's open-file limit (POSIX RLIMIT_NOFILE);
// a no-op on Windows.
boost::system::error_code SetOpenFileLimit(std::uint64_t limit);

// The fraction of the open-file limit in use (0 on Windows).
double OpenFileUsageRatio();

// Kills process `pid` (SIGKILL / TerminateProcess). For tools and tests;
// the broker kills its own children through ChildProcess.
boost::system::error_code KillProcess(std::uint32_t pid);

// Asks process `pid` to terminate gracefully (SIGTERM). Windows has no
// such signal for a process without a console: operation_not_supported.
boost::system::error_code RequestTermination(std::uint32_t pid);

// Switches this process to another user (POSIX setgid + setuid; needs
// root). Tests use it to act as a second user. Windows:
// operation_not_supported.
boost::system::error_code SwitchUser(std::uint32_t uid, std::uint32_t gid);

// Open handles of another process (Linux /proc/<pid>/fd, macOS
// proc_pidinfo, Windows GetProcessHandleCount); tests use it for leaks.
boost::system::result<std::size_t> CountOpenHandlesOf(std::uint32_t pid);

// What tells one version of a file from another without reading it: its
// identity (inode or file index), size, and modification and change (or,
// on Windows, creation) times. Equal stamps mean unchanged contents as far
// as the file system can tell; an atomic replace always changes the stamp.
struct FileStamp {
  bool regular = false;  // a regular file (not a directory, symlink, device)
  std::uint32_t mode = 0;   // POSIX st_mode (0 on Windows)
  std::uint32_t owner = 0;  // POSIX st_uid (0 on Windows)
  std::uint64_t size = 0;
  std::int64_t modified_ns = 0;
  std::int64_t changed_ns = 0;
  std::uint64_t file_id = 0;
  bool operator==(const FileStamp&) const = default;
};

// Stamps `path` with one system call. With follow_symlinks false a symlink
// is stamped itself (and is not regular). A missing file is
// errc::no_such_file_or_directory.
boost::system::result<FileStamp> StampFile(const std::string& path, bool follow_symlinks);

// Inode counts of the file system that holds `path` (or, when `path` does
// not exist yet, its nearest existing ancestor): POSIX statvfs, `free` as
// available to unprivileged users. nullopt where the file system keeps no
// inode accounting (a zero total, and always on Windows).
struct InodeCounts {
  std::uint64_t total = 0;
  std::uint64_t free = 0;
};
boost::system::result<std::optional<InodeCounts>> InodeCountsOf(const std::string& path);

// True while a process with this id exists.
bool ProcessExists(std::uint32_t pid);

// CPU time (user + system) process `pid` has used so far. Benchmarks read it
// before and after a run to cost one operation (Linux /proc/<pid>/schedstat,
// macOS proc_pid_rusage, Windows GetProcessTimes; under Wine only for the
// calling process, not_supported for others).
boost::system::result<std::chrono::nanoseconds> ProcessCpuTime(std::uint32_t pid);

// One spare descriptor held back so that a process that has run out of
// descriptors can still accept one connection to say so (POSIX: an open
// /dev/null). On Windows handles are not limited that way and Release()
// always returns false. Not thread-safe.
class DescriptorReserve {
 public:
  DescriptorReserve();
  // Closes the spare; true if one was held.
  bool Release();
  // Takes a spare again; false while descriptors are still exhausted.
  bool Reacquire();
  bool held() const { return handle_.is_valid(); }

 private:
  PlatformHandle handle_;
};

// True for errors that mean "out of descriptors/handles": EMFILE, ENFILE
// (and ENOBUFS/ENOMEM on accept), ERROR_NO_SYSTEM_RESOURCES and friends.
bool IsResourceExhaustion(const boost::system::error_code& ec) noexcept;

}  // namespace rp::platform
