// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Local streams and listeners on the real OS endpoint type: Unix sockets on
// POSIX, named pipes on Windows.
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "support/async_test.h"
#include "support/child_registry.h"
#include "support/temp_dir.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;
using test::RunAsync;

constexpr auto kConnectTimeout = 5s;

bool IsWindows() { return CurrentOs() == OsFlavor::kWindows; }

struct Pair {
  LocalStream client;
  AcceptedConnection server;
};

asio::awaitable<Pair> ConnectPair(LocalListener& listener) {
  auto ex = co_await asio::this_coro::executor;
  using namespace asio::experimental::awaitable_operators;
  auto [client, server] =
      co_await (LocalStream::Connect(ex, listener.address(), kConnectTimeout) && listener.Accept());
  EXPECT_TRUE(client.has_value()) << client.error().message();
  EXPECT_TRUE(server.has_value()) << server.error().message();
  co_return Pair{std::move(*client), std::move(*server)};
}

TEST(LocalStream, EchoesBytesBothWaysAndReportsPeer) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "echo"));
  ASSERT_TRUE(listener) << listener.error().message();
  auto pair = RunAsync(io, ConnectPair(*listener));
  EXPECT_TRUE(pair.server.peer.same_user);
  EXPECT_EQ(pair.server.peer.pid, CurrentProcessId());
  if (!IsWindows()) {
    ASSERT_TRUE(pair.server.peer.uid.has_value());
  }
  auto got = RunAsync(io, [&]() -> asio::awaitable<std::string> {
    std::string out(5, '\0');
    EXPECT_FALSE(co_await WriteAll(pair.client, asio::buffer(std::string("ping!"))));
    EXPECT_FALSE(co_await ReadExactly(pair.server.stream, asio::buffer(out)));
    EXPECT_FALSE(co_await WriteAll(pair.server.stream, asio::buffer(out)));
    std::string back(5, '\0');
    EXPECT_FALSE(co_await ReadExactly(pair.client, asio::buffer(back)));
    co_return back;
  }());
  EXPECT_EQ(got, "ping!");
}

TEST(LocalStream, PeerCloseIsEofOnEveryPlatform) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "eof"));
  ASSERT_TRUE(listener);
  auto pair = RunAsync(io, ConnectPair(*listener));
  pair.client.Close();
  auto ec = RunAsync(io, [&]() -> asio::awaitable<error_code> {
    char byte;
    auto n = co_await pair.server.stream.ReadSome(asio::buffer(&byte, 1));
    co_return n ? error_code() : n.error();
  }());
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_TRUE(IsDisconnect(ec));
}

TEST(LocalStream, TryReadAndTryWriteMoveOnlyWhatIsThereWithoutWaiting) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "try"));
  ASSERT_TRUE(listener) << listener.error().message();
  auto pair = RunAsync(io, ConnectPair(*listener));
  char buf[16];
  auto empty = pair.server.stream.TryReadSome(asio::buffer(buf));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error(), asio::error::would_block);
  if (IsWindows()) {
    // Pipes have no such path: writes say would_block and go asynchronous.
    EXPECT_EQ(pair.client.TryWriteSome(asio::buffer("x", 1)).error(), asio::error::would_block);
    return;
  }
  auto sent = pair.client.TryWriteSome(asio::buffer("hello", 5));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 5u);
  auto got = pair.server.stream.TryReadSome(asio::buffer(buf));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(std::string(buf, *got), "hello");
  pair.client.Close();
  auto eof = pair.server.stream.TryReadSome(asio::buffer(buf));
  ASSERT_FALSE(eof);
  EXPECT_EQ(eof.error(), asio::error::eof);
  // The peer is gone: a write fails instead of waiting (and raises no SIGPIPE).
  auto broken = pair.server.stream.TryWriteSome(asio::buffer("x", 1));
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error(), asio::error::would_block);
}

