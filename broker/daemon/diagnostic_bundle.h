// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

namespace rp::broker {

// One file of a diagnostic bundle.
struct BundleFile {
  std::string path;  // inside the archive, '/'-separated
  std::string contents;
};

// Writes `files` as a gzip-compressed ustar archive at `output` (spec §6.3
// diagnose, format "tar.gz"): to a temporary file beside it first, then
// renamed over it. Text is redacted before it gets here.
boost::system::error_code WriteTarGz(const std::string& output,
                                     const std::vector<BundleFile>& files);

// `text` with every occurrence of the user's home directory replaced by
// "~" (the bundle's "home" redaction).
std::string RedactHome(std::string text);

}  // namespace rp::broker
