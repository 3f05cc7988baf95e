// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

namespace rp::platform {

// LinkedSubmitter lets a write on a LocalStream and the send of a
// HandleChannel message that must follow it reach the kernel in one system
// call (HandleChannel::WriteThenSendBuilt). The point is scheduling, not
// syscall count: a process woken by the write (a client reading its reply)
// cannot run on this CPU before the second send is out, so the process
// waiting for that send (a backend taking a handoff) starts without delay.
//
// Linux: one small io_uring instance (one descriptor, created here, never
// later) with the two requests linked, the write first; the second is
// cancelled unless the first went out in full. Where io_uring is missing or
// refused (old kernels, seccomp profiles, kernel.io_uring_disabled) and on
// macOS and Windows, the submitter is empty and callers make the two calls
// in order instead. Use it from one thread at a time.
class LinkedSubmitter {
 public:
  class Impl;

  // Never fails: an unusable kernel facility gives an empty submitter.
  static LinkedSubmitter Create();
  // An empty submitter (the sequential path everywhere).
  LinkedSubmitter() noexcept = default;

  // Whether requests really are linked in one submission.
  bool available() const noexcept { return impl_ != nullptr; }
  Impl* impl() const noexcept { return impl_.get(); }

 private:
  struct Release {
    void operator()(Impl* impl) const noexcept;  // defined where Impl is
  };
  explicit LinkedSubmitter(Impl* impl) noexcept : impl_(impl) {}
  std::unique_ptr<Impl, Release> impl_;
};

}  // namespace rp::platform
