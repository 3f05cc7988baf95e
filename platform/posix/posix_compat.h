// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

// The build-config header of the POSIX platform: the one place where Linux
// and macOS differences are settled with #if. Everything else in posix/
// calls these helpers.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/system/error_code.hpp>

namespace rp::platform::posix {

// Marks `fd` close-on-exec. Used where the OS has no atomic flag.
inline int SetCloexec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return -1;
  return ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// socket(2) with close-on-exec from birth where the kernel supports it
// (Linux SOCK_CLOEXEC; macOS has no such flag, so it is set right after).
inline int CloexecSocket(int domain, int type) {
#if defined(SOCK_CLOEXEC)
  return ::socket(domain, type | SOCK_CLOEXEC, 0);
#else
  int fd = ::socket(domain, type, 0);
  if (fd >= 0) SetCloexec(fd);
  return fd;
#endif
}

// Like CloexecSocket, and non-blocking from birth too (Linux
// SOCK_NONBLOCK; elsewhere fcntl right after).
inline int CloexecNonblockingSocket(int domain, int type) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  return ::socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
  int fd = CloexecSocket(domain, type);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
#endif
}

inline int CloexecSocketpair(int fds[2]) {
#if defined(SOCK_CLOEXEC)
  return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
#else
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return -1;
  SetCloexec(fds[0]);
  SetCloexec(fds[1]);
  return 0;
#endif
}

// accept(2) returning a close-on-exec, non-blocking fd.
inline int CloexecAccept(int listen_fd) {
#if defined(__linux__)
  return ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd >= 0) {
    SetCloexec(fd);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return fd;
#endif
}

// Flags for sendmsg(2) that stop SIGPIPE (macOS uses SO_NOSIGPIPE instead).
#if defined(MSG_NOSIGNAL)
inline constexpr int kSendFlags = MSG_NOSIGNAL;
#else
inline constexpr int kSendFlags = 0;
#endif

// Whether one recvmsg(2) on a stream socket may return bytes of several
// sendmsg(2) calls when fds came with them: Linux ends a read right after
// the data that carried fds; BSD kernels (macOS) start a read with them and
// may read on, so there reads stop at message boundaries (ChannelInbox).
#if defined(__linux__)
inline constexpr bool kReadsMaySpanFdMessages = true;
#else
inline constexpr bool kReadsMaySpanFdMessages = false;
#endif

// Flags for recvmsg(2) so that received fds are close-on-exec at once.
#if defined(MSG_CMSG_CLOEXEC)
inline constexpr int kRecvFlags = MSG_CMSG_CLOEXEC;
inline constexpr bool kRecvSetsCloexec = true;
#else
inline constexpr int kRecvFlags = 0;
inline constexpr bool kRecvSetsCloexec = false;
#endif

// Prevents SIGPIPE on writes to `fd` where the OS needs a socket option.
inline void DisableSigpipe(int fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
  (void)fd;
#endif
}

// Fills `out` with `size` bytes from the kernel CSPRNG.
boost::system::error_code FillRandom(std::uint8_t* out, std::size_t size);

// Closes every fd >= `low` in this (freshly forked) process except those in
// the sorted list `keep`. Async-signal-safe.
void CloseFdsExcept(int low, const int* keep, int keep_count);

// Directory listing another process's open fds ("" where there is none).
std::string OpenFdDirectoryOf(std::uint32_t pid);

// True when `pid` has exited but is not reaped yet (Linux /proc state Z;
// false where that cannot be told).
bool IsZombie(std::uint32_t pid);

// A descriptor that becomes readable when child `pid` exits (Linux
// pidfd_open, close-on-exec); -1 where the OS has none (macOS).
int OpenProcessExitFd(std::uint32_t pid);

// CPU time used so far by process `pid`, in nanoseconds.
boost::system::error_code ProcessCpuNanoseconds(std::uint32_t pid, std::uint64_t* out);

// geteuid(), asked once: it changes only through SwitchUser(), which calls
// ForgetEffectiveUid().
uid_t EffectiveUid();
void ForgetEffectiveUid();

// Modification and status-change times of `st` in nanoseconds (the field
// names differ between Linux and macOS).
inline std::int64_t ToNanoseconds(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}
#if defined(__APPLE__)
inline std::int64_t ModifiedNs(const struct stat& st) { return ToNanoseconds(st.st_mtimespec); }
inline std::int64_t ChangedNs(const struct stat& st) { return ToNanoseconds(st.st_ctimespec); }
#else
inline std::int64_t ModifiedNs(const struct stat& st) { return ToNanoseconds(st.st_mtim); }
inline std::int64_t ChangedNs(const struct stat& st) { return ToNanoseconds(st.st_ctim); }
#endif

// Directory listing this process's open fds ("/proc/self/fd" or "/dev/fd").
const char* OpenFdDirectory();

}  // namespace rp::platform::posix