// After a TryReadSome that found nothing, ReadSome does not try again at
// once (its asynchronous read does, before waiting). Bytes that came in
// between are read: on a stream not waited on before, and on one whose
// readiness the event loop saw and passed over while nobody was reading.
TEST(LocalStream, ReadSomeAfterAnEmptyTryReadGetsTheBytesThatCameMeanwhile) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "drain"));
  ASSERT_TRUE(listener) << listener.error().message();
  auto pair = RunAsync(io, ConnectPair(*listener));
  LocalStream& server = pair.server.stream;
  auto read_one = [&]() -> asio::awaitable<std::string> {
    char byte = 0;
    auto n = co_await server.ReadSome(asio::buffer(&byte, 1));
    co_return n ? std::string(1, byte) : "error: " + n.error().message();
  };
  char scratch;
  EXPECT_EQ(server.TryReadSome(asio::buffer(&scratch, 1)).error(), asio::error::would_block);
  ASSERT_FALSE(RunAsync(io, WriteAll(pair.client, asio::buffer("a", 1))));
  EXPECT_EQ(RunAsync(io, read_one(), 5s), "a") << "never waited on before";

  // Waited on once (registered), then found empty again; the next byte's
  // readiness reaches the event loop before anyone reads.
  EXPECT_EQ(server.TryReadSome(asio::buffer(&scratch, 1)).error(), asio::error::would_block);
  ASSERT_FALSE(RunAsync(io, WriteAll(pair.client, asio::buffer("b", 1))));
  RunAsync(io, [&]() -> asio::awaitable<bool> {
    asio::steady_timer turn(io, 50ms);
    co_await turn.async_wait(asio::use_awaitable);
    co_return true;
  }());
  EXPECT_EQ(RunAsync(io, read_one(), 5s), "b") << "readiness seen before the read";
}

TEST(LocalStream, ReadSomeTakesWaitingBytesAtOnceButStillLetsOthersRun) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "eager"));
  ASSERT_TRUE(listener) << listener.error().message();
  auto pair = RunAsync(io, ConnectPair(*listener));
  constexpr int kBytes = 64;
  ASSERT_FALSE(RunAsync(io, WriteAll(pair.client, asio::buffer(std::string(kBytes, 'e')))));
  // A handler queued as the reader starts runs at the reader's first trip
  // through the event loop; count the reads that completed before that.
  int reads_before_other_ran = -1, reads = 0;
  auto ok = RunAsync(io, [&]() -> asio::awaitable<bool> {
    asio::post(io, [&] { reads_before_other_ran = reads; });
    char byte;
    for (; reads < kBytes; ++reads) {
      auto n = co_await pair.server.stream.ReadSome(asio::buffer(&byte, 1));
      if (!n || *n != 1) co_return false;
    }
    co_return true;
  }());
  EXPECT_TRUE(ok);
  if (IsWindows()) return;  // pipes have no direct path; the order is the completion port's
  EXPECT_GT(reads_before_other_ran, 1) << "waiting bytes are read without suspending";
  EXPECT_LT(reads_before_other_ran, kBytes) << "a busy stream must not starve other work";
}

TEST(LocalStream, CancelEndsAPendingReadWithOperationAborted) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "cxl"));
  ASSERT_TRUE(listener);
  auto pair = RunAsync(io, ConnectPair(*listener));
  auto ec = RunAsync(io, [&]() -> asio::awaitable<error_code> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    timer.async_wait([&](error_code) { pair.server.stream.Cancel(); });
    char byte;
    auto n = co_await pair.server.stream.ReadSome(asio::buffer(&byte, 1));
    co_return n ? error_code() : n.error();
  }());
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
  // The stream still works after a cancelled read.
  auto echoed = RunAsync(io, [&]() -> asio::awaitable<bool> {
    EXPECT_FALSE(co_await WriteAll(pair.client, asio::buffer("x", 1)));
    char byte = 0;
    EXPECT_FALSE(co_await ReadExactly(pair.server.stream, asio::buffer(&byte, 1)));
    co_return byte == 'x';
  }());
  EXPECT_TRUE(echoed);
}

TEST(LocalListener, SecondLiveListenerOnSameAddressIsRefused) {
  test::TempDir dir;
  asio::io_context io;
  std::string address = test::UniqueEndpointAddress(dir, "dup");
  auto first = LocalListener::Bind(io.get_executor(), address);
  ASSERT_TRUE(first);
  auto second = LocalListener::Bind(io.get_executor(), address);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), make_error_code(Error::kAddressInUse)) << second.error().message();
  // The first one still accepts.
  auto pair = RunAsync(io, ConnectPair(*first));
  EXPECT_TRUE(pair.client.is_open());
}

TEST(LocalListener, ManyConcurrentConnectsAllSucceed) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "many"));
  ASSERT_TRUE(listener);
  constexpr int kClients = 32;
  auto accepted = RunAsync(io, [&]() -> asio::awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    int connected = 0;
    int served = 0;
    std::vector<LocalStream> clients;
    for (int i = 0; i < kClients; ++i) {
      asio::co_spawn(ex, LocalStream::Connect(ex, listener->address(), kConnectTimeout),
                     [&](std::exception_ptr, boost::system::result<LocalStream> s) {
                       if (s) {
                         ++connected;
                         clients.push_back(std::move(*s));
                       }
                     });
    }
    std::vector<AcceptedConnection> servers;
    while (served < kClients) {
      auto c = co_await listener->Accept();
      if (!c) break;
      servers.push_back(std::move(*c));
      ++served;
    }
    asio::steady_timer settle(ex);
    while (connected < kClients) {  // the connect coroutines finish after their accept
      settle.expires_after(1ms);
      co_await settle.async_wait(asio::use_awaitable);
    }
    co_return served;
  }());
  EXPECT_EQ(accepted, kClients);
}

