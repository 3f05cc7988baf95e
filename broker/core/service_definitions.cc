// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/broker/service_definitions.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "rp/broker/contract.h"
#include "rp/broker/hello_policy.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/framing.h"

namespace rp::broker {
namespace {

namespace fs = std::filesystem;
constexpr std::uintmax_t kMaxDefinitionBytes = 1 << 20;

ServiceDefinitionError Failure(std::string text) { return {false, std::move(text)}; }

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// `directory` / `name` as std::filesystem joins them, without building paths
// (this runs on every Hello).
std::string JoinPath(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  const char last = directory.back();
  if (last == '/' || last == static_cast<char>(fs::path::preferred_separator)) {
    return directory + name;
  }
  return directory + static_cast<char>(fs::path::preferred_separator) + name;
}

std::optional<std::string> CheckPath(const char* field, const std::string& value,
                                     bool allow_empty) {
  if (value.empty()) {
    if (allow_empty) return std::nullopt;
    return std::string("service-definition ") + field + " is invalid: " + Quoted(value) +
           " (must not be empty)";
  }
  if (!fs::path(value).is_absolute()) {
    return std::string("service-definition ") + field + " is invalid: " + Quoted(value) +
           " (must be absolute)";
  }
  return std::nullopt;
}

// Reads one candidate file. nullopt: it does not exist.
// The file's stamp, nullopt when there is no such file, or why it cannot
// be a service definition.
std::variant<std::monostate, platform::FileStamp, ServiceDefinitionError> StampCandidate(
    platform::StampCache& stamps, const std::string& path) {
  auto stamp = stamps.Stamp(path, /*follow_symlinks=*/false);
  if (!stamp) {
    if (stamp.error() == boost::system::errc::no_such_file_or_directory) return std::monostate();
    return Failure("service-definition I/O failed: " + stamp.error().message());
  }
  if (!stamp->regular) {
    return Failure("service-definition I/O failed: " + path +
                   " is not a regular file (symlinks are refused)");
  }
  if (stamp->size > kMaxDefinitionBytes) {
    return Failure("service-definition I/O failed: " + path + " is larger than 1 MiB");
  }
  return *stamp;
}

std::variant<pb::ServiceDefinition, ServiceDefinitionError> ReadCandidate(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return Failure("service-definition I/O failed: cannot read " + path.string());
  pb::ServiceDefinition definition;
  if (!definition.ParseFromString(bytes.str())) {
    return Failure("service-definition protobuf decode failed: not a ServiceDefinition");
  }
  return definition;
}

std::string JoinHome(const char* rest) {
  auto home = platform::GetEnv("HOME");
  fs::path base = (home && !home->empty()) ? fs::path(*home) : fs::temp_directory_path();
  return (base / rest).string();
}

}  // namespace

std::string ServiceDefinitionStore::DefaultDirectory() {
  if (auto dir = platform::GetEnv(kEnvServiceDefDir)) return *dir;
  switch (platform::CurrentOs()) {
    case platform::OsFlavor::kWindows: {
      auto appdata = platform::GetEnv("APPDATA");
      fs::path base = (appdata && !appdata->empty()) ? fs::path(*appdata)
                                                     : fs::path("C:\\ProgramData");
      return (base / "running-process" / "services").string();
    }
    case platform::OsFlavor::kMacOS:
      return JoinHome("Library/Application Support/running-process/services");
    case platform::OsFlavor::kLinux:
      break;
  }
  auto xdg = platform::GetEnv("XDG_CONFIG_HOME");
  if (xdg && !xdg->empty()) return (fs::path(*xdg) / "running-process" / "services").string();
  return JoinHome(".config/running-process/services");
}

std::string ServiceDefinitionStore::PathFor(const std::string& service_name) const {
  return (fs::path(directory_) / (service_name + ".servicedef")).string();
}

std::variant<ServiceDefinitionStore::SharedDefinition, ServiceDefinitionError>
ServiceDefinitionStore::Load(
    const std::string& service_name) const {
  if (!transport::IsValidServiceName(service_name)) {
    return Failure("invalid name " + Quoted(service_name) + ": not [a-z0-9-]{1,64}");
  }
  stamps_->Refresh();  // every change made before this Hello is seen
  boost::system::error_code dir_error = stamps_->CheckPrivateDirectory(directory_);
  if (dir_error == boost::system::errc::no_such_file_or_directory) {
    return ServiceDefinitionError{true, "service-definition directory " + directory_ +
                                            " does not exist"};
  }
  if (dir_error == platform::Error::kInsecureDirectory) {
    return Failure("service-definition directory has insecure permissions: " + directory_);
  }
  if (dir_error) return Failure("service-definition I/O failed: " + dir_error.message());

  // One buffer for both candidates' paths: this runs for every Hello.
  std::string path = JoinPath(directory_, service_name);
  const std::size_t stem = path.size();
  path.reserve(stem + 16);
  for (const char* suffix : {".servicedef.v2", ".servicedef"}) {
    path.resize(stem);
    path += suffix;
    auto stamped = StampCandidate(*stamps_, path);
    if (std::holds_alternative<std::monostate>(stamped)) continue;
    if (auto* error = std::get_if<ServiceDefinitionError>(&stamped)) return *error;
    const platform::FileStamp& stamp = std::get<platform::FileStamp>(stamped);
    if (auto it = loaded_.find(path); it != loaded_.end() && it->second.stamp == stamp) {
      return it->second.definition;
    }
    const bool changed = loaded_.erase(path) > 0;
    auto candidate = ReadCandidate(path);
    if (auto* error = std::get_if<ServiceDefinitionError>(&candidate)) return *error;
    auto& definition = std::get<pb::ServiceDefinition>(candidate);
    if (auto invalid = ValidateServiceDefinition(definition, service_name)) {
      return Failure(*invalid);
    }
    auto shared = std::make_shared<const pb::ServiceDefinition>(std::move(definition));
    loaded_[path] = Loaded{stamp, shared};
    if (observer_) observer_(service_name, changed);
    return shared;
  }
  return ServiceDefinitionError{true, "no " + service_name + ".servicedef in " + directory_};
}

std::variant<std::string, ServiceDefinitionError> ServiceDefinitionStore::Install(
    const pb::ServiceDefinition& definition) const {
  if (auto invalid = ValidateServiceDefinition(definition, definition.service_name())) {
    return Failure(*invalid);
  }
  if (auto ec = platform::EnsurePrivateDirectory(directory_)) {
    return Failure("cannot prepare " + directory_ + ": " + ec.message());
  }
  std::string target = PathFor(definition.service_name());
  std::string temporary =
      target + ".tmp-" + std::to_string(platform::CurrentProcessId());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << transport::SerializeDeterministic(definition);
    out.flush();
    if (!out) return Failure("cannot write " + temporary);
  }
  std::error_code ec;
  fs::permissions(temporary, fs::perms::owner_read | fs::perms::owner_write, ec);
  if (auto replace = platform::MoveFileOver(temporary, target)) {
    fs::remove(temporary, ec);
    return Failure("cannot replace " + target + ": " + replace.message());
  }
  return target;
}

