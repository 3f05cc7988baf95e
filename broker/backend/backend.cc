// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// The backend SDK: bind backend_pipe, report ready to the broker over the
// control channel, serve connections, stop when asked (spec §4.3, §4.4).

#include "rp/backend/backend.h"

#include "handoff_acceptor.h"

#include <charconv>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_v1_manifest.pb.h"
#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"
#include "rp/platform/errors.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/host.h"
#include "rp/platform/local_listener.h"
#include "rp/platform/system.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "rp/transport/framing.h"

namespace rp::backend {
namespace {

namespace asio = boost::asio;
namespace pb = ::running_process::broker::v1;
using boost::system::error_code;

// How long the accept loop rests when the process is out of descriptors /
// handles, so that finishing connections can free some.
constexpr std::chrono::milliseconds kExhaustionBackoff{50};

// Identity probes (spec §4.5 (b)): a 32-byte nonce in a small frame; the
// rest of a frame that has begun must arrive within this budget (the
// prober's own deadline is 500 ms).
constexpr std::size_t kProbeNonceBytes = 32;
constexpr std::uint32_t kMaxProbeFrameBytes = 256;
constexpr std::chrono::milliseconds kProbeReadBudget{400};

std::string EnvOrEmpty(const char* name) {
  return platform::GetEnv(name).value_or(std::string());
}

// BLAKE3 of the file at `path` (UTF-8), 32 bytes.
boost::system::result<std::string> HashFile(const std::string& path) {
  std::filesystem::path fs_path(std::u8string(path.begin(), path.end()));
  std::error_code size_error;
  const std::uintmax_t size = std::filesystem::file_size(fs_path, size_error);
  if (size_error) return boost::system::error_code(size_error);
  std::ifstream in(fs_path, std::ios::binary);
  std::vector<std::uint8_t> contents(static_cast<std::size_t>(size));
  if (!in || !in.read(reinterpret_cast<char*>(contents.data()),
                      static_cast<std::streamsize>(contents.size()))) {
    return boost::system::errc::make_error_code(boost::system::errc::io_error);
  }
  auto digest = transport::Blake3(contents);
  return std::string(digest.begin(), digest.end());
}

std::uint64_t NowUnixMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// This process's DaemonProcess identity (spec §4.3, §4.4).
boost::system::result<pb::DaemonProcess> BuildIdentity(const BackendEnvironment& environment,
                                                       std::uint64_t started_at_unix_ms) {
  auto exe_path = platform::CurrentExecutablePath();
  if (!exe_path) return exe_path.error();
  auto exe_hash = HashFile(*exe_path);
  if (!exe_hash) return exe_hash.error();

  pb::DaemonProcess identity;
  identity.set_pid(platform::CurrentProcessId());
  identity.set_exe_path(*exe_path);
  identity.set_exe_hash_algorithm("blake3");
  identity.set_exe_hash(*exe_hash);
  identity.set_started_at_unix_ms(started_at_unix_ms);
  identity.set_boot_id(platform::CurrentBootId());
  identity.mutable_ipc_endpoint()->set_namespace_id(environment.backend_namespace);
  identity.mutable_ipc_endpoint()->set_path(environment.backend_pipe);
  return identity;
}

// The framed "ready" EVENT for the broker that launched us.
boost::system::result<std::vector<std::uint8_t>> BuildReadyMessage(
    const pb::DaemonProcess& identity) {
  pb::Frame frame =
      transport::MakeEvent(broker::kBackendControlPayloadProtocol,
                           transport::SerializeDeterministic(identity), broker::kReadyRequestId);
  auto encoded = transport::EncodeFrame(frame);
  if (!encoded) return boost::system::errc::make_error_code(boost::system::errc::message_size);
  return std::move(*encoded);
}

// Errors that concern one incoming connection only (it went away before we
// accepted it); the listener itself is fine.
bool IsTransientAcceptError(const error_code& ec) {
  return ec == asio::error::connection_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::interrupted || ec == asio::error::try_again ||
         ec == asio::error::would_block ||
         ec == boost::system::errc::make_error_code(boost::system::errc::protocol_error) ||
         platform::IsDisconnect(ec);
}

// Channel errors after which the next message can still be read.
bool IsRejectedMessage(const error_code& ec) {
  return ec == platform::Error::kHandleCountMismatch ||
         ec == platform::Error::kControlDataTruncated;
}

// Our own listener at backend_pipe, or the one the broker bound for us.
boost::system::result<platform::LocalListener> BindOrAdoptListener(
    const asio::any_io_executor& executor, const BackendEnvironment& environment) {
  if (!environment.inherited_listener) {
    return platform::LocalListener::Bind(executor, environment.backend_pipe);
  }
  auto handle = platform::PlatformHandle::FromDecimalString(*environment.inherited_listener);
  if (!handle) return handle.error();
  return platform::LocalListener::AdoptListening(executor, std::move(*handle),
                                                 environment.backend_pipe);
}

}  // namespace

boost::system::result<BackendEnvironment> BackendEnvironment::FromProcessEnvironment() {
  BackendEnvironment environment;
  environment.service_name = EnvOrEmpty(broker::kEnvServiceName);
  environment.service_version = EnvOrEmpty(broker::kEnvServiceVersion);
  environment.backend_pipe = EnvOrEmpty(broker::kEnvBackendPipe);
  if (environment.service_name.empty() || environment.service_version.empty() ||
      environment.backend_pipe.empty()) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  environment.backend_namespace = EnvOrEmpty(broker::kEnvBackendNamespace);
  environment.instance = EnvOrEmpty(broker::kEnvInstance);
  environment.traceparent = EnvOrEmpty(broker::kEnvTraceparent);
  environment.tracestate = EnvOrEmpty(broker::kEnvTracestate);
  if (auto handle = platform::GetEnv(broker::kEnvControlHandle); handle && !handle->empty()) {
    environment.control_handle = std::move(*handle);
  }
  if (auto fd = platform::GetEnv(broker::kEnvInheritedListenerFd); fd && !fd->empty()) {
    environment.inherited_listener = std::move(*fd);
  }
  if (auto idle = platform::GetEnv(broker::kEnvIdleTimeoutSecs); idle && !idle->empty()) {
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(idle->data(), idle->data() + idle->size(), seconds);
    if (ec == std::errc() && end == idle->data() + idle->size() && seconds > 0) {
      environment.idle_timeout = std::chrono::seconds(seconds);
    }
  }
  return environment;
}

// The state behind a Backend: its listener, its control channel (closed
// when the backend was not launched by our broker) and the stop flag. Lives
// on one executor; Run() must have returned before it is destroyed.
class Backend::Impl {
 public:
  Impl(asio::any_io_executor executor, BackendEnvironment environment, ConnectionHandler handler,
       platform::LocalListener listener, platform::HandleChannel channel,
       pb::DaemonProcess identity, std::vector<std::uint8_t> ready_message)
      : executor_(std::move(executor)),
        environment_(std::move(environment)),
        handler_(std::move(handler)),
        listener_(std::move(listener)),
        channel_(std::move(channel)),
        identity_(std::move(identity)),
        ready_message_(std::move(ready_message)) {}

