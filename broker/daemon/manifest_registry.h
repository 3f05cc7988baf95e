// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include "broker_v1_manifest.pb.h"

namespace rp::broker {

namespace pb = ::running_process::broker::v1;

// ManifestRegistry is the central cache-manifest directory (spec §7.5-7.8):
// one sealed CacheManifest per live backend, `<service>-<version>.pb`,
// naming the backend's DaemonProcess and this host and boot. The broker
// publishes one when a backend it launched is ready, removes it when the
// backend is gone, and on start reads them back to re-adopt backends a
// previous broker left running. Writes are atomic (temporary file in the
// same directory, then rename); the directory is private to the user.
class ManifestRegistry {
 public:
  explicit ManifestRegistry(std::string directory) : directory_(std::move(directory)) {}

  // RUNNING_PROCESS_MANIFEST_DIR, else the platform default (spec §7.5).
  static std::string DefaultDirectory();

  // Seals and writes `manifest` (service and version must be set).
  boost::system::error_code Publish(pb::CacheManifest manifest) const;
  void Remove(const std::string& service, const std::string& version) const;

  struct Entry {
    std::string path;
    std::optional<pb::CacheManifest> manifest;  // set when sealed and of this host and boot
    std::string problem;                        // why not, otherwise
    bool foreign = false;                       // another machine's: leave it alone
  };
  // Every `*.pb` manifest (v2 files excluded), sorted by path.
  std::vector<Entry> Scan() const;

  const std::string& directory() const { return directory_; }
  std::string PathFor(const std::string& service, const std::string& version) const;

 private:
  std::string directory_;
};

// This host and boot as a manifest records them (spec §7.9).
pb::HostIdentity CurrentHostIdentity();
// Fills schema version, media type and self_sha256 (spec §7.7).
pb::CacheManifest SealManifest(pb::CacheManifest manifest);
// Why `manifest` is not intact (wrong or missing seal, newer schema), or
// nullopt.
std::optional<std::string> CheckManifestSeal(const pb::CacheManifest& manifest);

}  // namespace rp::broker
