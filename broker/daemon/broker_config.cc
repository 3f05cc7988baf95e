// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "broker_config.h"

#include <charconv>
#include <filesystem>

#include "rp/platform/child_process.h"
#include "rp/platform/host.h"

namespace rp::broker {

namespace fs = std::filesystem;

std::string DefaultStateDirectory() {
  auto env = [](const char* name) {
    auto v = platform::GetEnv(name);
    return (v && !v->empty()) ? std::optional<fs::path>(*v) : std::nullopt;
  };
  auto home = env("HOME").value_or(fs::temp_directory_path());
  switch (platform::CurrentOs()) {
    case platform::OsFlavor::kWindows:
      return (env("LOCALAPPDATA").value_or(fs::temp_directory_path()) / "running-process" /
              "broker")
          .string();
    case platform::OsFlavor::kMacOS:
      return (home / "Library/Application Support/running-process/broker").string();
    case platform::OsFlavor::kLinux:
      break;
  }
  return (env("XDG_STATE_HOME").value_or(home / ".local/state") / "running-process/broker")
      .string();
}

std::chrono::milliseconds MillisecondsFromEnv(const char* variable,
                                              std::chrono::milliseconds fallback) {
  auto text = platform::GetEnv(variable);
  if (!text) return fallback;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value == 0) return fallback;
  return std::chrono::milliseconds(value);
}

}  // namespace rp::broker
