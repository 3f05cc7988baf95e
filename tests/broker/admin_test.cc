// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Admin verbs against the real broker (spec §6): reply shapes and the JSON
// keys of status, with live values.
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <zlib.h>

#include "broker/broker_fixture.h"
#include "rp/platform/child_process.h"
#include "support/async_test.h"
#include "rp/platform/host.h"
#include "rp/platform/system.h"
#include "support/temp_dir.h"

namespace rp::test {
namespace {

TEST(BrokerAdmin, StatusJsonCarriesEverySpecifiedKeyWithLiveValues) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));  // one backend running
  auto status = broker.Admin(pb::ADMIN_VERB_STATUS, /*json=*/true);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->kind(), pb::ADMIN_REPLY_KIND_JSON);
  EXPECT_EQ(status->content_type(), "application/json");
  EXPECT_EQ(status->exit_code(), 0u);
  const std::string& body = status->body();
  for (const char* key :
       {"\"accepting_hello\":true", "\"backends\":[{\"backend_pipe\":", "\"broker_instance\":",
        "\"broker_pid\":", "\"command\":\"status\"", "\"connections_open\":",
        "\"fd_pressure\":{\"demoted\":false}", "\"generated_at_unix_ms\":", "\"inode_pressure\":{",
        "\"schema_version\":1", "\"service_name\":\"echo\"", "\"state\":\"running\"",
        "\"uptime_seconds\":"}) {
    EXPECT_NE(body.find(key), std::string::npos) << key << " missing in " << body;
  }
  // The state directory's file system: real counts where it keeps them.
  TempDir beside_state_dir;  // same base directory as the broker's state dir
  auto counts = platform::InodeCountsOf(beside_state_dir.path());
  ASSERT_TRUE(counts);
  if (!*counts) {
    EXPECT_NE(body.find("\"inode_pressure\":{\"detail\":\"inode accounting not applicable on "
                        "this filesystem\",\"supported\":false}"),
              std::string::npos)
        << body;
  } else {
    EXPECT_NE(body.find("\"inode_pressure\":{\"inodes_free\":"), std::string::npos) << body;
    EXPECT_NE(body.find("\"supported\":true,\"used_ratio\":"), std::string::npos) << body;
  }
  EXPECT_EQ(broker.Shutdown(), 0);
}

// True when every key appears in `body`.
::testing::AssertionResult HasAll(const std::string& body, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (body.find(key) == std::string::npos) {
      return ::testing::AssertionFailure() << key << " missing in " << body;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(BrokerAdmin, DumpListInstancesBackendHealthAndConfigAnswerWithTheirShapes) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));

  auto dump = broker.Admin(pb::ADMIN_VERB_DUMP);
  ASSERT_TRUE(dump);
  EXPECT_EQ(dump->kind(), pb::ADMIN_REPLY_KIND_JSON);
  EXPECT_TRUE(HasAll(dump->body(),
                     {"\"backend_table\":[{\"backend_pipe\":", "\"command\":\"dump\"",
                      "\"effective_config\":{\"broker\":", "\"recent_lifecycle_events\":[",
                      "\"spawn_budgets\":[{\"attempts_used\":0,", "\"remaining\":3,",
                      "\"retry_after_ms\":null,\"service_name\":\"echo\"",
                      "\"schema_version\":1"}));

  auto instances = broker.Admin(pb::ADMIN_VERB_LIST_INSTANCES);
  ASSERT_TRUE(instances);
  EXPECT_TRUE(HasAll(instances->body(),
                     {"\"command\":\"list-instances\"", "\"instances\":[{\"broker_instance\":",
                      "\"pipe\":\"\",\"state\":\"running\"}]"}));

  pb::AdminRequest health;
  health.set_verb(pb::ADMIN_VERB_BACKEND_HEALTH);
  health.set_service_name("echo");
  auto echo_health = broker.AdminRequest(health);
  ASSERT_TRUE(echo_health);
  EXPECT_TRUE(HasAll(echo_health->body(),
                     {"\"backends\":[{\"last_error\":null,\"last_hello_unix_ms\":0,\"pid\":",
                      "\"service_version\":\"1.0.0\",\"state\":\"running\"}]",
                      "\"command\":\"backend-health\"", "\"service_name\":\"echo\""}));
  health.set_service_name("");
  auto unknown_health = broker.AdminRequest(health);
  ASSERT_TRUE(unknown_health);
  EXPECT_TRUE(HasAll(unknown_health->body(), {"\"backends\":[]", "\"service_name\":\"unknown\""}));

  auto config = broker.Admin(pb::ADMIN_VERB_CONFIG);
  ASSERT_TRUE(config);
  EXPECT_TRUE(HasAll(config->body(),
                     {"\"command\":\"config\"", "\"values\":{",
                      "\"service_definition_dir\":{\"source\":\"flag:--service-def-dir\"",
                      "\"max_hello_bytes\":{\"source\":\"protocol-v1\",\"value\":65536}",
                      "\"default_window_ms\":{\"source\":\"default\",\"value\":30000}"}));
  EXPECT_EQ(broker.Shutdown(), 0);
}

// The gunzipped bytes of `path` ("" when it is not gzip).
std::string Gunzip(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return "";
  std::string out;
  char buf[4096];
  for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  gzclose(gz);
  return out;
}

