// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/system.h"

namespace rp::platform {

// StampCache answers StampFile() and CheckPrivateDirectory() for paths it
// has seen before without touching them, for as long as nothing that could
// change the answer has happened: on Linux it watches (inotify) the
// directory holding each path and every ancestor of it (following links:
// also those of each symlink on the way and of the file it leads to), and
// forgets every cached answer on any event there. Refresh() takes the events queued so
// far (one non-blocking read); answers are then what a fresh stat would
// have said at that moment or later, so a caller that refreshes once per
// request sees every change that completed before the request. Where
// nothing can be watched (macOS, Windows, watch limits, relative paths, a
// symlink loop) every call goes to the file system. Not thread-safe.
class StampCache {
 public:
  StampCache();
  ~StampCache();
  StampCache(const StampCache&) = delete;
  StampCache& operator=(const StampCache&) = delete;

  void Refresh();
  boost::system::result<FileStamp> Stamp(const std::string& path, bool follow_symlinks);
  boost::system::error_code CheckPrivateDirectory(const std::string& path);

  // Calls answered from memory so far (for tests).
  std::uint64_t hits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rp::platform
