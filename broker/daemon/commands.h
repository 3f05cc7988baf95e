// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <vector>

// The subcommands of running-process-broker-v1 (spec §9.2). Each takes the
// arguments after its name and returns the process exit code: 0 success,
// 1 runtime failure, 2 usage error.
namespace rp::broker {

using Args = std::vector<std::string>;

// "--name value": the value after the first occurrence of `name`, if any.
std::optional<std::string> OptionValue(const Args& args, const std::string& name);
bool HasFlag(const Args& args, const std::string& name);

int RunServe(const Args& args, const std::optional<std::string>& socket,
             const std::string& version);
int RunServicedef(const Args& args);
int RunEvents(const Args& args);
// `verb` is one of the admin verb names (status, healthz, ...).
int RunAdmin(const std::string& verb, const Args& args, const std::optional<std::string>& socket);
bool IsAdminVerb(const std::string& word);

}  // namespace rp::broker
