// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// Windows-focused tests of rp::platform: named-pipe listener and streams
// (completion-port and event-driven), peer identity, handing an accepted
// connection to a child process through a HandleChannel, and cancellation.
// Cases that use only the portable API run on every OS; the ones whose
// subject exists only on Windows skip elsewhere.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/platform/local_stream.h"
#include "rp/platform/platform_handle.h"
#include "support/child_registry.h"
#include "support/temp_dir.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using boost::system::error_code;
using boost::system::result;

constexpr char kChannelEnv[] = "RP_WIN_PIPES_TEST_CHANNEL";

bool OnWindows() { return CurrentOs() == OsFlavor::kWindows; }

// Coroutine versions of ASSERT_*: record the failure and leave the coroutine.
#define CO_ASSERT_TRUE(cond)                               \
  do {                                                     \
    if (!(cond)) {                                         \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #cond ") failed"; \
      co_return;                                           \
    }                                                      \
  } while (0)
#define CO_ASSERT_OK(res)                                           \
  do {                                                              \
    if (!(res)) {                                                   \
      ADD_FAILURE() << #res " failed: " << (res).error().message(); \
      co_return;                                                    \
    }                                                               \
  } while (0)
#define CO_ASSERT_NO_ERROR(ec)                          \
  do {                                                  \
    if (error_code e_ = (ec)) {                         \
      ADD_FAILURE() << #ec " failed: " << e_.message(); \
      co_return;                                        \
    }                                                   \
  } while (0)

// Runs `task` on `ctx` until it finishes (or fails the test after `limit`).
void RunTask(asio::io_context& ctx, asio::awaitable<void> task, std::chrono::seconds limit = 30s) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(task), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  ctx.restart();
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) ctx.run_one_for(100ms);
  if (!done) {
    ADD_FAILURE() << "test coroutine did not finish within " << limit.count() << " s";
    ctx.stop();
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "exception: " << e.what();
    }
  }
}

std::vector<std::uint8_t> Bytes(const std::string& text) {
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

asio::awaitable<error_code> WriteText(LocalStream& stream, const std::string& text) {
  co_return co_await WriteAll(stream, asio::buffer(text));
}

// Reads exactly `n` bytes; the text, or "<error: ...>".
asio::awaitable<std::string> ReadText(LocalStream& stream, std::size_t n) {
  std::string text(n, '\0');
  if (error_code ec = co_await ReadExactly(stream, asio::buffer(text))) {
    co_return "<error: " + ec.message() + ">";
  }
  co_return text;
}

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

template <typename H>
H AllOnesHandle() {
  if constexpr (std::is_pointer_v<H>) {
    return reinterpret_cast<H>(~std::uintptr_t{0});
  } else {
    return H(-1);
  }
}

class WinPipesTest : public testing::Test {
 protected:
  std::string Address(const std::string& tag) { return test::UniqueEndpointAddress(dir_, tag); }

  asio::io_context ctx_;
  test::TempDir dir_;
};

// --- Handles, errors, host -------------------------------------------------

TEST_F(WinPipesTest, PlatformHandleBasics) {
  EXPECT_FALSE(PlatformHandle().is_valid());
  EXPECT_FALSE(PlatformHandle(PlatformHandle::InvalidValue()).is_valid());
  {
    // INVALID_HANDLE_VALUE on Windows (-1 is no fd on POSIX either).
    PlatformHandle all_ones(AllOnesHandle<NativeHandle>());
    EXPECT_FALSE(all_ones.is_valid());
    (void)all_ones.release();
  }
  if (OnWindows()) {
    EXPECT_EQ(PlatformHandle::InvalidValue(), NativeHandle{});
  }

  auto pair = HandleChannel::CreatePair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto before = CountOpenHandles();
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_GT(*before, 0u);
  {
    auto copy = pair->first.Clone();
    ASSERT_TRUE(copy) << copy.error().message();
    EXPECT_TRUE(copy->is_valid());
    EXPECT_NE(copy->get(), pair->first.get());
    EXPECT_EQ(*CountOpenHandles(), *before + 1);

    std::string text = copy->ToDecimalString();
    auto parsed = PlatformHandle::FromDecimalString(text);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->get(), copy->get());
    (void)parsed->release();  // Same handle as `copy`; do not close twice.
  }
  EXPECT_EQ(*CountOpenHandles(), *before);

  for (const char* bad : {"", "12x", "-", "x1", "99999999999999999999999"}) {
    auto parsed = PlatformHandle::FromDecimalString(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error(), boost::system::errc::invalid_argument) << bad;
    }
  }
}

