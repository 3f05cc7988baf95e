// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// HandleChannel::WriteThenSendBuilt on real socket pairs: the write and the
// message go in one io_uring submission where the kernel offers one, and the
// message never leaves before the last byte of the write, also when the
// stream's buffer is full and the rest has to wait.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/io_uring.h>
#include <sys/syscall.h>
#ifndef IORING_SETUP_SUBMIT_ALL  // kernel headers older than 5.18
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#endif

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "rp/platform/handle_channel.h"
#include "rp/platform/linked_submitter.h"
#include "rp/platform/local_stream.h"
#include "support/async_test.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using test::RunAsync;
using namespace std::chrono_literals;

// Whether this kernel lets us create an io_uring at all (asked directly,
// not through the code under test).
bool KernelOffersIoUring() {
#if defined(__linux__)
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  params.flags = IORING_SETUP_SUBMIT_ALL;
  const int fd = static_cast<int>(::syscall(__NR_io_uring_setup, 4, &params));
  if (fd < 0) return false;
  ::close(fd);
  return true;
#else
  return false;
#endif
}

std::size_t Queued(int fd) {
  int n = 0;
  EXPECT_EQ(::ioctl(fd, FIONREAD, &n), 0);
  return static_cast<std::size_t>(n);
}

// A stream (one end of a socket pair, the other end raw for the test) and a
// channel (likewise), all in this process.
class LinkedSendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    baseline_ = test::HandleBaseline(io_);
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    ASSERT_EQ(::fcntl(s[0], F_SETFL, O_NONBLOCK), 0);
    auto stream = LocalStream::Adopt(io_.get_executor(), PlatformHandle(s[0]));
    ASSERT_TRUE(stream) << stream.error().message();
    stream_ = std::move(*stream);
    stream_peer_.reset(s[1]);
    auto ends = HandleChannel::CreatePair();
    ASSERT_TRUE(ends);
    auto channel = HandleChannel::Open(io_.get_executor(), std::move(ends->first));
    ASSERT_TRUE(channel);
    channel_ = std::move(*channel);
    channel_peer_fd_ = ends->second.get();
    auto peer = HandleChannel::Open(io_.get_executor(), std::move(ends->second));
    ASSERT_TRUE(peer);
    channel_peer_ = std::move(*peer);
  }

  void TearDown() override {
    stream_.Close();
    stream_peer_.reset();
    channel_.Close();
    channel_peer_.Close();
    EXPECT_EQ(test::OpenHandleCount(), baseline_);
  }

  // Reads exactly `size` bytes from the raw end of the stream.
  std::string ReadPeer(std::size_t size) {
    std::string out;
    while (out.size() < size) {
      char buf[65536];
      ssize_t n = ::read(stream_peer_.get(), buf, std::min(sizeof(buf), size - out.size()));
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  asio::awaitable<HandleChannel::WriteThenSendResult> WriteThenSend(LinkedSubmitter& linker,
                                                                    const std::string& first,
                                                                    const std::string& message) {
    std::vector<std::uint8_t> bytes(first.begin(), first.end());
    HandleChannel::BytesBuilder build = [&message](std::span<const std::uint64_t>) {
      return std::vector<std::uint8_t>(message.begin(), message.end());
    };
    const NativeHandle handle = stream_peer_.get();  // any fd will do as the passenger
    co_return co_await channel_.WriteThenSendBuilt(linker, stream_, bytes, std::move(build),
                                                   std::span(&handle, 1));
  }

  std::size_t baseline_ = 0;
  asio::io_context io_;
  LocalStream stream_;
  PlatformHandle stream_peer_;
  HandleChannel channel_;
  HandleChannel channel_peer_;
  int channel_peer_fd_ = -1;
};

TEST_F(LinkedSendTest, WriteAndMessageGoInOneSubmissionWhereTheKernelAllows) {
  LinkedSubmitter linker = LinkedSubmitter::Create();
#if defined(__linux__)
  EXPECT_EQ(linker.available(), KernelOffersIoUring());
#else
  EXPECT_FALSE(linker.available());
#endif
  auto result = RunAsync(io_, WriteThenSend(linker, "the reply", "the offer"));
  EXPECT_FALSE(result.write) << result.write.message();
  EXPECT_FALSE(result.send) << result.send.message();
  EXPECT_EQ(result.linked, linker.available());
  EXPECT_EQ(ReadPeer(9), "the reply");
  auto message = RunAsync(io_, channel_peer_.Receive());
  ASSERT_TRUE(message) << message.error().message();
  EXPECT_EQ(std::string(message->bytes.begin(), message->bytes.end()), "the offer");
  ASSERT_EQ(message->handles.size(), 1u);
  struct stat sent{}, got{};
  ASSERT_EQ(::fstat(stream_peer_.get(), &sent), 0);
  ASSERT_EQ(::fstat(message->handles[0].get(), &got), 0);
  EXPECT_EQ(sent.st_ino, got.st_ino);
}

TEST_F(LinkedSendTest, AnEmptySubmitterWritesThenSendsInTwoCalls) {
  LinkedSubmitter none;
  auto result = RunAsync(io_, WriteThenSend(none, "reply", "offer"));
  EXPECT_FALSE(result.write || result.send);
  EXPECT_FALSE(result.linked);
  EXPECT_EQ(ReadPeer(5), "reply");
  auto message = RunAsync(io_, channel_peer_.Receive());
  ASSERT_TRUE(message);
  EXPECT_EQ(message->handles.size(), 1u);
}

TEST_F(LinkedSendTest, MessageWaitsUntilAWriteThatDidNotFitHasGoneOut) {
  LinkedSubmitter linker = LinkedSubmitter::Create();
  // Fill the stream until the kernel takes no more.
  std::string filler;
  const std::string block(4096, 'f');
  for (;;) {
    auto n = stream_.TryWriteSome(asio::buffer(block));
    if (!n) break;
    filler.append(block, 0, *n);
  }
  ASSERT_FALSE(filler.empty());
  const std::string reply(3000, 'r');
  bool done = false;
  HandleChannel::WriteThenSendResult result;
  asio::steady_timer finished(io_, asio::steady_timer::time_point::max());
  auto write_then_send = [&]() -> asio::awaitable<void> {
    result = co_await WriteThenSend(linker, reply, "offer after the reply");
    done = true;
    finished.cancel();
  };
  asio::co_spawn(io_, write_then_send, asio::detached);
  io_.poll();
  ASSERT_FALSE(done) << "the write cannot have finished: nothing was read yet";
  EXPECT_EQ(Queued(channel_peer_fd_), 0u) << "the offer left before the reply did";
  // Make room: the reply goes out behind the filler, then the offer.
  EXPECT_EQ(ReadPeer(filler.size()), filler);
  RunAsync(io_, [&]() -> asio::awaitable<bool> {
    if (!done) co_await finished.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return done;
  }());
  ASSERT_TRUE(done);
  EXPECT_EQ(ReadPeer(reply.size()), reply);
  EXPECT_FALSE(result.write || result.send);
  EXPECT_FALSE(result.linked);
  auto message = RunAsync(io_, channel_peer_.Receive());
  ASSERT_TRUE(message);
  EXPECT_EQ(std::string(message->bytes.begin(), message->bytes.end()), "offer after the reply");
  EXPECT_EQ(message->handles.size(), 1u);
}

// An offer waiting its turn behind another send when the channel closes
// is not sent, but the reply in front of it still reaches the client: the
// client must get its Negotiated (then EOF, then it reconnects) whatever
// happens to the backend's channel.
TEST_F(LinkedSendTest, TheReplyStillGoesOutWhenTheChannelClosesWhileTheOfferWaitsItsTurn) {
  LinkedSubmitter linker = LinkedSubmitter::Create();
  const std::vector<std::uint8_t> large(8 << 20, 0x42);  // the peer never reads it
  std::optional<boost::system::error_code> stuck;
  asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
    stuck = co_await channel_.Send(large, {});
  }, asio::detached);
  std::optional<HandleChannel::WriteThenSendResult> result;
  asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
    result = co_await WriteThenSend(linker, "the reply", "the offer");
  }, asio::detached);
  io_.poll();
  ASSERT_FALSE(stuck) << "the large send finished without a reader";
  ASSERT_FALSE(result) << "the offer did not wait for the send in front of it";
  channel_.Close();
  const auto until = std::chrono::steady_clock::now() + 10s;
  io_.restart();
  while ((!stuck || !result) && io_.run_one_until(until) > 0) {
  }
  ASSERT_TRUE(stuck && result);
  EXPECT_FALSE(result->write) << result->write.message();
  EXPECT_EQ(result->send, asio::error::operation_aborted);
  ASSERT_EQ(Queued(stream_peer_.get()), 9u) << "the reply was not written";
  EXPECT_EQ(ReadPeer(9), "the reply");
}

}  // namespace
}  // namespace rp::platform
