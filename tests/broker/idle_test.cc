// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Idle exit: a backend whose service definition sets idle.timeout_secs
// asks to be retired after that long without a connection; the broker
// stops routing to it, stops it (DIED_IDLE), and the next Hello launches a
// fresh one. A connected client keeps it alive.
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "rp/broker/contract.h"
#include "rp/client/client.h"
#include "rp/platform/system.h"
#include "support/async_test.h"

namespace rp::test {
namespace {

using namespace std::chrono_literals;

TEST(IdleExit, AnIdleBackendIsRetiredAndTheNextHelloLaunchesAnother) {
  BrokerUnderTest broker;
  broker.Start();
  pb::ServiceDefinition idle;
  (*idle.mutable_labels())[broker::kIdleTimeoutLabel] = "1";
  broker.InstallService("echo", {}, idle);

  // A client holds a connection for longer than the timeout: no retirement.
  client::ConnectOptions options;
  options.broker_endpoint = broker.endpoint();
  options.use_hello_skip_cache = false;
  options.accept_handoff = false;
  auto held = RunAsync(broker.io(), client::Connect("echo", "1.0.0", options), 30s);
  ASSERT_TRUE(std::holds_alternative<client::Connection>(held));
  const std::uint32_t first = broker.BackendPid();
  ASSERT_NE(first, 0u);
  boost::asio::steady_timer(broker.io(), 1500ms).wait();
  EXPECT_EQ(broker.Log().find("(idle)"), std::string::npos) << broker.Log();
  EXPECT_TRUE(platform::ProcessExists(first));

  // Once the client is gone, the backend goes after its timeout.
  std::get<client::Connection>(held).stream.Close();
  for (int i = 0; i < 1000 && broker.Log().find("(idle)") == std::string::npos; ++i) {
    boost::asio::steady_timer(broker.io(), 10ms).wait();
  }
  EXPECT_NE(broker.Log().find("backend stopped: service=echo"), std::string::npos) << broker.Log();
  for (int i = 0; i < 500 && platform::ProcessExists(first); ++i) {
    boost::asio::steady_timer(broker.io(), 10ms).wait();
  }
  EXPECT_FALSE(platform::ProcessExists(first));
  auto dump = broker.Admin(pb::ADMIN_VERB_DUMP);
  ASSERT_TRUE(dump);
  EXPECT_NE(dump->body().find("\"kind\":\"DIED_IDLE\""), std::string::npos) << dump->body();

  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  const std::uint32_t second = broker.BackendPid();
  EXPECT_NE(second, 0u);
  EXPECT_NE(second, first);
  EXPECT_EQ(broker.Shutdown(), 0);
}

TEST(IdleExit, TheBrokerItselfExitsAfterItsIdlePeriodWhenAskedTo) {
  BrokerUnderTest broker(BrokerUnderTest::Options{{"--idle-exit-secs", "1"}, {}});
  broker.Start();
  broker.InstallService("echo");
  // A backend keeps it up; the backend retiring (idle) lets it go.
  pb::ServiceDefinition idle;
  (*idle.mutable_labels())[broker::kIdleTimeoutLabel] = "1";
  broker.InstallService("echo", {}, idle);
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  EXPECT_EQ(broker.WaitForExit(), 0) << broker.Log();
  const std::string log = broker.Log();
  EXPECT_LT(log.find("(idle)"), log.find("idle for 1 s with no backend and no client: exiting"))
      << log;
}

}  // namespace
}  // namespace rp::test