TEST_F(WinPipesTest, IsDisconnectKnowsPipeErrors) {
  EXPECT_TRUE(IsDisconnect(asio::error::eof));
  if (!OnWindows()) GTEST_SKIP() << "the named-pipe error codes exist only on Windows";
  const auto& system = boost::system::system_category();
  EXPECT_TRUE(IsDisconnect(error_code(109, system)));   // ERROR_BROKEN_PIPE
  EXPECT_TRUE(IsDisconnect(error_code(232, system)));   // ERROR_NO_DATA
  EXPECT_TRUE(IsDisconnect(error_code(233, system)));   // ERROR_PIPE_NOT_CONNECTED
  EXPECT_FALSE(IsDisconnect(error_code(995, system)));  // ERROR_OPERATION_ABORTED
  EXPECT_FALSE(IsDisconnect(asio::error::operation_aborted));
}

TEST_F(WinPipesTest, HostFactsOnWindows) {
  if (!OnWindows()) GTEST_SKIP() << "SID identity and DACLs are Windows facts";
  auto identity = CurrentUserIdentityString();
  ASSERT_TRUE(identity) << identity.error().message();
  const std::string prefix = "windows-sid:";
  ASSERT_EQ(identity->rfind(prefix, 0), 0u) << *identity;
  std::string hex = identity->substr(prefix.size());
  EXPECT_GE(hex.size(), 16u);
  EXPECT_EQ(hex.size() % 2, 0u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  EXPECT_EQ(hex.substr(0, 2), "01");  // SID revision 1.
  EXPECT_EQ(CurrentUid(), 0u);
  EXPECT_FALSE(RuntimeDirectoryFromEnvironment());

  std::string nested = dir_.File("a\\b/c");
  EXPECT_FALSE(EnsurePrivateDirectory(nested));
  EXPECT_FALSE(EnsurePrivateDirectory(nested));  // Idempotent.
}

// --- Listener and streams --------------------------------------------------

asio::awaitable<void> EchoOnce(LocalListener& listener, bool expect_transferable) {
  auto accepted = co_await listener.Accept();
  CO_ASSERT_OK(accepted);
  // Every POSIX stream is transferable; on Windows only event-driven ones.
  EXPECT_EQ(accepted->stream.is_transferable(), expect_transferable || !OnWindows());
  std::string text = co_await ReadText(accepted->stream, 5);
  EXPECT_EQ(text, "hello");
  CO_ASSERT_NO_ERROR(co_await WriteText(accepted->stream, "echo:" + text));
  // The client closes; the server sees a clean EOF.
  std::uint8_t byte = 0;
  auto n = co_await accepted->stream.ReadSome(asio::buffer(&byte, 1));
  CO_ASSERT_TRUE(!n);
  EXPECT_EQ(n.error(), asio::error::eof) << n.error().message();
  EXPECT_TRUE(IsDisconnect(n.error()));
}

asio::awaitable<void> ClientHello(asio::any_io_executor ex, std::string address) {
  auto client = co_await LocalStream::Connect(ex, address, 5s);
  CO_ASSERT_OK(client);
  // Windows: a connected client pipe is bound to our completion port.
  if (OnWindows()) {
    EXPECT_FALSE(client->is_transferable());
  }
  CO_ASSERT_NO_ERROR(co_await WriteText(*client, "hello"));
  EXPECT_EQ(co_await ReadText(*client, 10), "echo:hello");
  client->Close();
}

TEST_F(WinPipesTest, ListenConnectEcho) {
  for (bool transferable : {true, false}) {
    SCOPED_TRACE(transferable ? "event-driven server stream" : "completion-port server stream");
    ListenOptions options;
    options.transferable = transferable;
    auto listener = LocalListener::Bind(ctx_.get_executor(), Address("echo"), options);
    ASSERT_TRUE(listener) << listener.error().message();
    RunTask(ctx_, [&]() -> asio::awaitable<void> {
      co_await (EchoOnce(*listener, transferable) &&
                ClientHello(ctx_.get_executor(), listener->address()));
    }());
  }
}

TEST_F(WinPipesTest, ServerCloseIsEofForClient) {
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("srvclose"));
  ASSERT_TRUE(listener) << listener.error().message();
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto client = co_await LocalStream::Connect(ctx_.get_executor(), listener->address(), 5s);
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->Accept();
    CO_ASSERT_OK(accepted);
    accepted->stream.Close();
    std::uint8_t byte = 0;
    auto n = co_await client->ReadSome(asio::buffer(&byte, 1));
    CO_ASSERT_TRUE(!n);
    EXPECT_EQ(n.error(), asio::error::eof) << n.error().message();
  }());
}

