// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "diagnostic_bundle.h"

#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "rp/platform/child_process.h"
#include "rp/platform/system.h"

namespace rp::broker {
namespace {

namespace fs = std::filesystem;
constexpr std::size_t kBlock = 512;

// `value` as a zero-padded octal field of `width` bytes (last one NUL).
void Octal(char* field, std::size_t width, std::uint64_t value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
}

// A POSIX ustar header for a regular file (owner-only mode).
std::string UstarHeader(const std::string& path, std::size_t size, std::uint64_t mtime) {
  char header[kBlock] = {};
  std::strncpy(header, path.c_str(), 99);  // name
  Octal(header + 100, 8, 0600);            // mode
  Octal(header + 108, 8, 0);               // uid
  Octal(header + 116, 8, 0);               // gid
  Octal(header + 124, 12, size);           // size
  Octal(header + 136, 12, mtime);          // mtime
  std::memset(header + 148, ' ', 8);       // checksum, counted as spaces
  header[156] = '0';                       // regular file
  std::memcpy(header + 257, "ustar", 6);   // magic + NUL
  std::memcpy(header + 263, "00", 2);      // version
  unsigned checksum = 0;
  for (unsigned char c : header) checksum += c;
  std::snprintf(header + 148, 8, "%06o", checksum);
  return std::string(header, kBlock);
}

}  // namespace

std::string RedactHome(std::string text) {
  for (const char* variable : {"HOME", "USERPROFILE"}) {
    auto home = platform::GetEnv(variable);
    if (!home || home->size() < 2) continue;
    for (std::size_t at = text.find(*home); at != std::string::npos;
         at = text.find(*home, at + 1)) {
      text.replace(at, home->size(), "~");
    }
  }
  return text;
}

boost::system::error_code WriteTarGz(const std::string& output,
                                     const std::vector<BundleFile>& files) {
  const auto mtime = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::string archive;
  for (const BundleFile& file : files) {
    archive += UstarHeader(file.path, file.contents.size(), mtime);
    archive += file.contents;
    archive.append((kBlock - file.contents.size() % kBlock) % kBlock, '\0');
  }
  archive.append(2 * kBlock, '\0');  // end of archive

  const std::string temporary =
      output + ".tmp-" + std::to_string(platform::CurrentProcessId());
  gzFile gz = gzopen(temporary.c_str(), "wb");
  if (!gz) return make_error_code(boost::system::errc::io_error);
  const bool written =
      gzwrite(gz, archive.data(), static_cast<unsigned>(archive.size())) ==
      static_cast<int>(archive.size());
  const bool closed = gzclose(gz) == Z_OK;
  std::error_code ignored;
  if (!written || !closed) {
    fs::remove(temporary, ignored);
    return make_error_code(boost::system::errc::io_error);
  }
  if (auto ec = platform::MoveFileOver(temporary, output)) {
    fs::remove(temporary, ignored);
    return ec;
  }
  return {};
}

}  // namespace rp::broker
