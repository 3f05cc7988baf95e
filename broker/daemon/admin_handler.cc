// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "admin_handler.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "diagnostic_bundle.h"
#include "rp/broker/json.h"
#include "rp/platform/host.h"
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

// Every JSON reply starts from these three keys (spec §6.3).
Json::Object Envelope(const char* command) {
  return Json::Object{{"command", command},
                      {"generated_at_unix_ms", UnixMs(std::chrono::system_clock::now())},
                      {"schema_version", 1}};
}

Json Setting(Json value, const char* source) {
  return Json::Object{{"source", source}, {"value", std::move(value)}};
}

Json::Array Strings(std::initializer_list<const char*> items) {
  Json::Array out;
  for (const char* item : items) out.emplace_back(item);
  return out;
}

// effective_config of dump and config (spec §6.3), with the paths this
// broker really uses.
Json EffectiveConfig(const BrokerSnapshot& s) {
  return Json::Object{
      {"broker", Json::Object{{"accepting_hello", Setting(s.accepting_hello, "runtime")},
                              {"broker_instance", Setting(s.broker_instance, "runtime")},
                              {"broker_pid", Setting(s.broker_pid, "runtime")}}},
      {"diagnostics",
       Json::Object{{"bundle_format", Setting("tar.gz", "schema-v1")},
                    {"bundle_mode", Setting("metadata-only", "schema-v1")},
                    {"redactions",
                     Setting(Strings({"home", "secret-env", "acl-identities"}), "schema-v1")}}},
      {"limits", Json::Object{{"connections_open", Setting(s.connections_open, "runtime")},
                              {"max_frame_bytes", Setting(16777216, "protocol-v1")},
                              {"max_hello_bytes", Setting(65536, "protocol-v1")}}},
      {"paths",
       Json::Object{{"service_definition_dir",
                     Setting(s.service_def_dir, s.service_def_dir_source.c_str())},
                    {"state_dir", Setting(s.state_dir, "runtime")}}},
      {"protocol", Json::Object{{"admin_payload_protocol", Setting("0xAD01", "protocol-v1")},
                                {"envelope_version", Setting(1, "protocol-v1")},
                                {"framing_version", Setting(1, "protocol-v1")}}},
      {"spawn_budget",
       Json::Object{{"active_budget_rows",
                     Setting(static_cast<std::uint64_t>(s.spawn_budgets.size()), "runtime")},
                    {"default_attempts_per_window", Setting(s.spawn_attempts_per_window, "default")},
                    {"default_window_ms", Setting(s.spawn_window_ms, "default")}}}};
}

// dump's backend_table (and the bundle's process/backends.json).
Json::Array BackendTable(const BrokerSnapshot& s) {
  Json::Array table;
  for (const BackendInfo& b : s.backends) {
    table.push_back(Json::Object{{"backend_pipe", b.backend_pipe},
                                 {"pid", b.pid},
                                 {"service_name", b.service},
                                 {"service_version", b.version},
                                 {"state", "running"}});
  }
  return table;
}

Json DumpJson(const BrokerSnapshot& s) {
  Json::Object out = Envelope("dump");
  Json::Array table = BackendTable(s);
  Json::Array budgets;
  for (const auto& row : s.spawn_budgets) {
    budgets.push_back(Json::Object{
        {"attempts_used", row.attempts_used},
        {"broker_instance", s.broker_instance},
        {"in_flight", row.in_flight},
        {"remaining", row.remaining},
        {"retry_after_ms", row.retry_after_ms ? Json(*row.retry_after_ms) : Json(nullptr)},
        {"service_name", row.service},
        {"service_version", row.version}});
  }
  Json::Array events;
  for (const std::string& event : s.recent_events_json) events.push_back(Json::Raw(event));
  out["backend_table"] = std::move(table);
  out["broker_instance"] = s.broker_instance;
  out["effective_config"] = EffectiveConfig(s);
  out["recent_lifecycle_events"] = std::move(events);
  out["spawn_budgets"] = std::move(budgets);
  return out;
}

Json ListInstancesJson(const BrokerSnapshot& s) {
  Json::Object out = Envelope("list-instances");
  out["instances"] = Json::Array{Json::Object{{"broker_instance", s.broker_instance},
                                              {"pid", s.broker_pid},
                                              {"pipe", ""},
                                              {"state", s.accepting_hello ? "running" : "not-serving"}}};
  return out;
}

Json BackendHealthJson(const BrokerSnapshot& s, const std::string& requested) {
  const std::string service = requested.empty() ? "unknown" : requested;
  Json::Object out = Envelope("backend-health");
  Json::Array rows;
  for (const BackendInfo& b : s.backends) {
    if (b.service != service) continue;
    rows.push_back(Json::Object{{"last_error", nullptr},
                                {"last_hello_unix_ms", 0},
                                {"pid", b.pid},
                                {"service_version", b.version},
                                {"state", "running"}});
  }
  out["backends"] = std::move(rows);
  out["service_name"] = service;
  return out;
}

Json ConfigJson(const BrokerSnapshot& s) {
  Json::Object out = Envelope("config");
  out["values"] = EffectiveConfig(s);
  return out;
}