TEST(BrokerAdmin, DiagnoseWritesARealBundle) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  pb::AdminRequest request;
  request.set_verb(pb::ADMIN_VERB_DIAGNOSE);
  request.set_output_path(broker.dir().File("bundle.tar.gz"));
  auto reply = broker.AdminRequest(request);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->exit_code(), 0u) << reply->body();
  EXPECT_TRUE(HasAll(reply->body(),
                     {"\"bundle\":{\"created\":true,\"entries\":[{\"kind\":\"json\",\"path\":\"admin/status.json\"",
                      "\"path\":\"process/backends.json\",\"record_count\":1",
                      "\"path\":\"logs/echo-1.0.0.log\"", "\"command\":\"diagnose\"",
                      "\"redactions\":[\"home\",\"secret-env\",\"acl-identities\"]"}));

  // A ustar archive, gzip-compressed: each entry's header names it.
  const std::string tar = Gunzip(broker.dir().File("bundle.tar.gz"));
  ASSERT_GT(tar.size(), 1024u);
  EXPECT_EQ(tar.substr(0, 17), "admin/status.json");
  EXPECT_EQ(tar.substr(257, 5), "ustar");
  for (const char* name : {"admin/dump.json", "config/effective.json", "metrics/openmetrics.txt",
                           "events/lifecycle.jsonl", "system/summary.json",
                           "logs/echo-1.0.0.log"}) {
    EXPECT_NE(tar.find(std::string(name) + std::string(1, '\0')), std::string::npos) << name;
  }
  EXPECT_NE(tar.find("\"command\":\"status\""), std::string::npos);
  EXPECT_NE(tar.find("running_process_broker_v1_uptime_seconds"), std::string::npos);
  EXPECT_NE(tar.find("rp-echo-backend echo 1.0.0 serving"), std::string::npos) << "log tail";
  EXPECT_EQ(broker.Shutdown(), 0);
}

// The value of the sample that starts with `prefix` (name and labels), or
// -1 when there is none.
double SampleValue(const std::string& body, const std::string& prefix) {
  for (std::size_t at = body.find(prefix); at != std::string::npos;
       at = body.find(prefix, at + 1)) {
    if (at != 0 && body[at - 1] != '\n') continue;
    return std::stod(body.substr(at + prefix.size()));
  }
  return -1;
}

TEST(BrokerAdmin, MetricsAreValidOpenMetricsAndFollowTheTraffic) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  ASSERT_TRUE(broker.SendHello(MakeTestHello("nope")));
  auto metrics = broker.Admin(pb::ADMIN_VERB_METRICS);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->kind(), pb::ADMIN_REPLY_KIND_OPENMETRICS);
  EXPECT_EQ(metrics->content_type(), "application/openmetrics-text");
  EXPECT_EQ(metrics->exit_code(), 0u);
  const std::string& body = metrics->body();
  const std::string p = "running_process_broker_v1_";
  EXPECT_EQ(SampleValue(body, p + "hello_total{service=\"echo\",version=\"1.0.0\",outcome=\"negotiated\"} "), 2);
  EXPECT_EQ(SampleValue(body, p + "hello_total{service=\"nope\",version=\"1.0.0\",outcome=\"ERROR_SERVICE_UNKNOWN\"} "), 1);
  EXPECT_EQ(SampleValue(body, p + "hello_duration_seconds_count{service=\"echo\"} "), 2);
  EXPECT_EQ(SampleValue(body, p + "hello_duration_seconds_bucket{service=\"echo\",le=\"+Inf\"} "), 2);
  EXPECT_EQ(SampleValue(body, p + "active_backends{service=\"echo\"} "), 1);
  EXPECT_EQ(SampleValue(body, p + "spawn_attempts_total{service=\"echo\",version=\"1.0.0\",outcome=\"spawned\"} "), 1);
  EXPECT_GE(SampleValue(body, p + "spawn_budget_remaining{service=\"echo\",version=\"1.0.0\"} "), 0);
  EXPECT_GT(SampleValue(body, p + "uptime_seconds "), 0);
  EXPECT_GE(SampleValue(body, p + "connections_open "), 0);
  EXPECT_GE(SampleValue(body, p + "fd_usage_ratio "), 0);
  EXPECT_GE(SampleValue(body, p + "handoff_attempts_total "), 0);
  EXPECT_EQ(body.substr(body.size() - 6), "# EOF\n");

  // A real OpenMetrics parser accepts it (Linux: Debian's
  // python3-prometheus-client; a Windows test process cannot run it).
  if (platform::CurrentOs() != platform::OsFlavor::kWindows) {
    TempDir dir;
    {
      std::ofstream out(dir.File("metrics.txt"), std::ios::binary);
      out << body;
    }
    const std::string report = dir.File("report.txt");
    auto parser = platform::ChildProcess::Launch(
        broker.io().get_executor(),
        {"/usr/bin/python3",
         {std::string(RP_SOURCE_DIR) + "/tests/tools/check_openmetrics.py", dir.File("metrics.txt")},
         {},
         {},
         report});
    ASSERT_TRUE(parser) << parser.error().message();
    auto exit_code = RunAsync(broker.io(), parser->Wait(), std::chrono::seconds(60));
    std::ifstream in(report);
    std::string parsed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(exit_code);
    EXPECT_EQ(*exit_code, 0) << parsed;
    EXPECT_NE(parsed.find(p + "hello counter 2"), std::string::npos) << parsed;
    EXPECT_NE(parsed.find(p + "hello_duration_seconds histogram"), std::string::npos) << parsed;
    EXPECT_NE(parsed.find(p + "uptime_seconds gauge 1"), std::string::npos) << parsed;
  }
  EXPECT_EQ(broker.Shutdown(), 0);
}

}  // namespace
}  // namespace rp::test
