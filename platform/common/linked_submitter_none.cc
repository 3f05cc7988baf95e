// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// LinkedSubmitter where there is nothing to link with (macOS, Windows):
// always empty, so callers make their calls one after the other.
#include "rp/platform/linked_submitter.h"

#if defined(_WIN32)
namespace rp::platform {
class LinkedSubmitter::Impl {};
}  // namespace rp::platform
#else
#include "posix/linked_submit.h"

namespace rp::platform {
struct LinkedSubmitter::Impl::Ring {};
LinkedSubmitter::Impl::Impl(std::unique_ptr<Ring> ring) : ring_(std::move(ring)) {}
LinkedSubmitter::Impl::~Impl() = default;
std::unique_ptr<LinkedSubmitter::Impl> LinkedSubmitter::Impl::Open() { return nullptr; }
LinkedSubmitter::Impl::Outcome LinkedSubmitter::Impl::WriteThenSendmsg(int, const void*,
                                                                       std::size_t, int,
                                                                       const msghdr*) {
  return {};  // not submitted
}
}  // namespace rp::platform
#endif

namespace rp::platform {
LinkedSubmitter LinkedSubmitter::Create() { return LinkedSubmitter(); }
void LinkedSubmitter::Release::operator()(Impl* impl) const noexcept { delete impl; }
}  // namespace rp::platform
