// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Handing a live connection to another process, with real processes on
// both platforms: the test process is the listener, one child is the
// client, another child receives the connection and serves it.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "broker_v1_envelope.pb.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/transport/connection_transfer.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "support/async_test.h"
#include "support/child_registry.h"
#include "support/temp_dir.h"

namespace rp::transport {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using platform::HandleChannel;
using platform::LocalStream;
using platform::ChannelMessage;
using platform::PlatformHandle;
using test::RunAsync;
using namespace std::chrono_literals;

constexpr char kChannelEnv[] = "RP_TEST_CHANNEL";
constexpr char kEarlyBytes[] = "early-bytes";  // sent by the client before any transfer
constexpr std::size_t kEarlyLength = sizeof(kEarlyBytes) - 1;

std::string Text(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<std::uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

pb::Frame OfferFrame(std::uint64_t correlation_id) {
  pb::HandoffOffer offer;
  offer.set_token(std::string(16, '\x5a'));
  offer.set_service_name("echo");
  offer.set_correlation_id(correlation_id);
  return MakeRequest(kHandoffPayloadProtocol, SerializeDeterministic(offer), correlation_id);
}

// A channel to a freshly launched child `name`; our copy of the child's end
// is closed, so the child holds the only one.
struct ChannelToChild {
  platform::ChildProcess child;
  HandleChannel channel;
};

ChannelToChild LaunchWithChannel(asio::io_context& io, const std::string& name,
                                 std::vector<std::string> args = {}) {
  auto ends = HandleChannel::CreatePair();
  EXPECT_TRUE(ends) << ends.error().message();
  auto& [mine, theirs] = *ends;
  auto child = test::LaunchSelf(io.get_executor(), name, std::move(args),
                                {{kChannelEnv, theirs.ToDecimalString()}}, {theirs.get()});
  EXPECT_TRUE(child) << child.error().message();
  theirs.reset();
  auto process = child->DuplicateProcessHandle();
  EXPECT_TRUE(process);
  auto channel = HandleChannel::Open(io.get_executor(), std::move(mine), std::move(*process));
  EXPECT_TRUE(channel);
  return {std::move(*child), std::move(*channel)};
}

// Both ends of a new channel, open in this process (the test fails if
// they cannot be made).
std::pair<HandleChannel, HandleChannel> OpenChannelPair(asio::io_context& io) {
  auto ends = HandleChannel::CreatePair();
  EXPECT_TRUE(ends) << ends.error().message();
  if (!ends) return {};
  auto a = HandleChannel::Open(io.get_executor(), std::move(ends->first));
  auto b = HandleChannel::Open(io.get_executor(), std::move(ends->second));
  EXPECT_TRUE(a && b);
  if (!a || !b) return {};
  return {std::move(*a), std::move(*b)};
}

TEST(ConnectionTransfer, ReceiverGetsEveryByteAndAnswersOnTheSameConnection) {
  test::TempDir dir;
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    std::string address = test::UniqueEndpointAddress(dir, "xfer");
    auto listener = platform::LocalListener::Bind(io.get_executor(), address);
    ASSERT_TRUE(listener) << listener.error().message();
    auto receiver = LaunchWithChannel(io, "transfer_receiver");
    auto client = test::LaunchSelf(io.get_executor(), "transfer_client", {address});
    ASSERT_TRUE(client) << client.error().message();

    auto accepted = RunAsync(io, listener->Accept());
    ASSERT_TRUE(accepted) << accepted.error().message();
    EXPECT_EQ(accepted->peer.pid, client->pid());
    EXPECT_TRUE(accepted->peer.same_user);

    // Like a broker: read exactly the first frame ourselves...
    auto hello = RunAsync(io, ReadFrameBody(accepted->stream, kMaxHelloBytes));
    ASSERT_TRUE(hello) << hello.error().message();
    EXPECT_EQ(Text(*hello), "hello");
    // ...then hand the connection, with the bytes behind that frame, over.
    ASSERT_TRUE(accepted->stream.is_transferable());
    auto sent = RunAsync(io, SendConnection(receiver.channel, std::move(accepted->stream),
                                            OfferFrame(42), /*fill_handle_value=*/true));
    EXPECT_FALSE(sent) << sent.message();

    auto client_exit = RunAsync(io, client->Wait());
    auto receiver_exit = RunAsync(io, receiver.child.Wait());
    ASSERT_TRUE(client_exit && receiver_exit);
    EXPECT_EQ(*client_exit, 0) << "client saw the wrong replies";
    EXPECT_EQ(*receiver_exit, 0) << "receiver saw the wrong bytes";
    listener->Close();
    receiver.channel.Close();
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

TEST(ConnectionTransfer, SendingToAnExitedProcessFailsAndLeaksNothing) {
  test::TempDir dir;
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    auto listener =
        platform::LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "gone"));
    ASSERT_TRUE(listener);
    auto receiver = LaunchWithChannel(io, "exit_at_once");
    auto code = RunAsync(io, receiver.child.Wait());
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);

