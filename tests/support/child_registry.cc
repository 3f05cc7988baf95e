// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "support/child_registry.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>

namespace rp::test {
namespace {

constexpr std::string_view kChildFlag = "--rp-child=";

std::map<std::string, ChildMain>& Registry() {
  static std::map<std::string, ChildMain> registry;
  return registry;
}

}  // namespace

bool RegisterChild(const char* name, ChildMain main) {
  return Registry().emplace(name, main).second;
}

int RunChildIfRequested(int argc, char** argv) {
  // A process launched by something else (the broker launching "backends")
  // cannot pass arguments; it names the child in the environment instead.
  if (const char* env = std::getenv(kChildEnv); env && *env) {
    auto it = Registry().find(env);
    if (it == Registry().end()) return 99;
    return it->second(std::vector<std::string>(argv + 1, argv + argc));
  }
  if (argc < 2) return -1;
  std::string_view first = argv[1];
  if (first.substr(0, kChildFlag.size()) != kChildFlag) return -1;
  std::string name(first.substr(kChildFlag.size()));
  auto it = Registry().find(name);
  if (it == Registry().end()) {
    std::fprintf(stderr, "unknown test child '%s'\n", name.c_str());
    return 99;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  return it->second(args);
}

std::vector<std::string> ChildArgs(const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> args{std::string(kChildFlag) + name};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace rp::test
