// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Descriptor exhaustion: the broker says ERROR_FD_PRESSURE instead of going
// silent, admin keeps working, and it recovers by itself.
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "rp/platform/host.h"
#include "rp/platform/local_stream.h"
#include "support/async_test.h"

namespace rp::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(BrokerFdPressure, RefusesWithFdPressureKeepsAdminAndRecovers) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "Windows has no per-process descriptor limit to exhaust";
  }
  BrokerUnderTest broker(BrokerUnderTest::Options{
      {"--max-open-files", "40"}, {{"RUNNING_PROCESS_BROKER_HELLO_TIMEOUT_MS", "60000"}}});
  broker.Start();
  // Idle connections until the broker runs out of descriptors (it says so
  // in its log); bounded.
  std::vector<platform::LocalStream> idle;
  bool demoted = false;
  for (int i = 0; i < 200 && !demoted; ++i) {
    auto s = RunAsync(broker.io(),
                      platform::LocalStream::Connect(broker.io().get_executor(), broker.endpoint(), 5s));
    ASSERT_TRUE(s) << s.error().message();
    idle.push_back(std::move(*s));
    for (int wait = 0; wait < 20 && !demoted; ++wait) {
      demoted = broker.Log().find("demoted under fd pressure") != std::string::npos;
      if (!demoted && idle.size() < 20) break;  // far from the limit: no need to wait
      asio::steady_timer(broker.io(), 5ms).wait();
    }
  }
  ASSERT_TRUE(demoted) << broker.Log();

  auto hello = broker.SendHello(MakeTestHello("nosuch"));
  ASSERT_TRUE(hello && hello->has_refused()) << "an exhausted broker must still answer";
  EXPECT_EQ(hello->refused().code(), pb::ERROR_FD_PRESSURE);
  EXPECT_EQ(hello->refused().reason(), "broker is low on file descriptors; retry shortly");
  EXPECT_EQ(hello->refused().retry_after_ms(), 1000u);
  auto health = broker.Admin(pb::ADMIN_VERB_HEALTHZ);
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body(), "ok\n");
  auto ready = broker.Admin(pb::ADMIN_VERB_READYZ);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->exit_code(), 1u) << "not ready while demoted";

  idle.clear();  // the pressure goes away...
  pb::ErrorCode code = pb::ERROR_FD_PRESSURE;
  for (int i = 0; i < 200 && code == pb::ERROR_FD_PRESSURE; ++i) {
    auto reply = broker.SendHello(MakeTestHello("nosuch"));
    ASSERT_TRUE(reply && reply->has_refused());
    code = reply->refused().code();
  }
  EXPECT_EQ(code, pb::ERROR_SERVICE_UNKNOWN) << "...and the broker recovers by itself";
  EXPECT_NE(broker.Log().find("fd pressure cleared"), std::string::npos);
  EXPECT_EQ(broker.Shutdown(), 0);
}

}  // namespace
}  // namespace rp::test
