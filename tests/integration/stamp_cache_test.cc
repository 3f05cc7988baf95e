// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// StampCache: answers from memory while nothing changed, and never an
// answer a fresh stat would not give, whatever changed just before.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "rp/platform/host.h"
#include "rp/platform/stamp_cache.h"
#include "support/temp_dir.h"

namespace rp::platform {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

bool CanWatch() { return CurrentOs() == OsFlavor::kLinux; }

// The cache's answer equals a fresh stat's, and the number of answers from
// memory grew by `hit` where directories can be watched.
void ExpectFresh(StampCache& cache, const std::string& path, bool hit, const char* step) {
  SCOPED_TRACE(step);
  const auto before = cache.hits();
  cache.Refresh();
  auto cached = cache.Stamp(path, /*follow_symlinks=*/false);
  auto fresh = StampFile(path, /*follow_symlinks=*/false);
  ASSERT_EQ(cached.has_value(), fresh.has_value());
  if (fresh) {
    EXPECT_EQ(*cached, *fresh);
  } else {
    EXPECT_EQ(cached.error(), fresh.error());
  }
  EXPECT_EQ(cache.hits() - before, CanWatch() && hit ? 1u : 0u);
}

TEST(StampCache, AnswersFromMemoryUntilTheFileOrItsDirectoryChanges) {
  test::TempDir dir;
  const std::string path = (fs::path(fs::absolute(dir.path())) / "svc.servicedef").string();
  StampCache cache;
  ExpectFresh(cache, path, false, "missing, first look");
  ExpectFresh(cache, path, true, "missing, unchanged");
  Write(path, "one");
  ExpectFresh(cache, path, false, "created");
  ExpectFresh(cache, path, true, "unchanged");
  Write(path, "two!");  // same inode, new contents
  ExpectFresh(cache, path, false, "rewritten in place");
  ExpectFresh(cache, path, true, "unchanged again");
  Write(path + ".tmp", "three");
  fs::rename(path + ".tmp", path);  // an atomic replace
  ExpectFresh(cache, path, false, "replaced by rename");
  fs::permissions(path, fs::perms::owner_read);
  ExpectFresh(cache, path, false, "permissions changed");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);  // Windows: removable
  ExpectFresh(cache, path, false, "permissions changed back");
  fs::remove(path);
  ExpectFresh(cache, path, false, "removed");
}

TEST(StampCache, SeesAnAncestorDirectoryReplaced) {
  test::TempDir dir;
  const fs::path root = fs::absolute(dir.path());
  fs::create_directories(root / "a" / "b");
  const std::string path = (root / "a" / "b" / "f").string();
  Write(path, "old");
  StampCache cache;
  ExpectFresh(cache, path, false, "first look");
  ExpectFresh(cache, path, true, "unchanged");
  // Another tree with a file of the same name takes the place of "a".
  fs::create_directories(root / "other" / "b");
  Write((root / "other" / "b" / "f").string(), "a different file");
  fs::rename(root / "a", root / "gone");
  fs::rename(root / "other", root / "a");
  ExpectFresh(cache, path, false, "ancestor swapped");
  ExpectFresh(cache, path, true, "unchanged after the swap");
}

TEST(StampCache, PrivateDirectoryVerdictFollowsPermissionChanges) {
  test::TempDir dir;
  const std::string sub = (fs::path(fs::absolute(dir.path())) / "services").string();
  fs::create_directory(sub);
  fs::permissions(sub, fs::perms::owner_all, fs::perm_options::replace);
  StampCache cache;
  auto check = [&] {
    cache.Refresh();
    return cache.CheckPrivateDirectory(sub);
  };
  EXPECT_FALSE(check());
  EXPECT_FALSE(check());
  if (CurrentOs() == OsFlavor::kWindows) return;  // ACLs, not mode bits
  fs::permissions(sub, fs::perms::owner_all | fs::perms::others_read, fs::perm_options::replace);
  EXPECT_TRUE(check()) << "opened to others: no longer private";
  fs::permissions(sub, fs::perms::owner_all, fs::perm_options::replace);
  EXPECT_FALSE(check());
}

}  // namespace
}  // namespace rp::platform
