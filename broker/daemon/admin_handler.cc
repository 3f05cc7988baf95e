// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "admin_handler.h"

#include "rp/broker/json.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/framing.h"

namespace rp::broker {
namespace {

std::uint64_t UnixMs(std::chrono::system_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

pb::AdminReply Text(std::string body, std::uint32_t exit_code = 0) {
  pb::AdminReply reply;
  reply.set_kind(pb::ADMIN_REPLY_KIND_TEXT);
  reply.set_body(std::move(body));
  reply.set_exit_code(exit_code);
  reply.set_content_type("text/plain");
  return reply;
}

pb::AdminReply JsonReply(const Json& body) {
  pb::AdminReply reply;
  reply.set_kind(pb::ADMIN_REPLY_KIND_JSON);
  reply.set_body(body.Dump());
  reply.set_content_type("application/json");
  return reply;
}

// The inode_pressure row of status (spec §6.3): the file system holding
// the broker's state directory.
Json InodePressureJson(const std::string& state_dir) {
  auto counts = platform::InodeCountsOf(state_dir);
  if (!counts || !*counts) {
    return Json::Object{{"detail", counts ? std::string("inode accounting not applicable on this "
                                                        "filesystem")
                                          : counts.error().message()},
                        {"supported", false}};
  }
  const platform::InodeCounts& c = **counts;
  const std::uint64_t used = c.total > c.free ? c.total - c.free : 0;
  return Json::Object{{"inodes_free", c.free},
                      {"inodes_total", c.total},
                      {"inodes_used", used},
                      {"supported", true},
                      {"used_ratio", c.total == 0 ? 0.0 : static_cast<double>(used) /
                                                              static_cast<double>(c.total)}};
}

Json StatusJson(const BrokerSnapshot& s) {
  Json::Array backends;
  for (const BackendInfo& b : s.backends) {
    backends.push_back(Json::Object{{"backend_pipe", b.backend_pipe},
                                    {"last_active_unix_ms", UnixMs(b.started)},
                                    {"pid", b.pid},
                                    {"service_name", b.service},
                                    {"service_version", b.version},
                                    {"state", "running"}});
  }
  return Json::Object{{"accepting_hello", s.accepting_hello},
                      {"backends", std::move(backends)},
                      {"broker_instance", s.broker_instance},
                      {"broker_pid", s.broker_pid},
                      {"command", "status"},
                      {"connections_open", s.connections_open},
                      {"fd_pressure", Json::Object{{"demoted", s.fd_pressure}}},
                      {"generated_at_unix_ms", UnixMs(std::chrono::system_clock::now())},
                      {"inode_pressure", InodePressureJson(s.state_dir)},
                      {"schema_version", 1},
                      {"uptime_seconds", s.uptime_seconds}};
}

}  // namespace

std::optional<pb::Frame> HandleAdminFrame(const pb::Frame& frame, const BrokerSnapshot& snapshot,
                                          const std::function<void()>& request_shutdown) {
  if (transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                  transport::kAdminPayloadProtocol)) {
    return std::nullopt;
  }
  pb::AdminRequest request;
  if (!request.ParseFromString(frame.payload())) return std::nullopt;
  pb::AdminReply reply;
  bool shutdown = false;
  switch (request.verb()) {
    case pb::ADMIN_VERB_HEALTHZ:
      reply = Text("ok\n");
      break;
    case pb::ADMIN_VERB_READYZ:
      reply = snapshot.accepting_hello ? Text("ready\n") : Text("not ready\n", 1);
      break;
    case pb::ADMIN_VERB_STATUS:
      reply = request.json() ? JsonReply(StatusJson(snapshot))
                             : Text("broker_instance: " + snapshot.broker_instance +
                                    "\naccepting_hello: " +
                                    (snapshot.accepting_hello ? "true" : "false") + "\n");
      break;
    case pb::ADMIN_VERB_METRICS:
      reply.set_kind(pb::ADMIN_REPLY_KIND_OPENMETRICS);
      reply.set_body(snapshot.metrics ? snapshot.metrics() : std::string("# EOF\n"));
      reply.set_content_type("application/openmetrics-text");
      reply.set_exit_code(0);
      break;
    case pb::ADMIN_VERB_SHUTDOWN:
      reply = Text("broker shutting down\n");
      shutdown = true;
      break;
    default:
      reply = Text("unsupported admin verb\n", 2);
      break;
  }
  if (shutdown && request_shutdown) request_shutdown();
  return transport::MakeResponseTo(frame, transport::SerializeDeterministic(reply));
}

}  // namespace rp::broker
