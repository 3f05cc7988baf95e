// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// PrependWriteBytes over real connected sockets: the held-back bytes leave
// with the first write, and never wait on a server that reads, closes,
// drops, hands the stream on or is busy elsewhere.
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <gtest/gtest.h>

#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "support/async_test.h"
#include "support/temp_dir.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::RunAsync;

const std::vector<std::uint8_t> kGreeting = {'E', 'V', 'T'};

class CorkedStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = LocalListener::Bind(io_.get_executor(), test::UniqueEndpointAddress(dir_, "c"));
    ASSERT_TRUE(listener) << listener.error().message();
    listener_ = std::move(*listener);
    baseline_ = test::HandleBaseline(io_);
    std::tie(client_, server_) = test::ConnectedStreams(io_, listener_);
    if (CurrentOs() == OsFlavor::kWindows) return;
    ASSERT_TRUE(CanPrependWriteBytes(server_));
    server_ = PrependWriteBytes(std::move(server_), kGreeting);
  }

  // Bytes that are in the client's socket right now, without waiting.
  std::string Waiting() {
    std::string out;
    char chunk[4096];
    for (;;) {
      auto n = client_.TryReadSome(asio::buffer(chunk));
      if (!n) break;
      out.append(chunk, *n);
    }
    return out;
  }

  std::string ReadAtClient(std::size_t count) {
    std::string out(count, '\0');
    auto ec = RunAsync(io_, ReadExactly(client_, asio::buffer(out)));
    EXPECT_FALSE(ec) << ec.message();
    return out;
  }

  void ExpectNoLeak() {
    client_.Close();
    server_.Close();
    EXPECT_EQ(test::OpenHandleCount(), baseline_);
  }

  test::TempDir dir_;
  asio::io_context io_;
  LocalListener listener_;
  LocalStream client_;
  LocalStream server_;
  std::size_t baseline_ = 0;
};

#define SKIP_WITHOUT_CORKING()                                                       \
  if (CurrentOs() == OsFlavor::kWindows) {                                           \
    GTEST_SKIP() << "pipes cannot write outside the event loop; the caller writes"; \
  }

TEST_F(CorkedStreamTest, WindowsPipesSayTheCallerMustWriteTheBytesItself) {
  if (CurrentOs() != OsFlavor::kWindows) GTEST_SKIP() << "POSIX sockets can";
  EXPECT_FALSE(CanPrependWriteBytes(server_));
}

TEST_F(CorkedStreamTest, FirstWriteCarriesTheHeldBytesInFrontOfItsOwn) {
  SKIP_WITHOUT_CORKING();
  EXPECT_EQ(Waiting(), "");  // held back, not written yet
  std::string reply = "pong";
  auto ec = RunAsync(io_, WriteAll(server_, asio::buffer(reply)));
  ASSERT_FALSE(ec) << ec.message();
  // One send: whatever the client reads first already holds both.
  char first[64];
  auto n = client_.TryReadSome(asio::buffer(first));
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(first, *n), "EVTpong");
  EXPECT_EQ(Waiting(), "");  // nothing written twice
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, TryWriteReportsOnlyTheCallersBytes) {
  SKIP_WITHOUT_CORKING();
  std::string reply = "ab";
  auto n = server_.TryWriteSome(asio::buffer(reply));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(ReadAtClient(5), "EVTab");
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, HeldBytesGoOutWhenTheServerWaitsToRead) {
  SKIP_WITHOUT_CORKING();
  // The client answers only once it has the greeting, so a server whose
  // read waited on the held bytes would never finish.
  auto got = RunAsync(io_, [this]() -> asio::awaitable<std::string> {
    using namespace asio::experimental::awaitable_operators;
    auto client_side = [this]() -> asio::awaitable<bool> {
      std::string greeting(3, '\0');
      if (co_await ReadExactly(client_, asio::buffer(greeting)) || greeting != "EVT") co_return false;
      co_return !co_await WriteAll(client_, asio::buffer(std::string("hi")));
    };
    auto server_side = [this]() -> asio::awaitable<std::string> {
      std::string in(2, '\0');
      auto ec = co_await ReadExactly(server_, asio::buffer(in));
      co_return ec ? ec.message() : in;
    };
    auto [answered, read] = co_await (client_side() && server_side());
    EXPECT_TRUE(answered);
    co_return read;
  }());
  EXPECT_EQ(got, "hi");
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, HeldBytesGoOutWhenTheServerCloses) {
  SKIP_WITHOUT_CORKING();
  server_.Close();
  EXPECT_EQ(ReadAtClient(3), "EVT");
  char byte;
  auto eof = RunAsync(io_, client_.ReadSome(asio::buffer(&byte, 1)));
  EXPECT_EQ(eof.error(), asio::error::eof);
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, DroppedStreamStillDeliversItsHeldBytes) {
  SKIP_WITHOUT_CORKING();
  { LocalStream gone = std::move(server_); }
  EXPECT_EQ(ReadAtClient(3), "EVT");
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, HeldBytesGoOutOnTheirOwnWhenTheServerIsBusyElsewhere) {
  SKIP_WITHOUT_CORKING();
  EXPECT_EQ(Waiting(), "");
  // No read, write or close: only the event loop turning.
  io_.restart();
  io_.poll();
  io_.poll();
  EXPECT_EQ(Waiting(), "EVT");
  std::string reply = "x";
  ASSERT_FALSE(RunAsync(io_, WriteAll(server_, asio::buffer(reply))));
  EXPECT_EQ(ReadAtClient(1), "x");  // and only once
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, LargeFirstWriteArrivesWholeAndInOrder) {
  SKIP_WITHOUT_CORKING();
  std::string big(300 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto got = RunAsync(io_, [&]() -> asio::awaitable<std::string> {
    using namespace asio::experimental::awaitable_operators;
    auto writer = [&]() -> asio::awaitable<bool> {
      co_return !co_await WriteAll(server_, asio::buffer(big));
    };
    auto reader = [&]() -> asio::awaitable<std::string> {
      std::string in(3 + big.size(), '\0');
      auto ec = co_await ReadExactly(client_, asio::buffer(in));
      co_return ec ? ec.message() : in;
    };
    auto [wrote, read] = co_await (writer() && reader());
    EXPECT_TRUE(wrote);
    co_return read;
  }());
  EXPECT_EQ(got, "EVT" + big);
  ExpectNoLeak();
}

TEST_F(CorkedStreamTest, HandingTheStreamOnSendsTheHeldBytesFirst) {
  SKIP_WITHOUT_CORKING();
  EXPECT_EQ(server_.native_handle(), PlatformHandle::InvalidValue());  // no writing around them
  auto released = server_.ReleaseHandle();
  ASSERT_TRUE(released) << released.error().message();
  EXPECT_EQ(Waiting(), "EVT");
  auto adopted = LocalStream::Adopt(io_.get_executor(), std::move(*released));
  ASSERT_TRUE(adopted);
  server_ = std::move(*adopted);
  std::string reply = "z";
  ASSERT_FALSE(RunAsync(io_, WriteAll(server_, asio::buffer(reply))));
  EXPECT_EQ(ReadAtClient(1), "z");
  ExpectNoLeak();
}

}  // namespace
}  // namespace rp::platform