TEST_F(WinPipesTest, BareNameConnects) {
  if (!OnWindows()) GTEST_SKIP() << "bare names are a named-pipe convenience";
  std::string address = Address("bare");
  const std::string prefix = "\\\\.\\pipe\\";
  ASSERT_EQ(address.rfind(prefix, 0), 0u);
  auto listener = LocalListener::Bind(ctx_.get_executor(), address.substr(prefix.size()));
  ASSERT_TRUE(listener) << listener.error().message();
  EXPECT_EQ(listener->address(), address);
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    co_await (EchoOnce(*listener, true) &&
              ClientHello(ctx_.get_executor(), address.substr(prefix.size())));
  }());
}

TEST_F(WinPipesTest, SecondBindIsAddressInUse) {
  std::string address = Address("twice");
  auto first = LocalListener::Bind(ctx_.get_executor(), address);
  ASSERT_TRUE(first) << first.error().message();
  auto second = LocalListener::Bind(ctx_.get_executor(), address);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), make_error_code(Error::kAddressInUse)) << second.error().message();
  first->Close();
  auto third = LocalListener::Bind(ctx_.get_executor(), address);
  EXPECT_TRUE(third) << third.error().message();
}

TEST_F(WinPipesTest, ConnectToMissingListenerFailsAtOnce) {
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto started = std::chrono::steady_clock::now();
    auto client = co_await LocalStream::Connect(ctx_.get_executor(), Address("nobody"), 20s);
    CO_ASSERT_TRUE(!client);
    EXPECT_NE(client.error(), asio::error::timed_out);
    // Not a timing assertion: a retry loop would have run for 20 s.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  }());
}

