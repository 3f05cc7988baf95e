// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <variant>

#include "commands.h"
#include "rp/broker/contract.h"
#include "rp/broker/json.h"
#include "rp/broker/service_definitions.h"
#include "rp/platform/child_process.h"

namespace rp::broker {

int RunServicedef(const Args& args) {
  if (args.empty() || args.front() != "install") {
    std::fprintf(stderr, "usage: servicedef install --service NAME --binary-path ABS [...]\n");
    return 2;
  }
  auto service = OptionValue(args, "--service");
  auto binary = OptionValue(args, "--binary-path");
  if (!service || !binary) {
    std::fprintf(stderr, "servicedef install: %s is required\n",
                 service ? "--binary-path" : "--service");
    return 2;
  }
  pb::ServiceDefinition definition;
  definition.set_service_name(*service);
  definition.set_binary_path(*binary);
  std::string isolation = OptionValue(args, "--isolation").value_or("private");
  if (isolation == "private") {
    definition.set_isolation(pb::PRIVATE_BROKER);
  } else if (isolation == "shared") {
    definition.set_isolation(pb::SHARED_BROKER);
  } else if (isolation == "explicit") {
    definition.set_isolation(pb::EXPLICIT_INSTANCE);
  } else {
    std::fprintf(stderr, "servicedef install: --isolation must be private, shared or explicit\n");
    return 2;
  }
  definition.set_explicit_instance(OptionValue(args, "--explicit-instance").value_or(""));
  definition.set_per_version_binary_dir(OptionValue(args, "--per-version-binary-dir").value_or(""));
  definition.set_min_version(OptionValue(args, "--min-version").value_or(""));
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--allow-version") definition.add_version_allow_list(args[i + 1]);
  }

  std::string dir_source = "platform-default";
  std::string dir;
  if (auto flag = OptionValue(args, "--service-def-dir")) {
    dir = *flag;
    dir_source = "flag:--service-def-dir";
  } else if (auto env = platform::GetEnv(kEnvServiceDefDir)) {
    dir = *env;
    dir_source = std::string("env:") + kEnvServiceDefDir;
  } else {
    dir = ServiceDefinitionStore::DefaultDirectory();
  }
  ServiceDefinitionStore store(dir);
  auto written = store.Install(definition);
  if (auto* error = std::get_if<ServiceDefinitionError>(&written)) {
    std::fprintf(stderr, "servicedef install failed: %s\n", error->text.c_str());
    return 1;
  }
  const std::string& path = std::get<std::string>(written);
  if (HasFlag(args, "--json")) {
    std::printf("%s\n", Json(Json::Object{{"dir", dir},
                                          {"dir_source", dir_source},
                                          {"path", path},
                                          {"service_name", *service}})
                            .Dump()
                            .c_str());
  } else {
    std::printf("installed %s (service-definition dir source: %s)\n", path.c_str(),
                dir_source.c_str());
  }
  return 0;
}

}  // namespace rp::broker
