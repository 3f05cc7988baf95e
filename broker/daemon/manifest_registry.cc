// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "manifest_registry.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "rp/transport/framing.h"

namespace rp::broker {
namespace {

namespace fs = std::filesystem;

constexpr char kMediaType[] = "application/vnd.running-process.cache-manifest.v1";
constexpr std::uint32_t kSchemaVersion = 1;

std::string Digest(pb::CacheManifest manifest) {
  manifest.clear_self_sha256();
  const std::string bytes = transport::SerializeDeterministic(manifest);
  auto digest =
      platform::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  return std::string(digest.begin(), digest.end());
}

std::string HomeOr(const char* fallback_env, const std::string& rest) {
  if (auto base = platform::GetEnv(fallback_env); base && !base->empty()) {
    return (fs::path(*base) / rest).string();
  }
  return "";
}

}  // namespace

std::string ManifestRegistry::DefaultDirectory() {
  if (auto dir = platform::GetEnv("RUNNING_PROCESS_MANIFEST_DIR"); dir && !dir->empty()) {
    return *dir;
  }
  switch (platform::CurrentOs()) {
    case platform::OsFlavor::kWindows: {
      std::string dir = HomeOr("APPDATA", "running-process/manifests");
      return dir.empty() ? "C:/ProgramData/running-process/manifests" : dir;
    }
    case platform::OsFlavor::kMacOS:
      return HomeOr("HOME", "Library/Application Support/running-process/manifests");
    case platform::OsFlavor::kLinux:
      break;
  }
  std::string dir = HomeOr("XDG_DATA_HOME", "running-process/manifests");
  return dir.empty() ? HomeOr("HOME", ".local/share/running-process/manifests") : dir;
}

std::string ManifestRegistry::PathFor(const std::string& service,
                                      const std::string& version) const {
  return (fs::path(directory_) / (service + "-" + version + ".pb")).string();
}

pb::HostIdentity CurrentHostIdentity() {
  pb::HostIdentity host;
  host.set_hostname(platform::CurrentHostName());
  host.set_machine_id(platform::CurrentMachineId());
  host.set_boot_id(platform::CurrentBootId());
  return host;
}

pb::CacheManifest SealManifest(pb::CacheManifest manifest) {
  manifest.set_manifest_schema_version(kSchemaVersion);
  if (manifest.media_type().empty()) manifest.set_media_type(kMediaType);
  manifest.set_self_sha256(Digest(manifest));
  return manifest;
}

std::optional<std::string> CheckManifestSeal(const pb::CacheManifest& manifest) {
  if (manifest.manifest_schema_version() > kSchemaVersion) {
    return "manifest schema " + std::to_string(manifest.manifest_schema_version()) +
           " is newer than 1";
  }
  if (manifest.self_sha256().size() != 32 || manifest.self_sha256() != Digest(manifest)) {
    return "self_sha256 does not match the contents";
  }
  return std::nullopt;
}

boost::system::error_code ManifestRegistry::Publish(pb::CacheManifest manifest) const {
  if (auto ec = platform::EnsurePrivateDirectory(directory_)) return ec;
  const std::string target = PathFor(manifest.service_name(), manifest.service_version());
  const std::string bytes = transport::SerializeDeterministic(SealManifest(std::move(manifest)));
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::string name = ".";
  name += fs::path(target).filename().string();
  name += ".tmp-";
  name += std::to_string(platform::CurrentProcessId());
  name += "-";
  name += std::to_string(nanos);
  const std::string temporary = (fs::path(directory_) / name).string();
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      return make_error_code(boost::system::errc::io_error);
    }
  }
  if (auto ec = platform::MoveFileOver(temporary, target)) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return ec;
  }
  return {};
}

void ManifestRegistry::Remove(const std::string& service, const std::string& version) const {
  std::error_code ignored;
  fs::remove(PathFor(service, version), ignored);
}

std::vector<ManifestRegistry::Entry> ManifestRegistry::Scan() const {
  std::vector<Entry> entries;
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) return entries;
  if (auto insecure = platform::CheckPrivateDirectory(directory_)) {
    entries.push_back({directory_, std::nullopt, "registry is not private: " + insecure.message()});
    return entries;
  }
  const pb::HostIdentity here = CurrentHostIdentity();
  for (const auto& file : fs::directory_iterator(directory_, ec)) {
    const std::string name = file.path().filename().string();
    if (file.path().extension() != ".pb" || name.ends_with(".v2.pb") || name.front() == '.') {
      continue;
    }
    Entry entry{file.path().string(), std::nullopt, ""};
    std::ifstream in(file.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pb::CacheManifest manifest;
    if (!manifest.ParseFromString(bytes)) {
      entry.problem = "not a CacheManifest";
    } else if (auto broken = CheckManifestSeal(manifest)) {
      entry.problem = *broken;
    } else if (manifest.has_host() && !manifest.host().machine_id().empty() &&
               manifest.host().machine_id() != here.machine_id()) {
      entry.problem = "written on another host";
      entry.foreign = true;  // a home directory shared between machines: not ours to remove
    } else if (manifest.has_host() && !manifest.host().boot_id().empty() &&
               manifest.host().boot_id() != here.boot_id()) {
      entry.problem = "written before this boot";
    } else {
      entry.manifest = std::move(manifest);
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return entries;
}

}  // namespace rp::broker
