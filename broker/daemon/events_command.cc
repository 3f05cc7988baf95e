// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// `running-process-broker-v1 events`: prints the lifecycle event log.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "broker_config.h"
#include "commands.h"
#include "event_log.h"

namespace rp::broker {
namespace {

namespace fs = std::filesystem;
constexpr auto kFollowPoll = std::chrono::milliseconds(200);

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void Print(const pb::LifecycleEvent& event, bool json) {
  if (json) {
    std::printf("%s\n", LifecycleEventJson(event).c_str());
    return;
  }
  std::string extra;
  for (const auto& [key, value] : event.extra()) extra += " " + key + "=" + value;
  std::printf("%llu %-5s %-20s service=%s connection_id=%llu %s%s\n",
              static_cast<unsigned long long>(event.ts_ms()), event.severity_text().c_str(),
              pb::EventKind_Name(event.kind()).c_str(), event.service_name().c_str(),
              static_cast<unsigned long long>(event.connection_id()), event.reason().c_str(),
              extra.c_str());
}

}  // namespace

int RunEvents(const Args& args) {
  const std::string state_dir = OptionValue(args, "--state-dir").value_or(DefaultStateDirectory());
  const bool json = HasFlag(args, "--json");
  const std::string path = LifecycleLogPath(state_dir);
  std::error_code ec;
  if (!fs::exists(path, ec) && !fs::exists(path + ".1", ec) && !HasFlag(args, "--follow")) {
    std::fprintf(stderr, "no lifecycle events at %s\n", path.c_str());
    return 1;
  }
  // The rotated file first, then the live one.
  for (const auto& event : DecodeLifecycleRecords(ReadAll(path + ".1"))) Print(event, json);
  std::string seen = ReadAll(path);
  std::size_t printed = 0;
  for (const auto& event : DecodeLifecycleRecords(seen)) {
    Print(event, json);
    ++printed;
  }
  std::fflush(stdout);
  if (!HasFlag(args, "--follow")) return 0;
  // Poll for growth; a shrink means the broker rotated it: start over.
  for (;;) {
    std::this_thread::sleep_for(kFollowPoll);
    std::string now = ReadAll(path);
    if (now.size() < seen.size()) printed = 0;
    if (now.size() == seen.size()) continue;
    auto events = DecodeLifecycleRecords(now);
    for (std::size_t i = printed; i < events.size(); ++i) Print(events[i], json);
    printed = events.size();
    seen = std::move(now);
    std::fflush(stdout);
  }
}

}  // namespace rp::broker
