// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace rp::test {

// A fresh private (0700) directory, removed with its contents on
// destruction. Short paths on purpose: socket paths must stay under 108
// bytes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const;

 private:
  std::string path_;
};

// A listener address unique to this process and call: a socket path inside
// `dir` on POSIX, a \\.\pipe\rp-test-... name on Windows.
std::string UniqueEndpointAddress(const TempDir& dir, const std::string& tag);

}  // namespace rp::test
