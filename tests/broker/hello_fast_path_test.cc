// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The broker answers a Hello that is all there when its connection is
// accepted, for a backend already running, on the accept loop's turn; every
// other Hello (half there, not there yet, an admin request, one that needs
// a launch) is answered as before. The broker is stopped (SIGSTOP) while
// the clients connect and write, so what has arrived at accept is certain.
#ifndef _WIN32
#include <signal.h>
#include <sys/wait.h>
#endif

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "broker/broker_fixture.h"
#include "broker_v1_admin.pb.h"
#include "rp/broker/contract.h"
#include "rp/platform/local_stream.h"
#include "rp/platform/system.h"
#include "rp/transport/envelope.h"
#include "rp/transport/wire_constants.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"

namespace rp::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr char kAtAccept[] = "running_process_broker_v1_hello_answered_at_accept_total";
constexpr char kNegotiated[] =
    "running_process_broker_v1_hello_total{service=\"echo\",version=\"1.0.0\","
    "outcome=\"negotiated\"}";

#ifndef _WIN32
std::vector<std::uint8_t> HelloBytes(bool handoff, const std::string& early = {}) {
  pb::Hello hello = MakeTestHello("echo");
  if (handoff) hello.set_client_capabilities(transport::kCapHandlePassing);
  auto framed = *transport::EncodeFrame(HelloFrame(hello));
  framed.insert(framed.end(), early.begin(), early.end());
  return framed;
}

// Reads Negotiated; for a handed-over connection also the backend's
// ready event and the echo of `early`. "ok" or what went wrong.
asio::awaitable<std::string> ExpectRoute(platform::LocalStream& stream, bool handoff,
                                         const std::string& early = {}) {
  auto frame = co_await transport::ReadFrame(stream);
  pb::HelloReply reply;
  if (!frame || !reply.ParseFromString(frame->payload()) || !reply.has_negotiated()) {
    co_return "no Negotiated";
  }
  const bool token = reply.negotiated().handle_passed_token().size() == 16;
  if (token != handoff) co_return handoff ? "no handoff token" : "an unasked-for token";
  if (!handoff) co_return "ok";
  auto event = co_await transport::ReadFrame(stream);
  if (!event || event->kind() != pb::FRAME_KIND_EVENT) co_return "no ready event";
  std::string back(early.size(), '\0');
  if (co_await platform::ReadExactly(stream, asio::buffer(back))) co_return "no echo";
  co_return back == early ? "ok" : "echo was " + back;
}
#endif

TEST(HelloFastPath, WholeHellosAreAnsweredAtAcceptAndTheRestAsBefore) {
#ifdef _WIN32
  GTEST_SKIP() << "no fast path on Windows: a pipe has no read that does not wait";
#else
  BrokerUnderTest broker;
  broker.Start();
  broker.InstallService("echo");
  // The first Hello needs a launch: it is admitted, then Serve waits for it.
  ASSERT_TRUE(broker.SendHello(MakeTestHello("echo")));
  EXPECT_EQ(broker.MetricSample(kAtAccept), 0u);
  const std::uint32_t broker_pid = broker.process().pid();
  const auto handles_before = platform::CountOpenHandlesOf(broker_pid);
  ASSERT_TRUE(handles_before);

  auto outcome = RunAsync(broker.io(), [&]() -> asio::awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    const std::string endpoint = broker.endpoint();
    // Stopped for certain before anything connects (WNOWAIT: the broker's
    // own ChildProcess still sees whatever it reports later).
    ::kill(static_cast<pid_t>(broker_pid), SIGSTOP);
    siginfo_t stopped{};
    if (::waitid(P_PID, broker_pid, &stopped, WSTOPPED | WNOWAIT) != 0) co_return "not stopped";
    // Through Serve: 3 bytes of a Hello (it reads the rest), nothing yet
    // (it waits), a whole admin request. Answered at accept: the whole
    // Hello; the whole Hello and early data (handed over). The broker
    // accepts in this order, so once `whole` has its answer the first two
    // are past their accept and can be sent the rest.
    auto half = co_await platform::LocalStream::Connect(ex, endpoint, 5s);
    auto silent = co_await platform::LocalStream::Connect(ex, endpoint, 5s);
    auto admin = co_await platform::LocalStream::Connect(ex, endpoint, 5s);
    auto whole = co_await platform::LocalStream::Connect(ex, endpoint, 5s);
    auto handed = co_await platform::LocalStream::Connect(ex, endpoint, 5s);
    if (!whole || !handed || !half || !silent || !admin) {
      ::kill(static_cast<pid_t>(broker_pid), SIGCONT);
      co_return "connect failed";
    }
    // Named, not temporaries in co_await expressions (GCC 12 destroys
    // those twice).
    const std::string early = "bytes right behind the Hello";
    const auto plain_hello = HelloBytes(/*handoff=*/false);
    const auto handoff_hello = HelloBytes(/*handoff=*/true, early);
    pb::AdminRequest status;
    status.set_verb(pb::ADMIN_VERB_STATUS);
    const auto admin_bytes = *transport::EncodeFrame(
        transport::MakeRequest(transport::kAdminPayloadProtocol, status.SerializeAsString(), 1));
    boost::system::error_code failed;
    if (!failed) failed = co_await platform::WriteAll(*whole, asio::buffer(plain_hello));
    if (!failed) failed = co_await platform::WriteAll(*handed, asio::buffer(handoff_hello));
    if (!failed) failed = co_await platform::WriteAll(*half, asio::buffer(handoff_hello.data(), 3));
    if (!failed) failed = co_await platform::WriteAll(*admin, asio::buffer(admin_bytes));
    ::kill(static_cast<pid_t>(broker_pid), SIGCONT);
    if (failed) co_return "write failed";

    std::string r = co_await ExpectRoute(*whole, false);
    if (r != "ok") co_return "whole: " + r;
    r = co_await ExpectRoute(*handed, true, early);
    if (r != "ok") co_return "handed: " + r;
    if (co_await platform::WriteAll(*half, asio::buffer(handoff_hello.data() + 3,
                                                         handoff_hello.size() - 3))) {
      co_return "write failed";
    }
    r = co_await ExpectRoute(*half, true, early);
    if (r != "ok") co_return "half: " + r;
    if (co_await platform::WriteAll(*silent, asio::buffer(plain_hello))) {
      co_return "write failed";
    }
    r = co_await ExpectRoute(*silent, false);
    if (r != "ok") co_return "silent: " + r;
    auto admin_reply = co_await transport::ReadFrame(*admin);
    pb::AdminReply reply;
    if (!admin_reply || !reply.ParseFromString(admin_reply->payload()) || reply.body().empty()) {
      co_return "no admin reply";
    }
    co_return "ok";
  }(), 30s);
  EXPECT_EQ(outcome, "ok");
  EXPECT_EQ(broker.MetricSample(kAtAccept), 2u) << "the whole Hello and the handed-over one";
  EXPECT_EQ(broker.MetricSample(kNegotiated), 5u);
  // Nothing stays open in the broker for any of them.
  std::size_t handles = 0;
  for (int i = 0; i < 500; ++i) {
    auto now = platform::CountOpenHandlesOf(broker_pid);
    handles = now ? *now : 0;
    if (handles == *handles_before) break;
    asio::steady_timer(broker.io(), 10ms).wait();
  }
  EXPECT_EQ(handles, *handles_before);
  EXPECT_EQ(broker.Shutdown(), 0);
#endif
}

}  // namespace
}  // namespace rp::test