    auto client = RunAsync(io, LocalStream::Connect(io.get_executor(), listener->address(), 5s));
    ASSERT_TRUE(client);
    auto accepted = RunAsync(io, listener->Accept());
    ASSERT_TRUE(accepted);
    auto sent = RunAsync(io, SendConnection(receiver.channel, std::move(accepted->stream),
                                            OfferFrame(1), true));
    EXPECT_TRUE(sent) << "sending to a process that has exited must fail";
    // The connection was closed here, so the client is told by EOF.
    auto eof = RunAsync(io, [&]() -> asio::awaitable<error_code> {
      char byte;
      auto n = co_await client->ReadSome(asio::buffer(&byte, 1));
      co_return n ? error_code() : n.error();
    }());
    EXPECT_TRUE(platform::IsDisconnect(eof)) << eof.message();
    listener->Close();
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

TEST(ConnectionTransfer, BrokenChannelFailsAndLeaksNothing) {
  test::TempDir dir;
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    auto listener =
        platform::LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "brk"));
    ASSERT_TRUE(listener);
    auto ends = HandleChannel::CreatePair();
    ASSERT_TRUE(ends);
    auto channel = HandleChannel::Open(io.get_executor(), std::move(ends->first));
    ASSERT_TRUE(channel);
    ends->second.reset();  // nobody will ever read

    auto client = RunAsync(io, LocalStream::Connect(io.get_executor(), listener->address(), 5s));
    ASSERT_TRUE(client);
    auto accepted = RunAsync(io, listener->Accept());
    ASSERT_TRUE(accepted);
    auto sent = RunAsync(io, SendConnection(*channel, std::move(accepted->stream), OfferFrame(2)));
    EXPECT_TRUE(sent);
    listener->Close();
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

// A send the channel can take at once is finished when Send returns, with
// no trip through the event loop: the broker's next offer to the same
// backend waits on it. (On Windows the channel's write used to complete
// through the completion port, behind whatever else the loop had queued.)
TEST(HandleChannelSend, ThatThePeerCanTakeIsDoneBeforeTheEventLoopRunsAgain) {
  asio::io_context io;
  auto channels = OpenChannelPair(io);  // not bound by name: lambdas capture them
  HandleChannel& sender = channels.first;
  HandleChannel& receiver = channels.second;
  ASSERT_TRUE(sender.is_open() && receiver.is_open());
  for (const char* text : {"first", "second"}) {
    auto loop_ran = std::make_shared<bool>(false);  // the handler may outlive this pass
    auto sent = RunAsync(io, [&]() -> asio::awaitable<error_code> {
      asio::post(io, [loop_ran] { *loop_ran = true; });
      error_code ec = co_await sender.Send(Bytes(text), {});
      EXPECT_FALSE(*loop_ran) << "the send waited for the event loop";
      co_return ec;
    }());
    EXPECT_FALSE(sent) << sent.message();
    auto got = RunAsync(io, receiver.Receive());
    ASSERT_TRUE(got);
    EXPECT_EQ(Text(got->bytes), text);
  }
}