TEST_F(WinPipesTest, TwentyConcurrentConnects) {
  constexpr int kClients = 20;
  ListenOptions options;
  options.ready_instances = 4;  // Fewer than the clients: some see "all pipe instances busy".
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("burst"), options);
  ASSERT_TRUE(listener) << listener.error().message();
  int served = 0;
  int answered = 0;
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < kClients; ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> asio::awaitable<void> {
            auto client = co_await LocalStream::Connect(ex, listener->address(), 20s);
            CO_ASSERT_OK(client);
            std::string id = std::to_string(100 + i);
            CO_ASSERT_NO_ERROR(co_await WriteText(*client, id));
            EXPECT_EQ(co_await ReadText(*client, 3), id);
            ++answered;
          },
          asio::detached);
    }
    for (int i = 0; i < kClients; ++i) {
      auto accepted = co_await listener->Accept();
      CO_ASSERT_OK(accepted);
      asio::co_spawn(
          ex,
          [&, stream = std::move(accepted->stream)]() mutable -> asio::awaitable<void> {
            std::string id = co_await ReadText(stream, 3);
            CO_ASSERT_NO_ERROR(co_await WriteText(stream, id));
            ++served;
            // Keep the connection until the client read the answer.
            std::uint8_t byte;
            (void)co_await stream.ReadSome(asio::buffer(&byte, 1));
          },
          asio::detached);
    }
    while (answered < kClients || served < kClients) co_await Sleep(5ms);
  }());
  EXPECT_EQ(served, kClients);
  EXPECT_EQ(answered, kClients);
}

TEST_F(WinPipesTest, PeerIdentityIsOurs) {
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("peer"));
  ASSERT_TRUE(listener) << listener.error().message();
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto client = co_await LocalStream::Connect(ctx_.get_executor(), listener->address(), 5s);
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->Accept();
    CO_ASSERT_OK(accepted);
    const PeerIdentity& peer = accepted->peer;
    EXPECT_EQ(peer.pid, CurrentProcessId());
    EXPECT_TRUE(peer.same_user);
    if (OnWindows()) {
      EXPECT_EQ(peer.user_sid.rfind("S-1-", 0), 0u) << peer.user_sid;
      EXPECT_FALSE(peer.uid);
    }
  }());
}

// Closing releases every OS handle at once, without waiting for the
// io_context to run the cancelled waits' handlers.
TEST_F(WinPipesTest, CloseReleasesHandlesImmediately) {
  auto cycle = [&](bool check) {
    auto before = CountOpenHandles();
    ASSERT_TRUE(before) << before.error().message();
    {
      auto listener = LocalListener::Bind(ctx_.get_executor(), Address("release"));
      ASSERT_TRUE(listener) << listener.error().message();
      std::optional<LocalStream> client;
      std::optional<LocalStream> server;
      RunTask(ctx_, [&]() -> asio::awaitable<void> {
        auto connected =
            co_await LocalStream::Connect(ctx_.get_executor(), listener->address(), 5s);
        CO_ASSERT_OK(connected);
        client.emplace(std::move(*connected));
        auto accepted = co_await listener->Accept();
        CO_ASSERT_OK(accepted);
        server.emplace(std::move(accepted->stream));
        CO_ASSERT_NO_ERROR(co_await WriteText(*client, "x"));
        EXPECT_EQ(co_await ReadText(*server, 1), "x");
      }());
      ASSERT_TRUE(client && server);
      // A read left pending on each side when everything is closed.
      asio::co_spawn(
          ctx_,
          [&]() -> asio::awaitable<void> {
            std::uint8_t byte;
            (void)co_await server->ReadSome(asio::buffer(&byte, 1));
          },
          asio::detached);
      ctx_.poll();
      listener->Close();
      server->Close();
      client->Close();
      auto after = CountOpenHandles();
      // Let the cancelled read finish while the streams still exist.
      ctx_.restart();
      ctx_.poll();
      ASSERT_TRUE(after);
      if (check) {
        EXPECT_EQ(*after, *before);
      }
    }
  };
  cycle(false);  // Warms up lazily created handles (thread pool waits).
  cycle(true);
}

TEST_F(WinPipesTest, CloseCancelsPendingAccept) {
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("closeaccept"));
  ASSERT_TRUE(listener) << listener.error().message();
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto closer = [&]() -> asio::awaitable<void> {
      co_await Sleep(50ms);
      listener->Close();
    };
    auto accept = [&]() -> asio::awaitable<void> {
      auto accepted = co_await listener->Accept();
      CO_ASSERT_TRUE(!accepted);
      EXPECT_EQ(accepted.error(), asio::error::operation_aborted) << accepted.error().message();
    };
    co_await (accept() && closer());
  }());
}

