// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// rp-transfer-demo: shows a live connection moving between processes.
//
// This process listens on a local endpoint and launches two copies of
// itself: a client, which connects and sends a frame followed by more
// bytes, and a receiver, which holds the other end of a private channel.
// The listener reads the first frame itself, then hands the connection to
// the receiver (SCM_RIGHTS on POSIX, DuplicateHandle on Windows); the
// receiver reads the bytes the client sent before the hand-over and answers
// on the same connection. Each process prints what it did.
#include <cstdio>
#include <filesystem>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_v1_envelope.pb.h"
#include "rp/platform/child_process.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/transport/connection_transfer.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"

namespace {

namespace asio = boost::asio;
namespace platform = rp::platform;
namespace transport = rp::transport;
using namespace std::chrono_literals;

constexpr char kChannelEnv[] = "RP_DEMO_CHANNEL";
const std::string kLater = "and these bytes were sent before the hand-over";

template <class... Args>
void Say(const char* role, const char* format, Args... args) {
  std::printf("[%-8s pid %5u] ", role, platform::CurrentProcessId());
  std::printf(format, args...);
  std::printf("\n");
  std::fflush(stdout);
}

std::vector<std::uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

template <class T>
T ValueOr(const boost::system::result<T>& r, T fallback) {
  return r ? *r : fallback;
}

asio::awaitable<int> Client(std::string address) {
  auto ex = co_await asio::this_coro::executor;
  auto stream = co_await platform::LocalStream::Connect(ex, address, 5s);
  if (!stream) {
    Say("client", "connect failed: %s", stream.error().message().c_str());
    co_return 1;
  }
  auto out = *transport::FrameBody(Bytes("hello"));
  out.insert(out.end(), kLater.begin(), kLater.end());
  co_await platform::WriteAll(*stream, asio::buffer(out));
  Say("client", "connected; sent a \"hello\" frame and %zu more bytes in one write", kLater.size());
  auto reply = co_await transport::ReadFrameBody(*stream);
  if (!reply) {
    Say("client", "no reply: %s", reply.error().message().c_str());
    co_return 1;
  }
  Say("client", "reply on the same connection: \"%s\"", Text(*reply).c_str());
  co_return 0;
}

asio::awaitable<int> Receiver(platform::HandleChannel channel) {
  auto ex = co_await asio::this_coro::executor;
  auto received = co_await transport::ReceiveConnection(channel, ex);
  if (!received) {
    Say("receiver", "receive failed: %s", received.error().message().c_str());
    co_return 1;
  }
  Say("receiver", "got a live connection with a %s frame (payload protocol 0x%X)",
      rp::transport::pb::FrameKind_Name(received->frame.kind()).c_str(),
      received->frame.payload_protocol());
  std::string later(kLater.size(), '\0');
  if (auto ec = co_await platform::ReadExactly(received->stream, asio::buffer(later))) {
    Say("receiver", "read failed: %s", ec.message().c_str());
    co_return 1;
  }
  Say("receiver", "read what the client sent before the hand-over: \"%s\"", later.c_str());
  std::string answer = "served by pid " + std::to_string(platform::CurrentProcessId());
  co_await transport::WriteFrameBody(received->stream, Bytes(answer));
  co_return 0;
}

asio::awaitable<int> Transfer(std::string self, std::string address) {
  auto ex = co_await asio::this_coro::executor;
  auto listener = platform::LocalListener::Bind(ex, address);
  if (!listener) {
    Say("listener", "cannot listen on %s: %s", address.c_str(), listener.error().message().c_str());
    co_return 1;
  }
  Say("listener", "listening on %s", address.c_str());

  auto ends = platform::HandleChannel::CreatePair().value();
  platform::LaunchOptions receiver_options{self, {"--role=receiver"},
                                           {{kChannelEnv, ends.second.ToDecimalString()}},
                                           {ends.second.get()}, {}};
  auto receiver = platform::ChildProcess::Launch(ex, receiver_options).value();
  ends.second.reset();
  auto channel = platform::HandleChannel::Open(ex, std::move(ends.first),
                                               receiver.DuplicateProcessHandle().value())
                     .value();
  Say("listener", "launched receiver pid %u with a private channel", receiver.pid());
  auto client =
      platform::ChildProcess::Launch(ex, {self, {"--role=client", address}, {}, {}, {}}).value();

  auto accepted = co_await listener->Accept();
  if (!accepted) co_return 1;
  Say("listener", "accepted a connection from pid %u (same user: %s)", accepted->peer.pid,
      accepted->peer.same_user ? "yes" : "no");
  auto hello = co_await transport::ReadFrameBody(accepted->stream, transport::kMaxHelloBytes);
  Say("listener", "read exactly one frame myself: \"%s\"", hello ? Text(*hello).c_str() : "?");

  rp::transport::pb::HandoffOffer offer;
  offer.set_service_name("demo");
  offer.set_correlation_id(1);
  auto frame = transport::MakeRequest(transport::kHandoffPayloadProtocol,
                                      transport::SerializeDeterministic(offer), 1);
  auto ec = co_await transport::SendConnection(channel, std::move(accepted->stream), frame, true);
  Say("listener", "handed the connection to pid %u: %s", receiver.pid(),
      ec ? ec.message().c_str() : "ok");

  int client_rc = ValueOr(co_await client.Wait(), -1);
  int receiver_rc = ValueOr(co_await receiver.Wait(), -1);
  Say("listener", "client exited %d, receiver exited %d", client_rc, receiver_rc);
  co_return (client_rc == 0 && receiver_rc == 0 && !ec) ? 0 : 1;
}

asio::awaitable<int> Listener(std::string self, std::string address) {
  // Let the event loop create its own handles before taking the baseline.
  asio::steady_timer warm_up(co_await asio::this_coro::executor, 0ms);
  co_await warm_up.async_wait(asio::use_awaitable);
  const auto before = ValueOr<std::size_t>(platform::CountOpenHandles(), 0);
  int rc = co_await Transfer(std::move(self), std::move(address));
  const auto after = ValueOr<std::size_t>(platform::CountOpenHandles(), 0);
  Say("listener", "my open handles: %zu before, %zu after%s", before, after,
      before == after ? "" : " (LEAK)");
  co_return before == after ? rc : 1;
}

std::string DemoAddress(std::string* dir_out) {
  if (platform::CurrentOs() == platform::OsFlavor::kWindows) {
    return "\\\\.\\pipe\\rp-transfer-demo-" + std::to_string(platform::CurrentProcessId());
  }
  *dir_out = "/tmp/rp-demo-" + std::to_string(platform::CurrentProcessId());
  return *dir_out + "/demo.sock";
}

}  // namespace

int main(int argc, char** argv) {
  asio::io_context io;
  std::string role = argc > 1 ? argv[1] : "";
  int rc = 1;
  auto done = [&rc](std::exception_ptr e, int value) { rc = e ? 1 : value; };
  if (role == "--role=client" && argc > 2) {
    asio::co_spawn(io, Client(argv[2]), done);
  } else if (role == "--role=receiver") {
    auto end = platform::PlatformHandle::FromDecimalString(
        platform::GetEnv(kChannelEnv).value_or(""));
    auto channel = end ? platform::HandleChannel::Open(io.get_executor(), std::move(*end))
                       : boost::system::result<platform::HandleChannel>(end.error());
    if (!channel) return 1;
    asio::co_spawn(io, Receiver(std::move(*channel)), done);
  } else {
    std::string dir;
    std::string address = DemoAddress(&dir);
    asio::co_spawn(io, Listener(platform::CurrentExecutablePath().value(), address), done);
    io.run();
    if (!dir.empty()) std::filesystem::remove_all(dir);
    return rc;
  }
  io.run();
  return rc;
}