// Sends that overlap (the backend answers offers and reports idleness on
// one channel) go out one after the other, each message whole, in the order
// they were made, while the reader (another thread here, another process
// in the broker) keeps making room: none is refused, none is cut by
// another's bytes.
TEST(HandleChannelSend, OverlappingSendsArriveWholeInTheOrderMade) {
  asio::io_context io, reader_io;
  auto ends = HandleChannel::CreatePair();
  ASSERT_TRUE(ends) << ends.error().message();
  auto sender = HandleChannel::Open(io.get_executor(), std::move(ends->first));
  auto receiver = HandleChannel::Open(reader_io.get_executor(), std::move(ends->second));
  ASSERT_TRUE(sender && receiver);
  // Large ones (far more than a socket or pipe buffer holds) and small.
  std::vector<std::vector<std::uint8_t>> messages;
  for (std::size_t size : {2u << 20, 7u, 2u << 20, 2u << 20, 9u, 2u << 20}) {
    messages.emplace_back(size, static_cast<std::uint8_t>(0x10 + messages.size()));
  }
  std::vector<boost::system::result<ChannelMessage>> got;
  std::string reader_failure;
  std::thread reader([&] {
    try {
      for (std::size_t i = 0; i < messages.size(); ++i) {
        got.push_back(RunAsync(reader_io, receiver->Receive()));
        if (!got.back()) break;
      }
    } catch (const std::exception& e) {
      reader_failure = e.what();
    }
  });
  std::vector<std::optional<error_code>> sent(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      sent[i] = co_await sender->Send(messages[i], {});
    }, asio::detached);
  }
  auto all_sent = [&] {
    return std::all_of(sent.begin(), sent.end(), [](const auto& one) { return one.has_value(); });
  };
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!all_sent() && io.run_one_until(until) > 0) {
  }
  if (!all_sent()) sender->Close();  // the reader then stops at once
  reader.join();
  ASSERT_EQ(reader_failure, "");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    ASSERT_TRUE(sent[i]) << "send " << i << " did not finish";
    EXPECT_FALSE(*sent[i]) << "send " << i << ": " << sent[i]->message();
  }
  ASSERT_EQ(got.size(), messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    ASSERT_TRUE(got[i]) << "message " << i << ": " << got[i].error().message();
    EXPECT_EQ(got[i]->bytes.size(), messages[i].size()) << "message " << i;
    EXPECT_TRUE(got[i]->bytes == messages[i]) << "message " << i << " was cut or out of order";
  }
}

// A send nobody reads stays pending; closing the channel ends it with an
// error, at once, and the send queued behind it with operation_aborted,
// and leaves no handle behind.
TEST(HandleChannelSend, StuckForWantOfAReaderEndsWhenTheChannelClosesAndLeaksNothing) {
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    auto channels = OpenChannelPair(io);  // the second end is never read
    HandleChannel& sender = channels.first;
    ASSERT_TRUE(sender.is_open() && channels.second.is_open());
    const std::vector<std::uint8_t> large(8 << 20, 0x42);  // far more than any pipe buffer
    std::optional<error_code> sent, queued;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      sent = co_await sender.Send(large, {});
    }, asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      queued = co_await sender.Send(Bytes("behind"), {});
    }, asio::detached);
    // Runs until the send has filled the pipe and waits for room.
    io.restart();
    while (!sent && io.poll() > 0) {
    }
    ASSERT_FALSE(sent) << "the send finished without a reader: " << sent->message();
    ASSERT_FALSE(queued) << "the second send did not wait for the first";
    sender.Close();
    auto until = std::chrono::steady_clock::now() + 10s;
    while ((!sent || !queued) && std::chrono::steady_clock::now() < until &&
           io.run_one_until(until) > 0) {
    }
    ASSERT_TRUE(sent) << "closing the channel did not end the send";
    EXPECT_TRUE(*sent);
    ASSERT_TRUE(queued) << "closing the channel did not end the send waiting its turn";
    EXPECT_EQ(*queued, asio::error::operation_aborted);
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

TEST(ConnectionTransfer, ReceiveRejectsAFrameWithoutAHandle) {
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    auto [a, b] = OpenChannelPair(io);
    ASSERT_TRUE(a.is_open() && b.is_open());
    auto framed = EncodeFrame(OfferFrame(3));
    ASSERT_TRUE(framed);
    EXPECT_FALSE(RunAsync(io, a.Send(*framed, {})));
    auto none = RunAsync(io, ReceiveConnection(b, io.get_executor()));
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error(), make_error_code(platform::Error::kHandleCountMismatch));
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

TEST(ConnectionTransfer, ReceiveRejectsAHandleBesideBytesThatAreNotAFrame) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    GTEST_SKIP() << "sending handles needs a peer process to duplicate into; the "
                    "multi-process tests above cover Windows";
  }
  asio::io_context io;
  const std::size_t baseline = test::HandleBaseline(io);
  {
    auto [a, b] = OpenChannelPair(io);
    ASSERT_TRUE(a.is_open() && b.is_open());
    auto spare = HandleChannel::CreatePair();
    ASSERT_TRUE(spare);
    platform::NativeHandle h = spare->first.get();
    EXPECT_FALSE(RunAsync(io, a.Send(Bytes("not a frame"), std::span(&h, 1))));
    spare->first.reset();
    spare->second.reset();
    auto garbage = RunAsync(io, ReceiveConnection(b, io.get_executor()));
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error(), make_error_code(platform::Error::kMalformedMessage));
  }
  EXPECT_EQ(test::OpenHandleCount(), baseline);
}