// Cancel() and per-operation cancellation of a pending read, on the
// accepted stream (event-driven on Windows) and the client stream
// (completion port); the streams still work afterwards.
TEST_F(WinPipesTest, CancelPendingReadCompletesWithOperationAborted) {
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("cancel"));
  ASSERT_TRUE(listener) << listener.error().message();
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto client = co_await LocalStream::Connect(ctx_.get_executor(), listener->address(), 5s);
    CO_ASSERT_OK(client);
    auto accepted = co_await listener->Accept();
    CO_ASSERT_OK(accepted);
    LocalStream& server = accepted->stream;

    for (LocalStream* stream : {&server, &*client}) {
      SCOPED_TRACE(stream == &server ? "server stream" : "client stream");
      std::uint8_t byte = 0;
      auto cancel_later = [stream]() -> asio::awaitable<void> {
        co_await Sleep(50ms);
        stream->Cancel();
      };
      auto read = [&]() -> asio::awaitable<void> {
        auto n = co_await stream->ReadSome(asio::buffer(&byte, 1));
        CO_ASSERT_TRUE(!n);
        EXPECT_EQ(n.error(), asio::error::operation_aborted) << n.error().message();
        EXPECT_FALSE(IsDisconnect(n.error()));
      };
      co_await (read() && cancel_later());

      // Per-operation cancellation: the timer wins, the read is cancelled.
      asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
      auto raced = co_await (stream->ReadSome(asio::buffer(&byte, 1)) ||
                             timer.async_wait(asio::use_awaitable));
      EXPECT_EQ(raced.index(), 1u);
    }
    // Nothing was lost or broken by the cancellations.
    CO_ASSERT_NO_ERROR(co_await WriteText(*client, "after"));
    EXPECT_EQ(co_await ReadText(server, 5), "after");
    CO_ASSERT_NO_ERROR(co_await WriteText(server, "back"));
    EXPECT_EQ(co_await ReadText(*client, 4), "back");
  }());
}

// --- Handing a live connection to a child process ---------------------------

// Child: receives one connection over the inherited channel, reads the
// rest of what the client sent before the handoff, and answers on it.
RP_TEST_CHILD(win_pipes_handoff_child) {
  auto text = GetEnv(kChannelEnv);
  if (!text) return 10;
  auto end = PlatformHandle::FromDecimalString(*text);
  if (!end) return 11;
  asio::io_context ctx;
  int rc = 1;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto channel = HandleChannel::Open(ctx.get_executor(), std::move(*end));
        if (!channel) {
          rc = 12;
          co_return;
        }
        auto message = co_await channel->Receive();
        if (!message) {
          std::fprintf(stderr, "child: receive: %s\n", message.error().message().c_str());
          rc = 13;
          co_return;
        }
        if (message->handles.size() != 1 || message->bytes != Bytes("take")) {
          rc = 14;
          co_return;
        }
        auto stream = LocalStream::Adopt(ctx.get_executor(), std::move(message->handles[0]));
        if (!stream) {
          std::fprintf(stderr, "child: adopt: %s\n", stream.error().message().c_str());
          rc = 15;
          co_return;
        }
        std::string rest = co_await ReadText(*stream, 14);
        if (rest != "CHILD-DATA-123") {
          std::fprintf(stderr, "child: read '%s'\n", rest.c_str());
          rc = 16;
          co_return;
        }
        if (co_await WriteText(*stream, "child:" + rest)) {
          rc = 17;
          co_return;
        }
        rc = 0;
      },
      asio::detached);
  ctx.run();
  return rc;
}

RP_TEST_CHILD(win_pipes_exit_now) { return 0; }

