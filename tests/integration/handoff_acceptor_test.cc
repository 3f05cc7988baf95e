// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// The backend's half of a handoff, over a real channel pair and real
// connections: a replayed token and a malformed offer are rejected with the
// handle closed; a good offer greets the client with the relay EVENT.
#include <functional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <gtest/gtest.h>

#include "handoff_acceptor.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/transport/connection_transfer.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

namespace rp::backend {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::RunAsync;

class HandoffAcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = platform::LocalListener::Bind(io_.get_executor(),
                                                  test::UniqueEndpointAddress(dir_, "offer"));
    ASSERT_TRUE(listener);
    listener_ = std::move(*listener);
    auto ends = platform::HandleChannel::CreatePair();
    ASSERT_TRUE(ends);
    auto broker = platform::HandleChannel::Open(
        io_.get_executor(), std::move(ends->first),
        platform::PlatformHandle());  // same process: the Windows leg duplicates into ourselves
    auto backend = platform::HandleChannel::Open(io_.get_executor(), std::move(ends->second));
    ASSERT_TRUE(broker && backend);
    broker_ = std::move(*broker);
    backend_ = std::move(*backend);
    asio::co_spawn(io_, acceptor_.AnswerBroker(backend_), asio::detached);
  }

  void TearDown() override {
    acceptor_.Stop();
    io_.restart();
    io_.run_for(5s);  // the answer loop ends
  }

  // A client connected to the listener, and the accepted server side.
  std::pair<platform::LocalStream, platform::LocalStream> Connection() {
    return test::ConnectedStreams(io_, listener_);
  }

  pb::Frame Offer(const std::string& token, std::uint64_t cid) {
    pb::HandoffOffer offer;
    offer.set_token(token);
    offer.set_service_name("echo");
    offer.set_correlation_id(cid);
    return transport::MakeRequest(transport::kHandoffPayloadProtocol,
                                  transport::SerializeDeterministic(offer), cid);
  }

  // Sends `frame` with `server` beside it, lets the acceptor take it, and
  // returns (the adopted stream, the ACK the broker got).
  using Delivered = std::pair<std::optional<platform::LocalStream>, pb::HandoffAck>;
  // `handler`, if any, gets the adopted stream at once, as a connection
  // handler would.
  Delivered Deliver(const pb::Frame& frame, platform::LocalStream server,
                    std::function<void(platform::LocalStream&)> handler = {}, bool busy = false) {
    return RunAsync(io_, [&]() -> asio::awaitable<Delivered> {
      co_await transport::SendConnection(broker_, std::move(server), frame, true);
      auto message = co_await backend_.Receive();
      EXPECT_TRUE(message);
      auto decoded = transport::TryDecodeFrame(message->bytes);
      auto stream =
          co_await acceptor_.Accept((*decoded)->frame, std::move(message->handles), busy);
      if (stream && handler) handler(*stream);
      auto answer = co_await broker_.Receive();
      pb::HandoffAck ack;
      auto answer_frame = transport::TryDecodeFrame(answer->bytes);
      ack.ParseFromString((*answer_frame)->frame.payload());
      EXPECT_EQ((*answer_frame)->frame.kind(), pb::FRAME_KIND_RESPONSE);
      co_return Delivered(std::move(stream), ack);
    }());
  }

  test::TempDir dir_;
  asio::io_context io_;
  platform::LocalListener listener_;
  platform::HandleChannel broker_;
  platform::HandleChannel backend_;
  HandoffAcceptor acceptor_{"echo", io_.get_executor()};
};