Json StatusJson(const BrokerSnapshot& s);

// The tail of a backend's log file (at most this many bytes).
constexpr std::size_t kLogTailBytes = 64 * 1024;

std::string FileTail(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - kLogTailBytes);
  in.seekg(start);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// diagnose (spec §6.3): the bundle at `output` (tar.gz; ours is really
// written, with backend log tails added), and the reply describing it.
Json DiagnoseJson(const BrokerSnapshot& s, std::string output) {
  if (output.empty()) output = "bundle.tar.gz";
  struct Entry {
    std::string path;
    const char* kind;
    const char* source;
    bool required;
    bool redacted;
    std::string contents;
  };
  std::string events;
  for (const std::string& event : s.recent_events_json) events += event + "\n";
  Json::Array manifest_files;
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(s.manifest_dir, ec)) {
    if (file.path().extension() == ".pb") manifest_files.push_back(file.path().filename().string());
  }
  std::vector<Entry> entries = {
      {"admin/status.json", "json", "status", true, false, StatusJson(s).Dump()},
      {"admin/dump.json", "json", "dump", true, true, DumpJson(s).Dump()},
      {"config/effective.json", "json", "effective-config", true, false,
       EffectiveConfig(s).Dump()},
      {"metrics/openmetrics.txt", "openmetrics", "metrics", true, false,
       s.metrics ? s.metrics() : std::string("# EOF\n")},
      {"events/lifecycle.jsonl", "jsonl", "lifecycle-events", false, true, events},
      {"manifest/backend-manifests.json", "json", "backend-manifest-index", false, true,
       Json(Json::Object{{"directory", s.manifest_dir}, {"files", manifest_files}}).Dump()},
      {"process/backends.json", "json", "backend-table", true, true,
       Json(BackendTable(s)).Dump()},
      {"system/summary.json", "json", "host-summary", false, true,
       Json(Json::Object{{"broker_pid", s.broker_pid},
                         {"os", platform::CurrentOs() == platform::OsFlavor::kWindows ? "windows"
                                : platform::CurrentOs() == platform::OsFlavor::kMacOS ? "macos"
                                                                                       : "linux"},
                         {"uptime_seconds", s.uptime_seconds}})
           .Dump()}};
  for (const BackendInfo& b : s.backends) {
    if (b.log_path.empty()) continue;
    entries.push_back({"logs/" + b.service + "-" + b.version + ".log", "text", "backend-log",
                       false, true, FileTail(b.log_path)});
  }
  std::vector<BundleFile> files;
  Json::Array entry_rows, file_names;
  for (Entry& e : entries) {
    const std::string& path = e.path;
    Json::Object row{{"kind", e.kind},
                     {"path", path},
                     {"redacted", e.redacted},
                     {"required", e.required},
                     {"source", e.source}};
    if (path == "process/backends.json") {
      row["record_count"] = static_cast<std::uint64_t>(s.backends.size());
    }
    entry_rows.push_back(std::move(row));
    file_names.push_back(path);
    files.push_back({path, e.redacted ? RedactHome(std::move(e.contents)) : std::move(e.contents)});
  }
  const bool created = !WriteTarGz(output, files);
  Json::Object out = Envelope("diagnose");
  out["bundle"] = Json::Object{{"created", created},
                               {"entries", std::move(entry_rows)},
                               {"format", "tar.gz"},
                               {"mode", "metadata-only"}};
  out["files"] = std::move(file_names);
  out["output"] = output;
  out["redaction_policy"] = Json::Array{
      Json::Object{{"name", "home"}, {"replacement", "~"}},
      Json::Object{{"matches", Strings({"KEY", "TOKEN", "SECRET", "PASS"})}, {"name", "secret-env"}},
      Json::Object{{"name", "acl-identities"}, {"replacement", "stable-hash"}}};
  out["redactions"] = Strings({"home", "secret-env", "acl-identities"});
  return out;
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

std::optional<pb::Frame> HandleAdminFrame(
    const pb::Frame& frame, const BrokerSnapshot& snapshot,
    const std::function<void(std::chrono::milliseconds)>& request_shutdown) {
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
    case pb::ADMIN_VERB_DUMP:
      reply = JsonReply(DumpJson(snapshot));
      break;
    case pb::ADMIN_VERB_LIST_INSTANCES:
      reply = JsonReply(ListInstancesJson(snapshot));
      break;
    case pb::ADMIN_VERB_BACKEND_HEALTH:
      reply = JsonReply(BackendHealthJson(snapshot, request.service_name()));
      break;
    case pb::ADMIN_VERB_CONFIG:
      reply = JsonReply(ConfigJson(snapshot));
      break;
    case pb::ADMIN_VERB_DIAGNOSE: {
      Json body = DiagnoseJson(snapshot, request.output_path());
      reply = JsonReply(body);
      if (reply.body().find("\"created\":false") != std::string::npos) reply.set_exit_code(1);
      break;
    }
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
  if (shutdown && request_shutdown) {
    request_shutdown(std::chrono::milliseconds(request.drain_deadline_ms()));
  }
  return transport::MakeResponseTo(frame, transport::SerializeDeterministic(reply));
}

}  // namespace rp::broker