  const BackendEnvironment& environment() const { return environment_; }

  asio::awaitable<error_code> Run() {
    if (channel_.is_open() && !stopping_) {
      // A broker that is already gone does not stop us from serving.
      (void)co_await channel_.Send(ready_message_, {});
    }
    using namespace asio::experimental::awaitable_operators;
    // None of the loops throws; the accept and control loops end each other
    // (and the answer loop) when they finish.
    co_return co_await (AcceptLoop() && ControlLoop() && handoff_.AnswerBroker(channel_) &&
                        IdleLoop());
  }

  void Stop() {
    stopping_ = true;
    listener_.Close();
    channel_.Cancel();
    handoff_.Stop();
    idle_timer_.cancel();
  }

 private:
  asio::awaitable<error_code> AcceptLoop() {
    error_code result;
    asio::steady_timer backoff(executor_);
    while (!stopping_) {
      auto accepted = co_await listener_.Accept();
      if (accepted) {
        asio::co_spawn(executor_, ScreenThenServe(std::move(accepted->stream)), asio::detached);
        continue;
      }
      const error_code ec = accepted.error();
      if (stopping_) break;
      if (platform::IsResourceExhaustion(ec)) {
        backoff.expires_after(kExhaustionBackoff);
        (void)co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (IsTransientAcceptError(ec)) continue;
      result = ec;
      break;
    }
    // Also ends the control loop.
    Stop();
    co_return result;
  }

  asio::awaitable<void> ControlLoop() {
    if (!channel_.is_open()) co_return;
    while (!stopping_) {
      auto message = co_await channel_.Receive();
      if (stopping_) break;
      if (!message) {
        if (IsRejectedMessage(message.error())) continue;
        // EOF or a broken channel: the broker may have died. Keep serving.
        break;
      }
      auto decoded = transport::TryDecodeFrame(message->bytes);
      if (!decoded || !*decoded || (*decoded)->consumed != message->bytes.size()) continue;
      const pb::Frame& frame = (*decoded)->frame;
      if (!transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                       broker::kBackendControlPayloadProtocol)) {
        Stop();  // "stop"
        break;
      }
      if (frame.payload_protocol() == transport::kHandoffPayloadProtocol) {
        const bool busy = activity_->connections > 0;  // serving other clients
        auto stream = co_await handoff_.Accept(frame, std::move(message->handles), busy);
        if (stream) Serve(std::move(*stream));
        continue;
      }
      // Anything else is ignored; its handles close with `message`.
    }
  }

