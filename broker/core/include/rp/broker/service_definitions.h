// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <boost/system/error_code.hpp>

#include "broker_v1_service_def.pb.h"
#include "rp/platform/stamp_cache.h"
#include "rp/platform/system.h"

namespace rp::broker {

namespace pb = ::running_process::broker::v1;

// Why a service definition could not be used. `not_found` separates "no
// such service" (ERROR_SERVICE_UNKNOWN "was not found") from everything else
// ("could not be loaded: <text>").
struct ServiceDefinitionError {
  bool not_found = false;
  std::string text;
};

// ServiceDefinitionStore reads and writes `<service>.servicedef` files
// (raw protobuf ServiceDefinition, spec §7) in one directory. Every Load
// checks the disk again: the directory must be private to this user, the
// file must be a regular file (symlinks are refused), and the definition
// must name the service it was loaded for. A `<service>.servicedef.v2`
// file is preferred and gets exactly the same checks (it decodes as v1;
// field 10 is skipped). Contents are re-read and re-validated whenever the
// file's stamp (identity, size, times) changed, so an edit or an atomic
// replace is seen by the next Hello; an unchanged file is served from
// memory. The stamps come from a platform::StampCache, so where the OS can
// watch directories a Hello for an unchanged definition touches no file at
// all. Not thread-safe.
class ServiceDefinitionStore {
 public:
  // `stamps` may be shared with other users that refresh it per request.
  explicit ServiceDefinitionStore(
      std::string directory,
      std::shared_ptr<platform::StampCache> stamps = std::make_shared<platform::StampCache>())
      : directory_(std::move(directory)), stamps_(std::move(stamps)) {}

  // RUNNING_PROCESS_SERVICE_DEF_DIR, else the platform default (spec §7.1).
  static std::string DefaultDirectory();

  // The definition is shared with the cache (never copied per Hello); a
  // later change on disk replaces the cached one, not this.
  using SharedDefinition = std::shared_ptr<const pb::ServiceDefinition>;
  std::variant<SharedDefinition, ServiceDefinitionError> Load(
      const std::string& service_name) const;

  // Validates `definition` and writes it atomically (temporary file, then
  // rename) with owner-only permissions, creating the directory private.
  // Returns the written path, or an error text.
  std::variant<std::string, ServiceDefinitionError> Install(
      const pb::ServiceDefinition& definition) const;

  std::string PathFor(const std::string& service_name) const;
  const std::string& directory() const { return directory_; }

  // Called after a definition was read (and validated) from disk: `changed`
  // when an earlier version of the same file had been loaded.
  using ReloadObserver = std::function<void(const std::string& service, bool changed)>;
  void set_reload_observer(ReloadObserver observer) { observer_ = std::move(observer); }

 private:
  struct Loaded {
    platform::FileStamp stamp;
    SharedDefinition definition;
  };
  std::string directory_;
  mutable std::map<std::string, Loaded> loaded_;  // by file path; valid definitions only
  std::shared_ptr<platform::StampCache> stamps_;
  ReloadObserver observer_;
};

// The loader's validation rules (spec §7.3), as the error text or nullopt.
std::optional<std::string> ValidateServiceDefinition(const pb::ServiceDefinition& definition,
                                                     const std::string& requested_name);

// Instance id of a definition: "private:<service>", "shared" or
// "explicit:<name>" (spec §4.9).
std::string InstanceId(const pb::ServiceDefinition& definition);

}  // namespace rp::broker
