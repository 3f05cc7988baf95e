// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <memory>

#include "rp/platform/linked_submitter.h"

namespace rp::platform {

// The POSIX face of LinkedSubmitter: a write on one socket, then a
// sendmsg() on another, both in one submission. Only Linux has one (an
// io_uring instance); on macOS Open() always says no.
class LinkedSubmitter::Impl {
 public:
  // What became of each request: bytes moved, or -errno. `sendmsg` is
  // -ECANCELED when the write did not go out in full (it was never tried).
  // `submitted` is false when the kernel took neither request; nothing
  // moved then, and the caller makes both calls itself.
  struct Outcome {
    long write = 0;
    long sendmsg = 0;
    bool submitted = false;
  };

  // nullptr when the kernel has no usable facility.
  static std::unique_ptr<Impl> Open();
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Writes `size` bytes at `data` to `stream_fd` without waiting, then,
  // only if all of them went out, sends `message` on `channel_fd` without
  // waiting. Returns once both have completed.
  Outcome WriteThenSendmsg(int stream_fd, const void* data, std::size_t size, int channel_fd,
                           const msghdr* message);

 private:
  struct Ring;
  explicit Impl(std::unique_ptr<Ring> ring);
  std::unique_ptr<Ring> ring_;
  bool broken_ = false;
};

}  // namespace rp::platform
