// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Manifests and re-adoption (spec §7.5-7.10): a broker killed outright
// leaves its backends running; the next broker reads their manifests,
// verifies each backend (alive, same executable, identity probe) and
// routes Hellos to it without a launch. Tampered manifests are refused.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "manifest_registry.h"
#include "rp/platform/child_process.h"
#include "rp/client/client.h"
#include "rp/platform/system.h"
#include "support/async_test.h"

namespace rp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string LogSince(BrokerUnderTest& broker, std::size_t offset) {
  std::string log = broker.Log();
  return offset < log.size() ? log.substr(offset) : std::string();
}

TEST(Readoption, ARestartedBrokerTakesOverTheRunningBackendWithoutALaunch) {
  BrokerUnderTest broker(BrokerUnderTest::Options{{"--drain-deadline-ms", "2000"}, {}});
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  const std::uint32_t backend = broker.BackendPid();
  ASSERT_NE(backend, 0u);
  const std::string manifest = broker.manifest_dir() + "/echo-1.0.0.pb";
  ASSERT_TRUE(fs::exists(manifest)) << broker.Log();

  broker.Kill();  // no shutdown: the backend is left running
  ASSERT_TRUE(platform::ProcessExists(backend));
  const std::size_t before_restart = broker.Log().size();
  broker.Start();
  auto reply = broker.SendHello(MakeTestHello("echo"));
  ASSERT_TRUE(reply && reply->has_negotiated()) << LogSince(broker, before_restart);
  EXPECT_EQ(broker.BackendPid(), backend);
  const std::string restarted = LogSince(broker, before_restart);
  EXPECT_NE(restarted.find("adopted backend: service=echo"), std::string::npos) << restarted;
  EXPECT_EQ(restarted.find("spawn attempt"), std::string::npos) << restarted;

  // A client gets there by reconnecting (no control channel to hand off
  // over) and is served by the same process.
  client::ClearHelloSkipCache();
  client::ConnectOptions options;
  options.broker_endpoint = broker.endpoint();
  options.use_hello_skip_cache = false;
  options.early_data = "adopted";
  auto connected = RunAsync(broker.io(), client::Connect("echo", "1.0.0", options), 30s);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(connected))
      << std::get<client::ConnectError>(connected).message();
  auto& connection = std::get<client::Connection>(connected);
  EXPECT_EQ(connection.route, client::Route::kBrokerNegotiated);
  std::string back(7, '\0');
  EXPECT_FALSE(RunAsync(broker.io(), platform::ReadExactly(connection.stream, boost::asio::buffer(back))));
  EXPECT_EQ(back, "adopted");
  connection.stream.Close();

  // Shutdown stops the adopted backend too, and its manifest goes with it.
  EXPECT_EQ(broker.Shutdown(), 0);
  EXPECT_FALSE(platform::ProcessExists(backend));
  EXPECT_FALSE(fs::exists(manifest));
}

TEST(Readoption, ATamperedManifestIsRemovedAndTheServiceRelaunched) {
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  const std::uint32_t backend = broker.BackendPid();
  const std::string manifest = broker.manifest_dir() + "/echo-1.0.0.pb";
  ASSERT_TRUE(fs::exists(manifest));
  broker.Kill();
  {
    std::fstream file(manifest, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(-1, std::ios::end);
    file.put('\x7f');  // inside the seal: it no longer matches
  }
  const std::size_t before_restart = broker.Log().size();
  broker.Start();
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")))
      << LogSince(broker, before_restart) << [&] {
           std::ifstream in(broker.state_dir() + "/logs/echo-1.0.0.log");
           return std::string((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
         }();
  const std::string restarted = LogSince(broker, before_restart);
  EXPECT_NE(restarted.find("echo-1.0.0.pb ignored: self_sha256 does not match"), std::string::npos)
      << restarted;
  EXPECT_NE(restarted.find("spawn attempt"), std::string::npos) << restarted;
  EXPECT_NE(broker.BackendPid(), backend);
  EXPECT_EQ(broker.Shutdown(), 0);
  platform::KillProcess(backend);  // the orphan the tampered manifest hid
}

TEST(Readoption, PriorBootManifestsAreRemovedAndOtherHostsAreLeftAlone) {
  BrokerUnderTest broker;
  broker::ManifestRegistry registry(broker.manifest_dir());
  auto write = [&](const char* service, const char* machine, const char* boot) {
    pb::CacheManifest manifest;
    manifest.set_service_name(service);
    manifest.set_service_version("1.0.0");
    *manifest.mutable_host() = broker::CurrentHostIdentity();
    if (machine) manifest.mutable_host()->set_machine_id(machine);
    if (boot) manifest.mutable_host()->set_boot_id(boot);
    manifest.mutable_current_daemon()->set_pid(platform::CurrentProcessId());
    ASSERT_FALSE(registry.Publish(manifest));
  };
  write("stale", nullptr, "a-boot-long-gone");
  write("elsewhere", "another-machine", nullptr);
  broker.Start();
  ASSERT_TRUE(broker.Admin(pb::ADMIN_VERB_HEALTHZ));  // adoption is done before any reply
  const std::string log = broker.Log();
  EXPECT_NE(log.find("stale-1.0.0.pb ignored: written before this boot"), std::string::npos) << log;
  EXPECT_NE(log.find("elsewhere-1.0.0.pb ignored: written on another host"), std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(registry.PathFor("stale", "1.0.0")));
  EXPECT_TRUE(fs::exists(registry.PathFor("elsewhere", "1.0.0")));
  EXPECT_EQ(broker.BackendPid(), 0u) << "neither was adopted (the test process is no backend)";
  EXPECT_EQ(broker.Shutdown(), 0);
}

}  // namespace
}  // namespace rp::test
