// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/platform/errors.h"

#include <string>

namespace rp::platform {
namespace {

class PlatformCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "rp.platform"; }
  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::kPathTooLong:
        return "socket path is longer than the OS allows";
      case Error::kInsecureDirectory:
        return "directory is not private to this user (group/other access, wrong owner, or a "
               "symlink)";
      case Error::kHandleCountMismatch:
        return "message carried a different number of handles than it announced";
      case Error::kControlDataTruncated:
        return "handles were truncated in transit (MSG_CTRUNC)";
      case Error::kMessageTooLarge:
        return "message exceeds the receiver's size cap";
      case Error::kNotTransferable:
        return "connection is bound to this process and cannot be transferred";
      case Error::kAddressInUse:
        return "another live listener owns this address";
      case Error::kMalformedMessage:
        return "malformed channel message";
    }
    return "unknown rp.platform error " + std::to_string(value);
  }
};

}  // namespace

const boost::system::error_category& platform_category() noexcept {
  static const PlatformCategory category;
  return category;
}

}  // namespace rp::platform
