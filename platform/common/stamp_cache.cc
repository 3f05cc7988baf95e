// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/platform/stamp_cache.h"

#include <unordered_map>

#include "common/directory_watch.h"

namespace rp::platform {

struct StampCache::Impl {
  std::unique_ptr<DirectoryWatch> watch = DirectoryWatch::Create();
  // By path, one map per follow_symlinks: a lookup builds no key.
  std::unordered_map<std::string, boost::system::result<FileStamp>> stamps[2];
  std::unordered_map<std::string, boost::system::error_code> private_dirs;
  std::uint64_t hits = 0;

  void Refresh() {
    if (watch && watch->TakeChanges()) {
      stamps[0].clear();
      stamps[1].clear();
      private_dirs.clear();
    }
  }
};

StampCache::StampCache() : impl_(std::make_unique<Impl>()) {}
StampCache::~StampCache() = default;

std::uint64_t StampCache::hits() const { return impl_->hits; }

void StampCache::Refresh() { impl_->Refresh(); }

boost::system::result<FileStamp> StampCache::Stamp(const std::string& path, bool follow_symlinks) {
  if (!impl_->watch) return StampFile(path, follow_symlinks);
  auto& stamps = impl_->stamps[follow_symlinks ? 1 : 0];
  if (auto it = stamps.find(path); it != stamps.end()) {
    ++impl_->hits;
    return it->second;
  }
  // Watch first, then stat: a change in between is reported, not missed.
  const bool covered = impl_->watch->Cover(path, follow_symlinks);
  auto stamp = StampFile(path, follow_symlinks);
  if (covered) stamps.emplace(path, stamp);
  return stamp;
}

boost::system::error_code StampCache::CheckPrivateDirectory(const std::string& path) {
  if (!impl_->watch) return platform::CheckPrivateDirectory(path);
  if (auto it = impl_->private_dirs.find(path); it != impl_->private_dirs.end()) {
    ++impl_->hits;
    return it->second;
  }
  const bool covered = impl_->watch->Cover(path, /*follow_symlinks=*/false);
  auto verdict = platform::CheckPrivateDirectory(path);
  if (covered) impl_->private_dirs.emplace(path, verdict);
  return verdict;
}

}  // namespace rp::platform