  // A connection on backend_pipe: a broker's identity probe (spec §4.5 (b))
  // is answered here and closed; anything else goes to the handler with
  // the bytes read to tell the two apart given back first.
  asio::awaitable<void> ScreenThenServe(platform::LocalStream stream) {
    Busy busy(activity_);  // a client waiting to be served counts as activity
    std::optional<std::vector<std::uint8_t>> seen = co_await ScreenForProbe(stream);
    if (seen) Serve(platform::PrependReadBytes(std::move(stream), std::move(*seen)));
  }

  // Reads as much of the first message as it takes to know whether it is
  // an identity probe: one byte when it is not a v1 frame, the header when
  // the frame is too large to be one, else the whole (small) frame. The
  // first read waits at the client's pace; the rest of a frame that has
  // begun must arrive within kProbeReadBudget, or the client gets its
  // connection with what arrived so far. nullopt: answered, or the peer
  // left.
  asio::awaitable<std::optional<std::vector<std::uint8_t>>> ScreenForProbe(
      platform::LocalStream& stream) {
    std::vector<std::uint8_t> seen(transport::kFrameHeaderBytes);
    auto first = co_await stream.ReadSome(asio::buffer(seen));
    if (!first) co_return std::nullopt;
    seen.resize(*first);
    if (seen[0] != transport::kFramingVersion) co_return seen;

    asio::steady_timer budget(executor_, kProbeReadBudget);
    budget.async_wait([&stream](error_code ec) {
      if (!ec) stream.Cancel();
    });
    auto read_more = [&](std::size_t want) -> asio::awaitable<bool> {
      const std::size_t had = seen.size();
      seen.resize(had + want);
      std::size_t got = 0;
      error_code ec = co_await platform::ReadExactly(stream, asio::buffer(seen.data() + had, want),
                                                     &got);
      seen.resize(had + got);
      co_return !ec;
    };
    if (seen.size() < transport::kFrameHeaderBytes &&
        !co_await read_more(transport::kFrameHeaderBytes - seen.size())) {
      co_return seen;
    }
    const std::uint32_t length = static_cast<std::uint32_t>(seen[1]) |
                                 static_cast<std::uint32_t>(seen[2]) << 8 |
                                 static_cast<std::uint32_t>(seen[3]) << 16 |
                                 static_cast<std::uint32_t>(seen[4]) << 24;
    if (length > kMaxProbeFrameBytes || !co_await read_more(length)) co_return seen;
    budget.cancel();

    pb::Frame frame;
    if (!frame.ParseFromArray(seen.data() + transport::kFrameHeaderBytes,
                              static_cast<int>(length)) ||
        frame.payload_protocol() != transport::kProbePayloadProtocol) {
      co_return seen;
    }
    if (!transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                     transport::kProbePayloadProtocol) &&
        frame.payload().size() == kProbeNonceBytes) {
      std::string answer = frame.payload() + transport::SerializeDeterministic(identity_);
      (void)co_await transport::WriteFrame(stream,
                                           transport::MakeResponseTo(frame, std::move(answer)));
    }
    stream.Close();  // a malformed probe gets no answer
    co_return std::nullopt;
  }

