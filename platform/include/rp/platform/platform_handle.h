// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace rp::platform {

// The OS handle type, without pulling OS headers into public code: a file
// descriptor on POSIX, a HANDLE (stored as void*) on Windows. This and
// build_config.h are the only #if sites in the public headers.
#if defined(_WIN32)
using NativeHandle = void*;
#else
using NativeHandle = int;
#endif

// PlatformHandle owns exactly one OS handle (fd or HANDLE) and closes it on
// destruction. It is move-only; copies are explicit through Clone(), which
// returns a close-on-exec (POSIX) / non-inheritable (Windows) duplicate.
// Every handle the platform layer creates is close-on-exec / non-inheritable
// from birth; inheritance is granted only by ChildProcess for the handles a
// launch names. Not thread-safe; the destructor never throws.
class PlatformHandle {
 public:
  PlatformHandle() noexcept = default;
  explicit PlatformHandle(NativeHandle handle) noexcept : handle_(handle) {}
  PlatformHandle(PlatformHandle&& other) noexcept : handle_(other.release()) {}
  PlatformHandle& operator=(PlatformHandle&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  PlatformHandle(const PlatformHandle&) = delete;
  PlatformHandle& operator=(const PlatformHandle&) = delete;
  ~PlatformHandle() { reset(); }

  static NativeHandle InvalidValue() noexcept;

  bool is_valid() const noexcept;
  explicit operator bool() const noexcept { return is_valid(); }
  NativeHandle get() const noexcept { return handle_; }

  // Gives up ownership without closing.
  [[nodiscard]] NativeHandle release() noexcept {
    NativeHandle h = handle_;
    handle_ = InvalidValue();
    return h;
  }

  // Closes the owned handle (if any) and takes ownership of `handle`.
  void reset(NativeHandle handle = InvalidValue()) noexcept;

  // Duplicates the handle; the copy is close-on-exec / non-inheritable.
  boost::system::result<PlatformHandle> Clone() const;

  // The handle's numeric value as decimal text, the form in which a child
  // process learns an inherited handle (environment variable or argv).
  std::string ToDecimalString() const;
  // Adopts a handle named by ToDecimalString() in this process. Fails with
  // invalid_argument on text that is not a decimal number.
  static boost::system::result<PlatformHandle> FromDecimalString(std::string_view text);

 private:
  NativeHandle handle_ = InvalidValue();
};

// Number of handles (fds on POSIX, kernel handles on Windows) this process
// holds right now. Tests compare it before and after to catch leaks.
boost::system::result<std::size_t> CountOpenHandles();

}  // namespace rp::platform