TEST(LocalListener, CloseCancelsPendingAccept) {
  test::TempDir dir;
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), test::UniqueEndpointAddress(dir, "close"));
  ASSERT_TRUE(listener);
  auto ec = RunAsync(io, [&]() -> asio::awaitable<error_code> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    timer.async_wait([&](error_code) { listener->Close(); });
    auto c = co_await listener->Accept();
    co_return c ? error_code() : c.error();
  }());
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
}

TEST(LocalStream, ConnectToMissingEndpointFailsFast) {
  test::TempDir dir;
  asio::io_context io;
  auto start = std::chrono::steady_clock::now();
  auto result = RunAsync(io, LocalStream::Connect(io.get_executor(),
                                                  test::UniqueEndpointAddress(dir, "none"), 10s));
  EXPECT_FALSE(result);
  // "Fails fast" means it did not wait out the 10 s timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(LocalListener, ReplacesSocketFileLeftByDeadListener) {
  if (IsWindows()) GTEST_SKIP() << "named pipes leave no file behind";
  test::TempDir dir;
  asio::io_context io;
  std::string address = test::UniqueEndpointAddress(dir, "stale");
  // Bind a listener in a child process that is then killed, leaving the
  // socket file with nobody accepting.
  auto child = test::LaunchSelf(io.get_executor(), "bind_and_hang", {address});
  ASSERT_TRUE(child) << child.error().message();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!std::filesystem::exists(address) && std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
  }
  ASSERT_TRUE(std::filesystem::exists(address));
  ASSERT_FALSE(child->Terminate());
  RunAsync(io, child->Wait());
  ASSERT_TRUE(std::filesystem::exists(address)) << "killed listener should leave its file";
  auto replaced = LocalListener::Bind(io.get_executor(), address);
  ASSERT_TRUE(replaced) << replaced.error().message();
  auto pair = RunAsync(io, ConnectPair(*replaced));
  EXPECT_TRUE(pair.server.peer.same_user);
}

TEST(LocalListener, RefusesDirectoryOpenToOthers) {
  if (IsWindows()) GTEST_SKIP() << "POSIX permission bits";
  test::TempDir dir;
  std::string open_dir = dir.File("open");
  std::filesystem::create_directory(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms(0755));
  asio::io_context io;
  auto listener = LocalListener::Bind(io.get_executor(), open_dir + "/x.sock");
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error(), make_error_code(Error::kInsecureDirectory));
  // A missing directory is created private.
  std::string fresh = dir.File("a/b");
  auto ok = LocalListener::Bind(io.get_executor(), fresh + "/x.sock");
  ASSERT_TRUE(ok) << ok.error().message();
  auto perms = std::filesystem::status(fresh).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  auto sock_perms = std::filesystem::status(fresh + "/x.sock").permissions();
  EXPECT_EQ(sock_perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(LocalListener, SocketPathOverTheLimitIsAClearError) {
  if (IsWindows()) GTEST_SKIP() << "pipe names have no sun_path limit";
  test::TempDir dir;
  asio::io_context io;
  std::string address = dir.path() + "/" + std::string(120, 'x') + ".sock";
  auto listener = LocalListener::Bind(io.get_executor(), address);
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error(), make_error_code(Error::kPathTooLong));
}

TEST(LocalListener, CloseRemovesItsSocketFile) {
  if (IsWindows()) GTEST_SKIP() << "named pipes leave no file behind";
  test::TempDir dir;
  asio::io_context io;
  std::string address = test::UniqueEndpointAddress(dir, "rm");
  auto listener = LocalListener::Bind(io.get_executor(), address);
  ASSERT_TRUE(listener);
  EXPECT_TRUE(std::filesystem::exists(address));
  listener->Close();
  EXPECT_FALSE(std::filesystem::exists(address));
}

}  // namespace
}  // namespace rp::platform

// Child: binds a listener at args[0] and waits to be killed.
RP_TEST_CHILD(bind_and_hang) {
  boost::asio::io_context io;
  auto listener = rp::platform::LocalListener::Bind(io.get_executor(), args.at(0));
  if (!listener) return 2;
  boost::asio::steady_timer forever(io, std::chrono::hours(1));
  forever.wait();
  return 0;
}