  // Watches for the idle timeout (see BackendEnvironment::idle_timeout).
  asio::awaitable<void> IdleLoop() {
    if (!environment_.idle_timeout) co_return;
    const auto timeout = *environment_.idle_timeout;
    bool asked = false;
    while (!stopping_) {
      const auto from =
          activity_->connections > 0 ? std::chrono::steady_clock::now() : activity_->last;
      idle_timer_.expires_at(from + timeout);
      (void)co_await idle_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;
      if (asked || activity_->connections > 0 ||
          std::chrono::steady_clock::now() - activity_->last < timeout) {
        continue;
      }
      if (!channel_.is_open()) {
        Stop();
        break;
      }
      auto idle = transport::EncodeFrame(transport::MakeEvent(
          broker::kBackendControlPayloadProtocol, std::string(), broker::kIdleRequestId));
      if (idle) asked = !co_await channel_.Send(*idle, {});
    }
  }

  // Runs the handler for one connection, detached: whatever it does (or
  // throws) does not reach the accept loop.
  void Serve(platform::LocalStream stream) {
    asio::awaitable<void> work;
    try {
      work = handler_(std::move(stream));
    } catch (...) {
      return;
    }
    // The handler may outlive us (connections are not ours to cut short):
    // it holds the counters, not `this`.
    asio::co_spawn(executor_, std::move(work),
                   [busy = std::make_shared<Busy>(activity_)](std::exception_ptr) {});
  }

  asio::any_io_executor executor_;
  BackendEnvironment environment_;
  ConnectionHandler handler_;
  platform::LocalListener listener_;
  platform::HandleChannel channel_;
  pb::DaemonProcess identity_;
  std::vector<std::uint8_t> ready_message_;
  HandoffAcceptor handoff_{environment_.service_name, executor_};
  bool stopping_ = false;
  struct Activity {
    std::uint64_t connections = 0;  // open client connections
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  };
  // Counts one connection for as long as it lives.
  struct Busy {
    explicit Busy(std::shared_ptr<Activity> a) : activity(std::move(a)) { ++activity->connections; }
    ~Busy() {
      --activity->connections;
      activity->last = std::chrono::steady_clock::now();
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    std::shared_ptr<Activity> activity;
  };
  std::shared_ptr<Activity> activity_ = std::make_shared<Activity>();
  asio::steady_timer idle_timer_{executor_};
};

Backend::Backend() noexcept = default;
Backend::Backend(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Backend::Backend(Backend&&) noexcept = default;
Backend& Backend::operator=(Backend&&) noexcept = default;
Backend::~Backend() = default;

boost::system::result<Backend> Backend::Create(asio::any_io_executor executor,
                                               BackendEnvironment environment,
                                               ConnectionHandler handler) {
  if (environment.backend_pipe.empty() || !handler) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  const std::uint64_t started_at_unix_ms = NowUnixMs();

  // The control channel first: its handle is ours to close whatever happens.
  platform::HandleChannel channel;
  std::vector<std::uint8_t> ready_message;
  if (environment.control_handle) {
    auto end = platform::PlatformHandle::FromDecimalString(*environment.control_handle);
    if (!end) return end.error();
    auto opened = platform::HandleChannel::Open(executor, std::move(*end));
    if (!opened) return opened.error();
    channel = std::move(*opened);
  }
  // Bound before anything slow (hashing our executable): a broker that
  // probes right after spawning finds the endpoint there, its connection
  // waiting in the backlog until Run() accepts.
  auto listener = BindOrAdoptListener(executor, environment);
  if (!listener) return listener.error();

  auto identity = BuildIdentity(environment, started_at_unix_ms);
  if (!identity) return identity.error();
  if (channel.is_open()) {
    auto message = BuildReadyMessage(*identity);
    if (!message) return message.error();
    ready_message = std::move(*message);
  }

  return Backend(std::make_unique<Impl>(std::move(executor), std::move(environment),
                                        std::move(handler), std::move(*listener),
                                        std::move(channel), std::move(*identity),
                                        std::move(ready_message)));
}

asio::awaitable<error_code> Backend::Run() {
  if (!impl_) {
    co_return boost::system::errc::make_error_code(boost::system::errc::bad_file_descriptor);
  }
  co_return co_await impl_->Run();
}

void Backend::Stop() {
  if (impl_) impl_->Stop();
}

const BackendEnvironment& Backend::environment() const {
  static const BackendEnvironment kEmpty;
  return impl_ ? impl_->environment() : kEmpty;
}

}  // namespace rp::backend
