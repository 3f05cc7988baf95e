// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The lifecycle event log (spec §7.11): what the broker records, read back
// with `running-process-broker-v1 events`, and the record size bound.
#include <fstream>
#include <iterator>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "event_log.h"
#include "rp/platform/child_process.h"
#include "rp/platform/system.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

namespace rp::test {
namespace {

// Runs the broker's CLI; returns (exit code, stdout+stderr).
std::pair<int, std::string> RunCli(BrokerUnderTest& broker, std::vector<std::string> args) {
  const std::string out = broker.dir().File("cli.out");
  std::remove(out.c_str());
  auto child = platform::ChildProcess::Launch(
      broker.io().get_executor(),
      {BuiltProgram("broker/running-process-broker-v1"),
       std::move(args),
       {{"RUNNING_PROCESS_BROKER_ALLOW_PRIVILEGED", "1"}},
       {},
       out});
  if (!child) return {-1, child.error().message()};
  auto code = RunAsync(broker.io(), child->Wait(), std::chrono::seconds(60));
  std::ifstream in(out, std::ios::binary);
  return {code ? *code : -1,
          std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())};
}

TEST(LifecycleEvents, TheBrokerRecordsSpawnsHellosAndDeathsInOrder) {
  BrokerUnderTest broker;
  broker.Start();
  pb::ServiceDefinition floor;
  floor.set_min_version("1.0.0");
  broker.InstallService("echo", {}, floor);
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo", "0.9.0")));  // below the floor
  ASSERT_TRUE(broker.SendHello(MakeTestHello("nope")));
  const std::uint32_t backend = broker.BackendPid();
  ASSERT_NE(backend, 0u);
  ASSERT_FALSE(platform::KillProcess(backend));
  for (int i = 0; i < 500 && broker.Log().find("backend died") == std::string::npos; ++i) {
    boost::asio::steady_timer(broker.io(), std::chrono::milliseconds(10)).wait();
  }

  // dump shows them too.
  auto dump = broker.Admin(pb::ADMIN_VERB_DUMP);
  ASSERT_TRUE(dump);
  EXPECT_NE(dump->body().find("\"kind\":\"HELLO_ACCEPTED\""), std::string::npos) << dump->body();

  auto [code, text] = RunCli(broker, {"events", "--state-dir", broker.state_dir(), "--json"});
  EXPECT_EQ(code, 0) << text;
  std::size_t at = 0;
  for (const char* kind : {"SERVICE_DEF_LOADED", "SPAWN_ATTEMPT", "SPAWN", "HELLO_ACCEPTED",
                           "VERSION_MISMATCH", "HELLO_REFUSED", "DIED_CRASH"}) {
    const std::string needle = std::string("\"kind\":\"") + kind + "\"";
    auto found = text.find(needle, at);
    ASSERT_NE(found, std::string::npos) << kind << " missing after offset " << at << " in\n" << text;
    at = found + needle.size();
  }
  EXPECT_NE(text.find("\"severity_number\":9,\"severity_text\":\"INFO\""), std::string::npos);
  EXPECT_NE(text.find("\"code\":\"ERROR_SERVICE_UNKNOWN\""), std::string::npos) << text;
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));  // relaunched, then stopped with the broker
  EXPECT_EQ(broker.Shutdown(), 0);

  auto plain = RunCli(broker, {"events", "--state-dir", broker.state_dir()});
  EXPECT_EQ(plain.first, 0);
  EXPECT_NE(plain.second.find("DIED_SHUTDOWN"), std::string::npos) << plain.second;
}

TEST(LifecycleEvents, EveryRecordFitsOneAtomicAppendAndReadsBack) {
  pb::LifecycleEvent event;
  event.set_ts_ms(UINT64_MAX);
  event.set_pid(UINT32_MAX);
  event.set_service_name(std::string(64, 's'));
  event.set_kind(pb::SECURITY_VIOLATION);
  event.set_reason(std::string(5000, 'r'));
  (*event.mutable_extra())["k1"] = std::string(3000, 'v');
  (*event.mutable_extra())["k2"] = "\xC3\xA9\xC3\xA9\xC3\xA9";  // UTF-8 is cut between characters
  event.set_request_id(std::string(300, 'q'));
  event.set_connection_id(UINT64_MAX);
  event.set_broker_instance(std::string(20, 'i'));
  event.set_severity_number(17);
  event.set_severity_text("ERROR");
  const std::string record = broker::EncodeLifecycleRecord(event);
  EXPECT_LE(record.size(), broker::EventLog::kMaxRecordBytes);
  auto decoded = broker::DecodeLifecycleRecords(record + record + "\x05\x01");  // torn tail
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].service_name(), event.service_name());
  EXPECT_EQ(decoded[0].connection_id(), UINT64_MAX);
  EXPECT_FALSE(decoded[0].reason().empty());
  EXPECT_EQ(decoded[0].reason().find_first_not_of('r'), std::string::npos);
}

