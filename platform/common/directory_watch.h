// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string>

namespace rp::platform {

// What StampCache needs from the OS: notice of any change that could alter
// what a stat of a covered path returns. One per platform file; Create()
// returns nullptr where the OS offers nothing suitable.
class DirectoryWatch {
 public:
  static std::unique_ptr<DirectoryWatch> Create();
  virtual ~DirectoryWatch() = default;
  // Starts watching what `path` depends on; false when that cannot be
  // done, and then nothing read about `path` may be cached.
  virtual bool Cover(const std::string& path, bool follow_symlinks) = 0;
  // True when anything covered may have changed since the last call (or
  // since Cover()); consumes the notice.
  virtual bool TakeChanges() = 0;
};

}  // namespace rp::platform
