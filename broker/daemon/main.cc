// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// running-process-broker-v1: the per-user broker daemon and its CLI.
#include <cstdio>
#include <string>

#include "commands.h"
#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"
#include "rp/platform/system.h"

namespace {

constexpr char kUsage[] =
    "usage: running-process-broker-v1 [--socket ENDPOINT] COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve [--service-def-dir DIR] [--state-dir DIR] [--hello-rate-limit N]\n"
    "        [--max-open-files N] [--backend-ready-timeout-ms N] [--drain-deadline-ms N]\n"
    "        [--handoff-ack-timeout-ms N] [--manifest-dir DIR] [--idle-exit-secs N]\n"
    "      run the broker on ENDPOINT (default: this user's shared broker endpoint)\n"
    "  servicedef install --service NAME --binary-path ABS [--isolation private|shared|explicit]\n"
    "        [--explicit-instance NAME] [--per-version-binary-dir ABS] [--min-version V]\n"
    "        [--allow-version V]... [--service-def-dir DIR] [--json]\n"
    "      write NAME.servicedef (atomically, owner-only)\n"
    "  status [--json] | healthz | readyz | shutdown | dump | list-instances | config |\n"
    "  backend-health SERVICE | diagnose [--output PATH] | metrics\n"
    "      ask the broker at ENDPOINT (or $RUNNING_PROCESS_BROKER_V1_SOCKET)\n"
    "  events [--state-dir DIR] [--follow] [--json]\n"
    "      print the lifecycle event log (oldest first; --follow keeps printing)\n"
    "  --version, --help\n";

int Usage(const char* problem) {
  if (problem) std::fprintf(stderr, "%s\n", problem);
  std::fputs(kUsage, problem ? stderr : stdout);
  return problem ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string identity;
  if (rp::platform::IsPrivilegedProcess(&identity) &&
      rp::platform::GetEnv(rp::broker::kEnvAllowPrivileged).value_or("") != "1") {
    std::fprintf(stderr,
                 "running-process-broker-v1 refuses to run as %s by default; set "
                 "RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED=1 only for isolated test environments\n",
                 identity.c_str());
    return 1;
  }
  // --socket may stand anywhere; take it out of the argument list.
  std::optional<std::string> socket;
  rp::broker::Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg != "--socket") {
      args.push_back(arg);
      continue;
    }
    if (socket) return Usage("--socket given more than once");
    if (i + 1 >= argc || std::string(argv[i + 1]).empty()) return Usage("--socket needs a value");
    socket = argv[++i];
  }
  if (args.empty()) return Usage("no broker command provided");
  const std::string command = args.front();
  rp::broker::Args rest(args.begin() + 1, args.end());
  if (command == "--version" || command == "-V") {
    std::printf("running-process-broker-v1 %s\n", RP_VERSION);
    return 0;
  }
  if (command == "--help" || command == "-h") return Usage(nullptr);
  if (command == "serve") return rp::broker::RunServe(rest, socket, RP_VERSION);
  if (command == "servicedef") return rp::broker::RunServicedef(rest);
  if (command == "events") return rp::broker::RunEvents(rest);
  if (rp::broker::IsAdminVerb(command)) return rp::broker::RunAdmin(command, rest, socket);
  return Usage(("unsupported argument \"" + command + "\"").c_str());
}