TEST_F(HandoffAcceptorTest, GreetsTheClientThenRejectsAReplayedToken) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "needs a second process to duplicate handles into (covered by Handoff.*)";
  }
  const std::string token(16, '\x42');
  auto [client, server] = Connection();
  auto [adopted, ack] = Deliver(Offer(token, 5), std::move(server));
  EXPECT_TRUE(adopted);
  EXPECT_TRUE(ack.accepted());
  EXPECT_EQ(ack.correlation_id(), 5u);
  adopted.reset();  // a handler that leaves at once: the greeting still goes
  auto event = RunAsync(io_, transport::ReadFrame(client));
  ASSERT_TRUE(event);
  EXPECT_EQ(event->kind(), pb::FRAME_KIND_EVENT);
  EXPECT_EQ(event->request_id(), 5u);

  auto [client2, server2] = Connection();
  auto [adopted2, ack2] = Deliver(Offer(token, 6), std::move(server2));
  EXPECT_FALSE(adopted2.has_value());
  EXPECT_FALSE(ack2.accepted());
  EXPECT_EQ(ack2.error_detail(), "handoff token is not pending");
  // The rejected connection was closed: its client sees EOF.
  char byte;
  auto eof = RunAsync(io_, client2.ReadSome(asio::buffer(&byte, 1)));
  EXPECT_FALSE(eof);

  auto [client3, server3] = Connection();
  auto [adopted3, ack3] = Deliver(Offer(std::string(3, 'x'), 7), std::move(server3));
  EXPECT_FALSE(adopted3.has_value());
  EXPECT_EQ(ack3.error_detail(), "handoff token length was 3 bytes; expected 16");
}

TEST_F(HandoffAcceptorTest, IdleBackendGreetsAtOnce) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "needs a second process to duplicate handles into (covered by Handoff.*)";
  }
  // Named, not bound: lambdas below capture the client (clang).
  auto streams = Connection();
  platform::LocalStream& client = streams.first;
  platform::LocalStream& server = streams.second;
  std::string early;  // what the client has before the handler writes anything
  auto look = [&](platform::LocalStream&) {
    std::vector<char> chunk(4096);
    if (auto n = client.TryReadSome(asio::buffer(chunk))) early.assign(chunk.data(), *n);
  };
  auto [adopted, ack] = Deliver(Offer(std::string(16, '\x08'), 11), std::move(server), look);
  ASSERT_TRUE(adopted);
  auto decoded = transport::TryDecodeFrame(
      std::span(reinterpret_cast<const std::uint8_t*>(early.data()), early.size()));
  ASSERT_TRUE(decoded && *decoded) << early.size() << " bytes";
  EXPECT_EQ((*decoded)->frame.kind(), pb::FRAME_KIND_EVENT);
  EXPECT_EQ((*decoded)->frame.request_id(), 11u);
}

TEST_F(HandoffAcceptorTest, BusyBackendSendsTheGreetingWithTheHandlersFirstReply) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "pipes: the greeting is written on its own (Handoff.* covers it)";
  }
  // Named, not bound: lambdas below capture the client (clang).
  auto streams = Connection();
  platform::LocalStream& client = streams.first;
  platform::LocalStream& server = streams.second;
  const std::string reply = "pong";
  auto answer_at_once = [&](platform::LocalStream& stream) {
    char byte = 0;  // the greeting waits for the reply...
    EXPECT_EQ(client.TryReadSome(asio::buffer(&byte, 1)).error(), asio::error::would_block);
    auto n = stream.TryWriteSome(asio::buffer(reply));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, reply.size());
  };
  auto [adopted, ack] =
      Deliver(Offer(std::string(16, '\x07'), 9), std::move(server), answer_at_once, /*busy=*/true);
  ASSERT_TRUE(adopted);
  // ...and leaves in front of it.
  std::vector<std::uint8_t> first(4096);
  auto n = client.TryReadSome(asio::buffer(first));
  ASSERT_TRUE(n);
  first.resize(*n);
  auto decoded = transport::TryDecodeFrame(first);
  ASSERT_TRUE(decoded && *decoded);
  EXPECT_EQ((*decoded)->frame.kind(), pb::FRAME_KIND_EVENT);
  EXPECT_EQ((*decoded)->frame.request_id(), 9u);
  EXPECT_EQ(std::string(first.begin() + static_cast<std::ptrdiff_t>((*decoded)->consumed),
                        first.end()),
            reply);
}

}  // namespace
}  // namespace rp::backend

