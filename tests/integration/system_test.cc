// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The platform's file stamps and process CPU clock, on real files and on
// this process.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "support/temp_dir.h"

namespace rp::platform {
namespace {

namespace fs = std::filesystem;

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

TEST(StampFile, TellsFilesApartAndSeesAnAtomicReplace) {
  test::TempDir dir;
  const std::string path = dir.File("a.def");
  auto missing = StampFile(path, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), boost::system::errc::no_such_file_or_directory);

  WriteFile(path, "first");
  auto first = StampFile(path, false);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(first->regular);
  EXPECT_EQ(first->size, 5u);
  auto again = StampFile(path, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(*first, *again);

  // Replaced the way servicedef install does it: a new file renamed over.
  WriteFile(dir.File("a.tmp"), "other");  // same size
  ASSERT_FALSE(MoveFileOver(dir.File("a.tmp"), path));
  auto replaced = StampFile(path, false);
  ASSERT_TRUE(replaced);
  EXPECT_NE(*first, *replaced);

  auto directory = StampFile(dir.path(), false);
  ASSERT_TRUE(directory);
  EXPECT_FALSE(directory->regular);
}

TEST(StampFile, ASymlinkIsNotRegularUnlessFollowed) {
  if (CurrentOs() == OsFlavor::kWindows) {
    GTEST_SKIP() << "creating symlinks needs a privilege Windows users rarely have";
  }
  test::TempDir dir;
  WriteFile(dir.File("target"), "contents");
  std::error_code ec;
  fs::create_symlink(dir.File("target"), dir.File("link"), ec);
  ASSERT_FALSE(ec) << ec.message();
  auto link = StampFile(dir.File("link"), false);
  ASSERT_TRUE(link);
  EXPECT_FALSE(link->regular);
  auto followed = StampFile(dir.File("link"), true);
  ASSERT_TRUE(followed);
  EXPECT_TRUE(followed->regular);
  EXPECT_EQ(followed->size, 8u);
}

TEST(ProcessCpuTime, GrowsWhileAProcessComputes) {
  auto before = ProcessCpuTime(CurrentProcessId());
  ASSERT_TRUE(before) << before.error().message();
  // Compute until the OS books more CPU time (its clock may tick coarsely);
  // bounded, so a clock that never moves fails instead of hanging.
  volatile std::uint64_t sink = 0;
  auto after = before;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (after && *after <= *before && std::chrono::steady_clock::now() < give_up) {
    for (int i = 0; i < 1000000; ++i) sink = sink + static_cast<std::uint64_t>(i);
    after = ProcessCpuTime(CurrentProcessId());
  }
  ASSERT_TRUE(after);
  EXPECT_GT(*after, *before);
  EXPECT_FALSE(ProcessCpuTime(0x7ffffff0u)) << "no such process";
}

}  // namespace
}  // namespace rp::platform
