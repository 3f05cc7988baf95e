// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "support/temp_dir.h"

#include <atomic>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <system_error>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"

namespace rp::test {
namespace {

std::string RandomSuffix() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  return std::to_string(platform::CurrentProcessId()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rd() % 100000);
}

}  // namespace

TempDir::TempDir() {
  std::filesystem::path base = std::filesystem::temp_directory_path();
  if (platform::CurrentOs() != platform::OsFlavor::kWindows) base = "/tmp";
  path_ = (base / ("rpt-" + RandomSuffix())).string();
  if (auto ec = platform::EnsurePrivateDirectory(path_)) {
    throw std::runtime_error("cannot create temp dir " + path_ + ": " + ec.message());
  }
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(const std::string& name) const {
  return (std::filesystem::path(path_) / name).string();
}

std::string UniqueEndpointAddress(const TempDir& dir, const std::string& tag) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    return "\\\\.\\pipe\\rp-test-" + tag + "-" + RandomSuffix();
  }
  return dir.File(tag + ".sock");
}

}  // namespace rp::test