// Messages that reach a channel together (one read may take them all, on
// Windows always) each arrive with their own live handles, and closing a
// channel with a whole message still unreceived leaks none of its handles
// in the receiver (on Windows they are in its handle table already). The
// child checks and counts; see queued_messages_receiver.
constexpr char kControlEnv[] = "RP_TEST_CONTROL";

TEST(ConnectionTransfer, QueuedMessagesKeepTheirOwnHandlesAndAClosedChannelLeaksNone) {
  asio::io_context io;
  auto data = HandleChannel::CreatePair();
  auto control = HandleChannel::CreatePair();
  ASSERT_TRUE(data && control);
  auto child = test::LaunchSelf(io.get_executor(), "queued_messages_receiver", {},
                                {{kChannelEnv, data->second.ToDecimalString()},
                                 {kControlEnv, control->second.ToDecimalString()}},
                                {data->second.get(), control->second.get()});
  ASSERT_TRUE(child) << child.error().message();
  data->second.reset();
  control->second.reset();
  auto process = child->DuplicateProcessHandle();
  ASSERT_TRUE(process);
  auto to_child =
      HandleChannel::Open(io.get_executor(), std::move(data->first), std::move(*process));
  auto steer = HandleChannel::Open(io.get_executor(), std::move(control->first));
  ASSERT_TRUE(to_child && steer);
  // A message naming both ends of a fresh pair; our copies close after it.
  auto send_pair = [&](const std::string& text) -> asio::awaitable<error_code> {
    auto pair = HandleChannel::CreatePair();
    if (!pair) co_return pair.error();
    platform::NativeHandle both[] = {pair->first.get(), pair->second.get()};
    co_return co_await to_child->Send(Bytes(text), both);
  };
  const bool steered = RunAsync(io, [&]() -> asio::awaitable<bool> {
    // Warm-up, both ways on both channels, so the child's baseline holds
    // whatever its event loop creates lazily.
    if (co_await steer->Send(Bytes("warm"), {})) co_return false;
    if (!co_await steer->Receive()) co_return false;
    if (co_await send_pair("warm")) co_return false;
    auto ready = co_await steer->Receive();  // the child took its baseline
    if (!ready || Text(ready->bytes) != "ready") co_return false;
    for (const char* text : {"one", "two", "three"}) {
      if (co_await send_pair(text)) co_return false;
    }
    co_return !co_await steer->Send(Bytes("go"), {});
  }());
  EXPECT_TRUE(steered);
  auto exit_code = RunAsync(io, child->Wait());
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, 0) << "the child saw wrong handles or a leak (its stderr says which)";
}

int Fail(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  return 1;
}

}  // namespace
}  // namespace rp::transport

using namespace rp::transport;

// Child: the client. Sends a Hello-like frame and raw bytes in one write,
// before anyone could have transferred anything, then talks to whoever
// answers.
RP_TEST_CHILD(transfer_client) {
  boost::asio::io_context io;
  return RunAsync(io, [&]() -> boost::asio::awaitable<int> {
    auto stream = co_await LocalStream::Connect(io.get_executor(), args.at(0), 5s);
    if (!stream) co_return Fail("connect failed");
    auto first = FrameBody(Bytes("hello"));
    std::vector<std::uint8_t> out = *first;
    out.insert(out.end(), kEarlyBytes, kEarlyBytes + kEarlyLength);
    if (co_await rp::platform::WriteAll(*stream, boost::asio::buffer(out))) {
      co_return Fail("write failed");
    }
    auto reply = co_await ReadFrameBody(*stream);
    if (!reply || Text(*reply) != std::string("got:") + kEarlyBytes) co_return Fail("bad reply");
    std::string more = "more";
    if (co_await rp::platform::WriteAll(*stream, boost::asio::buffer(more))) co_return Fail("w2");
    std::string echo(4, '\0');
    if (co_await rp::platform::ReadExactly(*stream, boost::asio::buffer(echo))) co_return Fail("r2");
    co_return echo == "MORE" ? 0 : Fail("bad echo");
  }());
}