TEST(LifecycleEvents, AcceptedHellosAreBatchedWithoutReorderingOrLosingAny) {
  TempDir dir;
  boost::asio::io_context io;
  auto read_log = [&](const broker::EventLog& log) {
    std::ifstream in(log.path(), std::ios::binary);
    return broker::DecodeLifecycleRecords(
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  };
  auto hello = [](std::uint64_t id) {
    return broker::LifecycleRecord{pb::HELLO_ACCEPTED, broker::Severity::kInfo, "echo",
                                   "negotiated", {}, id};
  };
  {
    broker::EventLog log(dir.path(), "launch");
    log.EnableBatching(io.get_executor(), std::chrono::milliseconds(50));
    log.Emit(hello(1));
    log.Emit(hello(2));
    EXPECT_TRUE(read_log(log).empty()) << "accepted Hellos wait for the batch";
    // Any other kind is written at once, after what was held back.
    log.Emit({pb::SPAWN, broker::Severity::kInfo, "echo", "ready", {}, 0});
    auto events = read_log(log);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].connection_id(), 1u);
    EXPECT_EQ(events[1].connection_id(), 2u);
    EXPECT_EQ(events[2].kind(), pb::SPAWN);
    // A lone accepted Hello reaches the file once the delay has passed.
    log.Emit(hello(3));
    EXPECT_EQ(read_log(log).size(), 3u);
    for (int i = 0; i < 200 && read_log(log).size() < 4; ++i) {
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(read_log(log).size(), 4u);
    EXPECT_EQ(read_log(log).back().connection_id(), 3u);
    log.Emit(hello(4));  // held back when the log goes away
  }
  auto events = [&] {
    std::ifstream in(broker::LifecycleLogPath(dir.path()), std::ios::binary);
    return broker::DecodeLifecycleRecords(
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }();
  ASSERT_EQ(events.size(), 5u) << "the destructor writes what was held back";
  EXPECT_EQ(events.back().connection_id(), 4u);
}

TEST(LifecycleEvents, RecentEventsAreTheNewestOldestFirstWithNothingLeftFromReusedSlots) {
  TempDir dir;
  broker::EventLog log(dir.path(), "launch");
  const std::size_t total = broker::EventLog::kRecentEvents + 7;
  for (std::size_t i = 1; i <= total; ++i) {
    if (i <= 7) {  // the slots these take are reused by the last seven events
      log.Emit({pb::HELLO_REFUSED, broker::Severity::kWarn, "old-service", "refused for a reason",
                {{"code", "ERROR_X"}}, i});
    } else {
      log.Emit({pb::HELLO_ACCEPTED, broker::Severity::kInfo, "echo", "", {}, i});
    }
  }
  const std::vector<std::string> recent = log.RecentJson();
  ASSERT_EQ(recent.size(), broker::EventLog::kRecentEvents);
  for (std::size_t at = 0; at < recent.size(); ++at) {
    const std::uint64_t id = total - broker::EventLog::kRecentEvents + 1 + at;
    EXPECT_NE(recent[at].find("\"connection_id\":" + std::to_string(id) + ","),
              std::string::npos)
        << at << ": " << recent[at];
  }
  for (const std::string& event : recent) {
    EXPECT_EQ(event.find("old-service"), std::string::npos) << event;
    EXPECT_EQ(event.find("ERROR_X"), std::string::npos) << event;
    EXPECT_EQ(event.find("refused for a reason"), std::string::npos) << event;
    EXPECT_NE(event.find("\"severity_text\":\"INFO\""), std::string::npos) << event;
  }
}

TEST(LifecycleEvents, TheLogIsBoundedByRotation) {
  TempDir dir;
  std::size_t rotated_events = 0, live_events = 0;
  {
    broker::EventLog log(dir.path(), "launch", /*max_bytes=*/4000);
    for (int i = 0; i < 200; ++i) {
      log.Emit({pb::HELLO_ACCEPTED, broker::Severity::kInfo, "echo", "negotiated",
                {{"version", "1.0." + std::to_string(i)}}, static_cast<std::uint64_t>(i)});
    }
    EXPECT_EQ(log.RecentJson().size(), broker::EventLog::kRecentEvents);
    auto read = [](const std::string& path) {
      std::ifstream in(path, std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const std::string live = read(log.path());
    const std::string rotated = read(log.path() + ".1");
    EXPECT_LE(live.size(), 4000u);
    EXPECT_LE(rotated.size(), 4000u);
    live_events = broker::DecodeLifecycleRecords(live).size();
    rotated_events = broker::DecodeLifecycleRecords(rotated).size();
    // Every byte of both files is whole records, and the newest is last.
    EXPECT_GT(rotated_events, 0u);
    EXPECT_EQ(broker::DecodeLifecycleRecords(live).back().connection_id(), 199u);
  }
  EXPECT_LT(live_events + rotated_events, 200u) << "older events were dropped";
}

}  // namespace
}  // namespace rp::test