std::optional<std::string> ValidateServiceDefinition(const pb::ServiceDefinition& definition,
                                                     const std::string& requested_name) {
  for (const std::string* name : {&requested_name, &definition.service_name()}) {
    if (!transport::IsValidServiceName(*name)) {
      return "invalid name " + Quoted(*name) + ": not [a-z0-9-]{1,64}";
    }
  }
  if (definition.service_name() != requested_name) {
    return "service-definition requested " + Quoted(requested_name) + " but file declares " +
           Quoted(definition.service_name());
  }
  if (auto bad = CheckPath("binary_path", definition.binary_path(), false)) return bad;
  if (auto bad = CheckPath("per_version_binary_dir", definition.per_version_binary_dir(), true)) {
    return bad;
  }
  if (!definition.min_version().empty() && !transport::IsValidVersion(definition.min_version())) {
    return "service-definition min_version is invalid: " + Quoted(definition.min_version());
  }
  for (const std::string& allowed : definition.version_allow_list()) {
    if (!transport::IsValidVersion(allowed)) {
      return "service-definition version_allow_list entry is invalid: " + Quoted(allowed);
    }
  }
  switch (definition.isolation()) {
    case pb::PRIVATE_BROKER:
    case pb::SHARED_BROKER:
      if (!definition.explicit_instance().empty()) {
        return std::string("service-definition isolation is invalid: explicit_instance must be "
                           "empty unless isolation is EXPLICIT_INSTANCE");
      }
      break;
    case pb::EXPLICIT_INSTANCE:
      if (!transport::IsValidServiceName(definition.explicit_instance())) {
        return std::string(
            "service-definition isolation is invalid: EXPLICIT_INSTANCE requires "
            "explicit_instance");
      }
      break;
    default:
      return std::string("service-definition isolation is invalid: unknown BrokerIsolation value");
  }
  return std::nullopt;
}

std::string InstanceId(const pb::ServiceDefinition& definition) {
  switch (definition.isolation()) {
    case pb::SHARED_BROKER:
      return "shared";
    case pb::EXPLICIT_INSTANCE:
      return "explicit:" + definition.explicit_instance();
    default:
      return "private:" + definition.service_name();
  }
}

}  // namespace rp::broker
