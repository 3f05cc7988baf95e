// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Graceful shutdown: a Hello being routed when shutdown is asked for still
// gets its answer, Hellos arriving during the drain are refused with
// ERROR_SHUTTING_DOWN, backends are stopped, and the broker exits 0.
#include <chrono>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "rp/backend/backend.h"
#include "rp/platform/child_process.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/child_registry.h"

namespace rp::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs the test's own coroutines for a moment.
void Pump(BrokerUnderTest& broker) {
  broker.io().restart();
  broker.io().run_for(5ms);
}

void WaitForLog(BrokerUnderTest& broker, const std::string& text) {
  for (int i = 0; i < 2000 && broker.Log().find(text) == std::string::npos; ++i) Pump(broker);
}

TEST(BrokerShutdown, DrainsTheHelloInFlightRefusesNewOnesAndStopsBackends) {
  BrokerUnderTest broker(BrokerUnderTest::Options{
      {"--drain-deadline-ms", "10000"}, {{kChildEnv, "slow_ready_backend"}}});
  broker.Start();
  broker.InstallService("slow", platform::CurrentExecutablePath().value());

  // A Hello that waits for the backend's (slow) launch.
  std::optional<pb::HelloReply> in_flight;
  bool answered = false;
  asio::co_spawn(broker.io(), [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto stream = co_await platform::LocalStream::Connect(ex, broker.endpoint(), 5s);
    if (stream && co_await transport::WriteFrame(*stream, HelloFrame(MakeTestHello("slow")))) {
      if (auto frame = co_await transport::ReadFrame(*stream)) {
        pb::HelloReply reply;
        if (reply.ParseFromString(frame->payload())) in_flight = reply;
      }
    }
    answered = true;
  }, asio::detached);
  WaitForLog(broker, "spawn attempt: service=slow");
  ASSERT_NE(broker.Log().find("spawn attempt: service=slow"), std::string::npos) << broker.Log();

  auto stopping = broker.Admin(pb::ADMIN_VERB_SHUTDOWN);
  ASSERT_TRUE(stopping);
  EXPECT_EQ(stopping->body(), "broker shutting down\n");
  auto refused = broker.SendHello(MakeTestHello("slow"));
  ASSERT_TRUE(refused && refused->has_refused()) << broker.Log();
  EXPECT_EQ(refused->refused().code(), pb::ERROR_SHUTTING_DOWN);

  // The first Hello is answered once its backend is ready...
  for (int i = 0; i < 2000 && !answered; ++i) Pump(broker);
  ASSERT_TRUE(in_flight.has_value()) << broker.Log();
  EXPECT_TRUE(in_flight->has_negotiated()) << in_flight->DebugString();
  // ...then the backend is stopped and the broker exits cleanly.
  EXPECT_EQ(broker.WaitForExit(), 0);
  EXPECT_NE(broker.Log().find("backend stopped: service=slow"), std::string::npos) << broker.Log();
}

}  // namespace
}  // namespace rp::test

// An echo backend that takes 500 ms before it starts (and so reports
// ready late).
RP_TEST_CHILD(slow_ready_backend) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto environment = rp::backend::BackendEnvironment::FromProcessEnvironment();
  if (!environment) return 2;
  boost::asio::io_context io;
  auto backend = rp::backend::Backend::Create(
      io.get_executor(), *environment,
      [](rp::platform::LocalStream) -> boost::asio::awaitable<void> { co_return; });
  if (!backend) return 3;
  int code = 0;
  boost::asio::co_spawn(io, backend->Run(),
                        [&](std::exception_ptr, boost::system::error_code ec) {
                          code = ec ? 1 : 0;
                          io.stop();
                        });
  io.run();
  return code;
}