// Child: receives the connection over its channel and serves it.
RP_TEST_CHILD(transfer_receiver) {
  boost::asio::io_context io;
  auto end = PlatformHandle::FromDecimalString(rp::platform::GetEnv(kChannelEnv).value_or(""));
  if (!end) return Fail("no channel handle");
  auto channel = HandleChannel::Open(io.get_executor(), std::move(*end));
  if (!channel) return Fail("cannot open channel");
  return RunAsync(io, [&]() -> boost::asio::awaitable<int> {
    auto received = co_await ReceiveConnection(*channel, io.get_executor());
    if (!received) co_return Fail("receive failed");
    if (ValidateEnvelope(received->frame, pb::FRAME_KIND_REQUEST, kHandoffPayloadProtocol)) {
      co_return Fail("bad envelope");
    }
    pb::HandoffOffer offer;
    if (!offer.ParseFromString(received->frame.payload()) || offer.correlation_id() != 42 ||
        received->frame.request_id() != 42) {
      co_return Fail("bad offer");
    }
    if ((rp::platform::CurrentOs() == rp::platform::OsFlavor::kWindows) !=
        (offer.handle_value() != 0)) {
      co_return Fail("handle_value must be filled on Windows only");
    }
    LocalStream& s = received->stream;
    std::string early(kEarlyLength, '\0');
    if (co_await rp::platform::ReadExactly(s, boost::asio::buffer(early)) || early != kEarlyBytes) {
      co_return Fail("early bytes lost");
    }
    if (!co_await WriteFrameBody(s, Bytes("got:" + early))) co_return Fail("reply failed");
    std::string more(4, '\0');
    if (co_await rp::platform::ReadExactly(s, boost::asio::buffer(more))) co_return Fail("r2");
    for (char& c : more) c = static_cast<char>(std::toupper(c));
    if (co_await rp::platform::WriteAll(s, boost::asio::buffer(more))) co_return Fail("w2");
    co_return 0;
  }());
}

RP_TEST_CHILD(exit_at_once) { return 0; }

// Child: the receiving end of QueuedMessagesKeepTheirOwnHandlesAndAClosed-
// ChannelLeaksNone. Takes "one" and "two" (each pair must carry bytes from
// one end to the other), then closes the channel with "three" unreceived;
// its handle count must then be the baseline minus the channel's own
// handles.
RP_TEST_CHILD(queued_messages_receiver) {
  boost::asio::io_context io;
  auto data = PlatformHandle::FromDecimalString(rp::platform::GetEnv(kChannelEnv).value_or(""));
  auto control =
      PlatformHandle::FromDecimalString(rp::platform::GetEnv(kControlEnv).value_or(""));
  if (!data || !control) return Fail("no channel handles");
  auto channel = HandleChannel::Open(io.get_executor(), std::move(*data));
  // What a channel holds: its end (counted already) and whatever Open adds
  // (on Windows, the event its sends complete through), measured on the
  // second one, after the first has made the io_context's own handles.
  auto before_open = rp::platform::CountOpenHandles();
  auto steer = HandleChannel::Open(io.get_executor(), std::move(*control));
  auto opened = rp::platform::CountOpenHandles();
  if (!channel || !steer) return Fail("cannot open channels");
  if (!before_open || !opened) return Fail("cannot count handles");
  const std::size_t channel_handles = 1 + (*opened - *before_open);
  // The two handles of `message` are the ends of one pair: bytes sent into
  // the first come out of the second.
  auto pair_works = [&](ChannelMessage& message) -> boost::asio::awaitable<bool> {
    if (message.handles.size() != 2) co_return false;
    auto a = HandleChannel::Open(io.get_executor(), std::move(message.handles[0]));
    auto b = HandleChannel::Open(io.get_executor(), std::move(message.handles[1]));
    if (!a || !b || co_await a->Send(message.bytes, {})) co_return false;
    auto through = co_await b->Receive();
    co_return through && through->bytes == message.bytes;
  };
  return RunAsync(io, [&]() -> boost::asio::awaitable<int> {
    if (!co_await steer->Receive() || co_await steer->Send(Bytes("warm"), {})) {
      co_return Fail("warm-up on the control channel failed");
    }
    auto warm = co_await channel->Receive();
    if (!warm || !co_await pair_works(*warm)) co_return Fail("warm-up pair broken");
    warm->handles.clear();
    auto baseline = rp::platform::CountOpenHandles();
    if (!baseline) co_return Fail("cannot count handles");
    if (co_await steer->Send(Bytes("ready"), {})) co_return Fail("ready not sent");
    auto go = co_await steer->Receive();  // everything is sent now
    if (!go) co_return Fail("no go");
    for (const char* expected : {"one", "two"}) {
      auto message = co_await channel->Receive();
      if (!message || Text(message->bytes) != expected) co_return Fail("wrong message");
      if (!co_await pair_works(*message)) co_return Fail("a message's handles are not its pair");
    }
    channel->Close();
    auto after = rp::platform::CountOpenHandles();
    if (!after || *after != *baseline - channel_handles) {
      std::fprintf(stderr, "handles: baseline %zu, after close %zu (want %zu)\n", *baseline,
                   after ? *after : 0, *baseline - channel_handles);
      co_return 1;
    }
    co_return 0;
  }());
}
