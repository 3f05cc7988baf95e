// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include <charconv>
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <google/protobuf/stubs/logging.h>

#include "broker_server.h"
#include "manifest_registry.h"
#include "commands.h"
#include "log.h"
#include "rp/broker/contract.h"
#include "rp/broker/service_definitions.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "rp/transport/endpoint_names.h"

namespace rp::broker {

namespace {

bool ParseCount(const std::optional<std::string>& text, std::uint64_t* out) {
  if (!text) return true;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), *out);
  return ec == std::errc() && end == text->data() + text->size() && *out > 0;
}

}  // namespace

std::optional<std::string> OptionValue(const Args& args, const std::string& name) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return std::nullopt;
}

bool HasFlag(const Args& args, const std::string& name) {
  for (const auto& a : args) {
    if (a == name) return true;
  }
  return false;
}

int RunServe(const Args& args, const std::optional<std::string>& socket,
             const std::string& version) {
  // Malformed input is refused with a reply; protobuf need not log it too.
  google::protobuf::SetLogHandler(nullptr);
  BrokerConfig config;
  config.daemon_version = version;
  if (socket) {
    config.endpoint = *socket;
  } else {
    auto shared = transport::CurrentSharedBrokerAddress();
    if (!shared) {
      std::fprintf(stderr, "serve failed: cannot derive the shared broker endpoint: %s\n",
                   shared.error().message().c_str());
      return 1;
    }
    config.endpoint = *shared;
  }
  config.service_def_dir =
      OptionValue(args, "--service-def-dir").value_or(ServiceDefinitionStore::DefaultDirectory());
  if (OptionValue(args, "--service-def-dir")) {
    config.service_def_dir_source = "flag:--service-def-dir";
  } else if (auto env = platform::GetEnv(kEnvServiceDefDir); env && !env->empty()) {
    config.service_def_dir_source = std::string("env:") + kEnvServiceDefDir;
  }
  config.state_dir = OptionValue(args, "--state-dir").value_or(DefaultStateDirectory());
  config.manifest_dir =
      OptionValue(args, "--manifest-dir").value_or(ManifestRegistry::DefaultDirectory());
  config.hello_timeout = MillisecondsFromEnv(kEnvHelloTimeoutMs, config.hello_timeout);
  std::uint64_t rate = config.hello_rate_limit, files = 0, ready_ms = 0, drain_ms = 0, ack_ms = 0,
                idle_secs = 0;
  if (!ParseCount(OptionValue(args, "--hello-rate-limit"), &rate) ||
      !ParseCount(OptionValue(args, "--max-open-files"), &files) ||
      !ParseCount(OptionValue(args, "--backend-ready-timeout-ms"), &ready_ms) ||
      !ParseCount(OptionValue(args, "--drain-deadline-ms"), &drain_ms) ||
      !ParseCount(OptionValue(args, "--idle-exit-secs"), &idle_secs) ||
      !ParseCount(OptionValue(args, "--handoff-ack-timeout-ms"), &ack_ms)) {
    std::fprintf(stderr, "serve: numeric options take a positive integer\n");
    return 2;
  }
  config.hello_rate_limit = static_cast<std::uint32_t>(rate);
  config.max_open_files = files;
  if (ready_ms) config.backend_ready_timeout = std::chrono::milliseconds(ready_ms);
  if (drain_ms) config.drain_deadline = std::chrono::milliseconds(drain_ms);
  config.idle_exit = std::chrono::seconds(idle_secs);
  if (ack_ms) config.handoff_ack_timeout = std::chrono::milliseconds(ack_ms);
  if (config.max_open_files) {
    if (auto ec = platform::SetOpenFileLimit(config.max_open_files)) {
      std::fprintf(stderr, "serve failed: cannot set the open-file limit: %s\n",
                   ec.message().c_str());
      return 1;
    }
  }
  if (auto ec = platform::EnsurePrivateDirectory(config.state_dir)) {
    std::fprintf(stderr, "serve failed: state directory %s: %s\n", config.state_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }

  boost::asio::io_context io;
  BrokerServer server(io, config);
  if (auto ec = server.Start()) {
    if (ec == platform::Error::kAddressInUse) {
      std::fprintf(stderr, "serve failed: another broker is already serving %s\n",
                   config.endpoint.c_str());
    } else {
      std::fprintf(stderr, "serve failed: cannot listen on %s: %s\n", config.endpoint.c_str(),
                   ec.message().c_str());
    }
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&server](boost::system::error_code ec, int signal) {
    if (ec) return;
    Log().info("received signal {}", signal);
    server.Stop();
  });
  server.set_on_stopped([&io, &signals] {
    boost::system::error_code ignored;
    signals.cancel(ignored);
    io.stop();  // connections still in flight end with the process
  });
  io.run();
  return 0;
}

}  // namespace rp::broker