asio::awaitable<result<ChildProcess>> LaunchChild(const std::string& name,
                                                  PlatformHandle& inherited) {
  auto exe = CurrentExecutablePath();
  if (!exe) co_return exe.error();
  LaunchOptions options;
  options.executable = *exe;
  options.args = test::ChildArgs(name);
  options.inherit = {inherited.get()};
  options.env = {{kChannelEnv, inherited.ToDecimalString()}};
  co_return ChildProcess::Launch(co_await asio::this_coro::executor, options);
}

TEST_F(WinPipesTest, EventStreamHandedToChildAfterParentRead) {
  auto listener = LocalListener::Bind(ctx_.get_executor(), Address("handoff"));
  ASSERT_TRUE(listener) << listener.error().message();
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto client = co_await LocalStream::Connect(ex, listener->address(), 5s);
    CO_ASSERT_OK(client);
    // Everything is sent before the handoff: the parent reads only its part.
    CO_ASSERT_NO_ERROR(co_await WriteText(*client, "PARENT:CHILD-DATA-123"));
    auto accepted = co_await listener->Accept();
    CO_ASSERT_OK(accepted);
    LocalStream& server = accepted->stream;
    CO_ASSERT_TRUE(server.is_transferable());
    EXPECT_EQ(co_await ReadText(server, 7), "PARENT:");
    CO_ASSERT_NO_ERROR(co_await WriteText(server, "parent-ok"));
    EXPECT_EQ(co_await ReadText(*client, 9), "parent-ok");

    auto pair = HandleChannel::CreatePair();
    CO_ASSERT_OK(pair);
    auto child = co_await LaunchChild("win_pipes_handoff_child", pair->second);
    CO_ASSERT_OK(child);
    pair->second.reset();
    auto peer = child->DuplicateProcessHandle();
    CO_ASSERT_OK(peer);
    auto channel = HandleChannel::Open(ex, std::move(pair->first), std::move(*peer));
    CO_ASSERT_OK(channel);

    auto pipe = server.ReleaseHandle();
    CO_ASSERT_OK(pipe);
    EXPECT_FALSE(server.is_open());
    NativeHandle handles[] = {pipe->get()};
    auto bytes = Bytes("take");
    CO_ASSERT_NO_ERROR(co_await channel->Send(bytes, handles));
    pipe->reset();

    EXPECT_EQ(co_await ReadText(*client, 20), "child:CHILD-DATA-123");
    auto rc = co_await child->Wait();
    CO_ASSERT_OK(rc);
    EXPECT_EQ(*rc, 0);
    // The child exited and we closed our copy: the client sees EOF.
    std::uint8_t byte = 0;
    auto n = co_await client->ReadSome(asio::buffer(&byte, 1));
    EXPECT_FALSE(n);
  }());
}

constexpr char kValueEnv[] = "RP_WIN_PIPES_TEST_VALUE";

RP_TEST_CHILD(win_pipes_print_and_exit) {
  auto value = GetEnv(kValueEnv);
  std::printf("value=%s\n", value ? value->c_str() : "<unset>");
  std::fflush(stdout);
  std::fprintf(stderr, "to-stderr\n");
  return 7;
}

RP_TEST_CHILD(win_pipes_sleep) {
  asio::io_context ctx;
  asio::steady_timer timer(ctx, 60s);
  timer.wait();
  return 0;
}

TEST_F(WinPipesTest, ChildOutputFileEnvironmentAndExitCode) {
  auto exe = CurrentExecutablePath();
  ASSERT_TRUE(exe) << exe.error().message();
  LaunchOptions options;
  options.executable = *exe;
  options.args = test::ChildArgs("win_pipes_print_and_exit");
  options.env = {{kValueEnv, "v1 with spaces"}};
  options.output_path = dir_.File("child.log");
  auto child = ChildProcess::Launch(ctx_.get_executor(), options);
  ASSERT_TRUE(child) << child.error().message();
  EXPECT_NE(child->pid(), 0u);
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto rc = co_await child->Wait();
    CO_ASSERT_OK(rc);
    EXPECT_EQ(*rc, 7);
  }());
  EXPECT_FALSE(child->is_running());
  std::string text;
  if (FILE* file = std::fopen(options.output_path.c_str(), "rb")) {
    char buffer[256];
    while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), file)) text.append(buffer, n);
    std::fclose(file);
  }
  EXPECT_NE(text.find("value=v1 with spaces"), std::string::npos) << text;
  EXPECT_NE(text.find("to-stderr"), std::string::npos) << text;
}

