// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

// Multi-process tests re-execute the test binary as their child process:
//   rp_transport_tests --rp-child=<name> [args...]
// runs the function registered under <name> instead of the tests, and exits
// with its return value. Register with RP_TEST_CHILD(name) { ... } at file
// scope; the body sees `args` (the arguments after the name).
namespace rp::test {

// Alternatively the environment variable RP_TEST_CHILD=<name> selects the
// child (for processes launched by the broker, which passes no arguments).
inline constexpr char kChildEnv[] = "RP_TEST_CHILD";

using ChildMain = int (*)(const std::vector<std::string>& args);

bool RegisterChild(const char* name, ChildMain main);
// Returns the exit code when argv names a child, or -1 to run the tests.
int RunChildIfRequested(int argc, char** argv);

// Arguments that make the current test binary run child `name`.
std::vector<std::string> ChildArgs(const std::string& name, std::vector<std::string> extra = {});

}  // namespace rp::test

#define RP_TEST_CHILD(name)                                                         \
  static int RpTestChild_##name(const std::vector<std::string>& args);              \
  [[maybe_unused]] static const bool rp_test_child_registered_##name =              \
      ::rp::test::RegisterChild(#name, &RpTestChild_##name);                        \
  static int RpTestChild_##name([[maybe_unused]] const std::vector<std::string>& args)
