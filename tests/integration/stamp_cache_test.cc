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

// A followed symlink (an executable installed through one, say) is cached
// too, and every change along the way is seen: the file it leads to
// rewritten, the link re-pointed, a link in the middle of a chain replaced.
TEST(StampCache, FollowsSymlinksAndSeesEveryChangeOnTheWay) {
  if (CurrentOs() == OsFlavor::kWindows) GTEST_SKIP() << "symlinks need privileges there";
  test::TempDir dir;
  const fs::path root = fs::absolute(dir.path());
  fs::create_directories(root / "bin");
  fs::create_directories(root / "store" / "v1");
  fs::create_directories(root / "store" / "v2");
  Write((root / "store" / "v1" / "tool").string(), "version one");
  Write((root / "store" / "v2" / "tool").string(), "version two, longer");
  fs::create_symlink(root / "store" / "current-v1", root / "bin" / "tool");  // a chain:
  fs::create_symlink("v1/tool", root / "store" / "current-v1");  // relative second hop
  const std::string link = (root / "bin" / "tool").string();
  StampCache cache;
  auto expect = [&](bool hit, const char* step) {
    SCOPED_TRACE(step);
    const auto before = cache.hits();
    cache.Refresh();
    auto cached = cache.Stamp(link, /*follow_symlinks=*/true);
    auto fresh = StampFile(link, /*follow_symlinks=*/true);
    ASSERT_TRUE(cached && fresh);
    EXPECT_EQ(*cached, *fresh);
    EXPECT_EQ(cache.hits() - before, CanWatch() && hit ? 1u : 0u);
  };
  expect(false, "first look");
  expect(true, "unchanged");
  Write((root / "store" / "v1" / "tool").string(), "version one, rewritten");
  expect(false, "the file at the end rewritten");
  expect(true, "unchanged again");
  fs::remove(root / "store" / "current-v1");
  fs::create_symlink("v2/tool", root / "store" / "current-v1");
  expect(false, "the middle link re-pointed");
  expect(true, "unchanged after that");
  fs::remove(root / "bin" / "tool");
  fs::create_symlink(root / "store" / "v1" / "tool", root / "bin" / "tool");
  expect(false, "the first link re-pointed");
  expect(true, "unchanged at last");
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