TEST_F(WinPipesTest, TerminateStopsARunningChild) {
  auto exe = CurrentExecutablePath();
  ASSERT_TRUE(exe) << exe.error().message();
  LaunchOptions options;
  options.executable = *exe;
  options.args = test::ChildArgs("win_pipes_sleep");
  auto child = ChildProcess::Launch(ctx_.get_executor(), options);
  ASSERT_TRUE(child) << child.error().message();
  EXPECT_TRUE(child->is_running());
  EXPECT_FALSE(child->Terminate());
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto rc = co_await child->Wait();
    CO_ASSERT_OK(rc);
    EXPECT_NE(*rc, 0);
  }());
  EXPECT_FALSE(child->is_running());
}

TEST_F(WinPipesTest, SendToExitedChildFailsAndLeaksNothing) {
  auto cycle = [&](bool send) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto pair = HandleChannel::CreatePair();
    CO_ASSERT_OK(pair);
    auto child = co_await LaunchChild("win_pipes_exit_now", pair->second);
    CO_ASSERT_OK(child);
    pair->second.reset();
    auto rc = co_await child->Wait();
    CO_ASSERT_OK(rc);
    EXPECT_EQ(*rc, 0);
    EXPECT_FALSE(child->is_running());
    auto peer = child->DuplicateProcessHandle();
    CO_ASSERT_OK(peer);
    auto channel = HandleChannel::Open(ex, std::move(pair->first), std::move(*peer));
    CO_ASSERT_OK(channel);
    if (!send) co_return;
    auto payload = HandleChannel::CreatePair();
    CO_ASSERT_OK(payload);
    NativeHandle handles[] = {payload->first.get(), payload->second.get()};
    auto bytes = Bytes("too late");
    error_code ec = co_await channel->Send(bytes, handles);
    EXPECT_TRUE(ec) << "sending to an exited child succeeded";
  };
  // The first cycle warms up lazily created handles (thread pool waits).
  RunTask(ctx_, cycle(false));
  auto baseline = CountOpenHandles();
  ASSERT_TRUE(baseline) << baseline.error().message();
  RunTask(ctx_, cycle(true));
  RunTask(ctx_, cycle(true));
  auto after = CountOpenHandles();
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *baseline);
}

TEST_F(WinPipesTest, ChannelRejectsHandlesWithoutPeerProcess) {
  if (!OnWindows()) GTEST_SKIP() << "POSIX ignores peer_process (SCM_RIGHTS needs none)";
  RunTask(ctx_, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto pair = HandleChannel::CreatePair();
    CO_ASSERT_OK(pair);
    auto sender = HandleChannel::Open(ex, std::move(pair->first));
    CO_ASSERT_OK(sender);
    auto receiver = HandleChannel::Open(ex, std::move(pair->second));
    CO_ASSERT_OK(receiver);
    auto payload = HandleChannel::CreatePair();
    CO_ASSERT_OK(payload);
    NativeHandle handles[] = {payload->first.get()};
    auto bytes = Bytes("x");
    EXPECT_TRUE(co_await sender->Send(bytes, handles));
    // Without handles no peer process is needed.
    CO_ASSERT_NO_ERROR(co_await sender->Send(bytes, {}));
    auto message = co_await receiver->Receive();
    CO_ASSERT_OK(message);
    EXPECT_EQ(message->bytes, bytes);
    EXPECT_TRUE(message->handles.empty());
  }());
}

}  // namespace
}  // namespace rp::platform
