// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// The client side of the v1 broker (spec §3.16): Hello-skip cache, the Hello
// round trip bounded by one deadline, and the connection to backend_pipe.

#include "rp/client/client.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "rp/broker/contract.h"
#include "rp/platform/child_process.h"
#include "rp/transport/endpoint_names.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"

namespace rp::client {
namespace {

constexpr std::size_t kHandoffTokenBytes = 16;

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr char kClientLibName[] = "rp-cpp";
constexpr char kClientLibVersion[] = "0.1.0";
constexpr char kHelloRequestId[] = "hello";
constexpr std::uint64_t kHelloFrameRequestId = 1;
// A cached backend either answers at once or is gone; never wait long on it.
constexpr std::chrono::milliseconds kHelloSkipConnectTimeout{500};
// After the deadline, pending stream operations are cancelled again at this
// interval until the exchange gives up (an operation started just after a
// cancel would otherwise wait for the peer).
constexpr std::chrono::milliseconds kRecancelInterval{20};

// ---- Hello-skip cache -------------------------------------------------------

using CacheKey = std::tuple<std::string, std::string, std::string>;  // endpoint, service, version

struct CachedBackend {
  std::string backend_pipe;
  std::string daemon_version;
};

struct HelloSkipCache {
  std::mutex mutex;
  std::map<CacheKey, CachedBackend> entries;
};

HelloSkipCache& Cache() {
  static HelloSkipCache* cache = new HelloSkipCache();  // never destroyed: used from any thread
  return *cache;
}

std::optional<CachedBackend> CacheLookup(const CacheKey& key) {
  HelloSkipCache& cache = Cache();
  std::lock_guard lock(cache.mutex);
  auto it = cache.entries.find(key);
  if (it == cache.entries.end()) return std::nullopt;
  return it->second;
}

void CacheStore(const CacheKey& key, CachedBackend value) {
  HelloSkipCache& cache = Cache();
  std::lock_guard lock(cache.mutex);
  cache.entries[key] = std::move(value);
}

// Drops the entry only if it still names `backend_pipe` (another caller may
// have refreshed it meanwhile).
void CacheForget(const CacheKey& key, const std::string& backend_pipe) {
  HelloSkipCache& cache = Cache();
  std::lock_guard lock(cache.mutex);
  auto it = cache.entries.find(key);
  if (it != cache.entries.end() && it->second.backend_pipe == backend_pipe) {
    cache.entries.erase(it);
  }
}

// ---- Errors -----------------------------------------------------------------

ConnectError MakeError(ConnectError::Kind kind, std::string detail, error_code io = {}) {
  ConnectError error;
  error.kind = kind;
  error.detail = std::move(detail);
  error.io = io;
  return error;
}

// A frame_io failure while talking to the broker. EOF before the first byte
// and I/O errors mean the broker is not (or no longer) there; anything that
// arrived but is not a frame is a protocol error.
ConnectError FrameFailure(const transport::FrameError& error, const std::string& what) {
  using Kind = transport::FrameError::Kind;
  if (error.kind == Kind::kIo) {
    return MakeError(ConnectError::Kind::kUnreachable, what, error.io);
  }
  if (error.kind == Kind::kUnexpectedEof &&
      error.eof_at == transport::FrameError::EofAt::kFramingByte) {
    return MakeError(ConnectError::Kind::kUnreachable,
                     what + ": the broker closed the connection without replying",
                     asio::error::eof);
  }
  return MakeError(ConnectError::Kind::kProtocol, what + ": " + error.message());
}

// ---- Environment ------------------------------------------------------------

// RUNNING_PROCESS_DISABLE: unset, exactly "1", or a configuration error.
std::optional<ConnectError> CheckDisabled() {
  std::optional<std::string> value = platform::GetEnv(broker::kEnvDisable);
  if (!value) return std::nullopt;
  if (*value == "1") {
    return MakeError(ConnectError::Kind::kDisabled,
                     std::string(broker::kEnvDisable) + "=1: use the direct path");
  }
  return MakeError(ConnectError::Kind::kBadConfig, std::string(broker::kEnvDisable) +
                                                       " must be unset or \"1\", got \"" +
                                                       *value + "\"");
}

// A positive integer number of milliseconds, else nullopt.
std::optional<std::chrono::milliseconds> ParsePositiveMs(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value == 0) return std::nullopt;
  // Clamp absurd values instead of overflowing the clock arithmetic.
  constexpr std::uint64_t kMaxMs = 24ull * 3600 * 1000 * 365;
  return std::chrono::milliseconds(std::min(value, kMaxMs));
}

std::chrono::milliseconds DefaultTimeout() {
  if (auto text = platform::GetEnv(broker::kEnvClientTimeoutMs)) {
    if (auto ms = ParsePositiveMs(*text)) return *ms;
  }
  return std::chrono::milliseconds(broker::kDefaultTimeoutMs);
}

std::chrono::milliseconds EffectiveTimeout(const std::optional<std::chrono::milliseconds>& given) {
  if (given && given->count() > 0) return *given;
  return DefaultTimeout();
}

std::chrono::microseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

// ---- The Hello exchange -----------------------------------------------------

// Shared between the exchange and its deadline timer, so a timer completion
// that runs after the exchange returned touches nothing that is gone.
struct HelloAttempt {
  explicit HelloAttempt(asio::any_io_executor executor) : timer(std::move(executor)) {}
  platform::LocalStream stream;
  asio::steady_timer timer;
  bool done = false;
  bool timed_out = false;
};

// Cancels the attempt's stream operations at `when`, and again every
// kRecancelInterval until the exchange is done.
void ArmDeadline(const std::shared_ptr<HelloAttempt>& attempt, Clock::time_point when) {
  attempt->timer.expires_at(when);
  attempt->timer.async_wait([attempt](error_code ec) {
    if (ec || attempt->done) return;
    attempt->timed_out = true;
    attempt->stream.Cancel();
    ArmDeadline(attempt, Clock::now() + kRecancelInterval);
  });
}

// Writes the Hello frame, with `early_data` right behind it in the same
// write, and reads and checks the reply. `reader` keeps what arrived after
// the reply (a handoff's ready EVENT, perhaps the backend's first bytes).
asio::awaitable<Result<pb::HelloReply>> ExchangeHello(platform::LocalStream& stream,
                                                      const pb::Hello& hello,
                                                      std::string_view early_data,
                                                      transport::BufferedFrameReader& reader) {
  pb::Frame request = transport::MakeRequest(
      transport::kControlPayloadProtocol, transport::SerializeDeterministic(hello),
      kHelloFrameRequestId);
  auto framed = transport::EncodeFrame(request);
  if (!framed) co_return FrameFailure(framed.error(), "sending Hello");
  framed->insert(framed->end(), early_data.begin(), early_data.end());
  if (error_code ec = co_await platform::WriteAll(stream, asio::buffer(*framed))) {
    co_return FrameFailure(transport::FrameError::Io(ec), "sending Hello");
  }

  auto reply = co_await reader.Read(stream, transport::kMaxFrameBytes);
  if (!reply) co_return FrameFailure(reply.error(), "reading the HelloReply");
  if (auto violation = transport::ValidateEnvelope(*reply, pb::FRAME_KIND_RESPONSE,
                                                   transport::kControlPayloadProtocol)) {
    co_return MakeError(ConnectError::Kind::kProtocol,
                        "unexpected broker response frame: " + violation->message());
  }
  pb::HelloReply hello_reply;
  if (!hello_reply.ParseFromString(reply->payload())) {
    co_return MakeError(ConnectError::Kind::kProtocol,
                        "the broker's reply payload is not a HelloReply");
  }
  if (hello_reply.result_case() == pb::HelloReply::RESULT_NOT_SET) {
    co_return MakeError(ConnectError::Kind::kProtocol,
                        "the HelloReply holds neither Negotiated nor Refused");
  }
  co_return hello_reply;
}

Refusal ToRefusal(const pb::Refused& refused) {
  Refusal refusal;
  int code = static_cast<int>(refused.code());
  refusal.code = pb::ErrorCode_IsValid(code) ? static_cast<pb::ErrorCode>(code)
                                             : pb::ERROR_CODE_UNSPECIFIED;
  refusal.reason = refused.reason();
  refusal.retry_after_ms = refused.retry_after_ms();
  return refusal;
}

std::string ResolveBrokerEndpoint(const ConnectOptions& options, ConnectError* error) {
  if (!options.broker_endpoint.empty()) return options.broker_endpoint;
  auto address = transport::CurrentSharedBrokerAddress();
  if (!address) {
    *error = MakeError(ConnectError::Kind::kUnreachable,
                       "cannot derive this user's shared broker address: " +
                           address.error().message());
    return {};
  }
  return *address;
}

// Writes the caller's early data (if any) to a backend connection.
asio::awaitable<error_code> WriteEarlyData(platform::LocalStream& stream, const std::string& data) {
  if (data.empty()) co_return error_code();
  co_return co_await platform::WriteAll(stream, asio::buffer(data));
}

// Connects to the cached backend_pipe, if any; a failure forgets it.
asio::awaitable<std::optional<Connection>> TryHelloSkip(asio::any_io_executor executor,
                                                        const CacheKey& key,
                                                        std::chrono::milliseconds timeout) {
  std::optional<CachedBackend> cached = CacheLookup(key);
  if (!cached) co_return std::nullopt;
  Clock::time_point start = Clock::now();
  auto stream = co_await platform::LocalStream::Connect(
      executor, cached->backend_pipe, std::min(timeout, kHelloSkipConnectTimeout));
  if (!stream) {
    CacheForget(key, cached->backend_pipe);
    co_return std::nullopt;
  }
  Connection connection;
  connection.stream = std::move(*stream);
  connection.route = Route::kHelloSkip;
  connection.backend_pipe = std::move(cached->backend_pipe);
  connection.daemon_version = std::move(cached->daemon_version);
  connection.connect_time = Since(start);
  co_return connection;
}

}  // namespace

const char* RouteName(Route route) {
  switch (route) {
    case Route::kHelloSkip:
      return "hello-skip";
    case Route::kBrokerNegotiated:
      return "broker-negotiated";
    case Route::kHandlePassed:
      return "handle-passed";
  }
  return "unknown";
}

std::string ConnectError::message() const {
  auto with_io = [this](std::string text) {
    if (io) text += ": " + io.message();
    return text;
  };
  switch (kind) {
    case Kind::kDisabled:
      return "broker disabled (" + detail + ")";
    case Kind::kBadConfig:
      return "invalid configuration: " + detail;
    case Kind::kRefused: {
      const std::string& name = pb::ErrorCode_Name(refusal.code);
      return "refused: " + (name.empty() ? std::string("ERROR_CODE_UNSPECIFIED") : name) + " (" +
             std::to_string(static_cast<int>(refusal.code)) + "): " + refusal.reason +
             " (retry after " + std::to_string(refusal.retry_after_ms) + " ms)";
    }
    case Kind::kUnreachable:
      return with_io("unreachable: " + detail);
    case Kind::kTimeout:
      return "timed out: " + detail;
    case Kind::kProtocol:
      return "protocol error: " + detail;
  }
  return detail;
}

pb::Hello MakeHello(const std::string& service, const std::string& version,
                    const ConnectOptions& options) {
  pb::Hello hello;
  hello.set_client_min_protocol(transport::kProtocolVersion);
  hello.set_client_max_protocol(transport::kProtocolVersion);
  hello.set_service_name(service);
  hello.set_wanted_version(version);
  hello.set_client_version(options.client_version);
  hello.set_client_capabilities(options.accept_handoff ? transport::kCapHandlePassing : 0);
  hello.set_request_id(kHelloRequestId);
  hello.set_connection_id(0);
  hello.set_peer_pid(platform::CurrentProcessId());
  hello.set_client_lib_name(kClientLibName);
  hello.set_client_lib_version(kClientLibVersion);
  hello.set_client_keepalive_secs(options.client_keepalive_secs);
  return hello;
}

void ClearHelloSkipCache() {
  HelloSkipCache& cache = Cache();
  std::lock_guard lock(cache.mutex);
  cache.entries.clear();
}

namespace {

// The Hello round trip on a new broker connection. The connection is
// returned open (a handoff may continue on it).
struct OpenedHello {
  Result<pb::HelloReply> reply;
  platform::LocalStream stream;
  transport::BufferedFrameReader reader;  // bytes read past the reply
};

asio::awaitable<OpenedHello> OpenHello(const std::string& broker_endpoint, const pb::Hello& hello,
                                       std::chrono::milliseconds timeout,
                                       std::string_view early_data = {}) {
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  if (timeout.count() <= 0) timeout = DefaultTimeout();
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string timeout_detail =
      "no HelloReply from " + broker_endpoint + " within " + std::to_string(timeout.count()) +
      " ms";

  auto stream = co_await platform::LocalStream::Connect(executor, broker_endpoint, timeout);
  if (!stream) {
    if (stream.error() == asio::error::timed_out) {
      co_return OpenedHello{MakeError(ConnectError::Kind::kTimeout, timeout_detail), {}, {}};
    }
    co_return OpenedHello{MakeError(ConnectError::Kind::kUnreachable,
                                    "no broker at " + broker_endpoint, stream.error()),
                          {}, {}};
  }

  auto attempt = std::make_shared<HelloAttempt>(executor);
  attempt->stream = std::move(*stream);
  ArmDeadline(attempt, deadline);
  transport::BufferedFrameReader reader;
  Result<pb::HelloReply> reply =
      co_await ExchangeHello(attempt->stream, hello, early_data, reader);
  attempt->done = true;
  attempt->timer.cancel();
  // A reply that arrived wins over a deadline that fired meanwhile.
  if (attempt->timed_out && std::holds_alternative<ConnectError>(reply)) {
    reply = MakeError(ConnectError::Kind::kTimeout, timeout_detail);
  }
  co_return OpenedHello{std::move(reply), std::move(attempt->stream), std::move(reader)};
}

// Waits for the handoff-ready EVENT (spec §5.7) on the Hello connection:
// EVENT, 0xD0FF, encoding NONE, a HandoffAck with our token and
// accepted=true. False on anything else, including the deadline.
asio::awaitable<bool> AwaitHandoffReady(platform::LocalStream& stream,
                                        transport::BufferedFrameReader& reader,
                                        const std::string& token,
                                        std::chrono::milliseconds timeout) {
  auto attempt = std::make_shared<HelloAttempt>(co_await asio::this_coro::executor);
  attempt->stream = std::move(stream);
  ArmDeadline(attempt, Clock::now() + timeout);
  auto frame = co_await reader.Read(attempt->stream, transport::kMaxFrameBytes);
  attempt->done = true;
  attempt->timer.cancel();
  stream = std::move(attempt->stream);
  if (!frame || attempt->timed_out) co_return false;
  if (transport::ValidateEnvelope(*frame, pb::FRAME_KIND_EVENT,
                                  transport::kHandoffPayloadProtocol)) {
    co_return false;
  }
  pb::HandoffAck ack;
  co_return ack.ParseFromString(frame->payload()) && ack.accepted() && ack.token() == token;
}

// A negotiated connection, remembered for Hello-skip.
Connection Connected(const CacheKey& key, const pb::Negotiated& negotiated,
                     platform::LocalStream stream, Route route,
                     std::chrono::microseconds hello_time, std::chrono::microseconds connect_time) {
  Connection connection;
  connection.stream = std::move(stream);
  connection.route = route;
  connection.backend_pipe = negotiated.backend_pipe();
  connection.connection_id = negotiated.connection_id();
  connection.daemon_version = negotiated.daemon_version();
  connection.hello_time = hello_time;
  connection.connect_time = connect_time;
  CacheStore(key, CachedBackend{connection.backend_pipe, connection.daemon_version});
  return connection;
}

}  // namespace

asio::awaitable<Result<pb::HelloReply>> SendHello(const std::string& broker_endpoint,
                                                  const pb::Hello& hello,
                                                  std::chrono::milliseconds timeout) {
  OpenedHello opened = co_await OpenHello(broker_endpoint, hello, timeout);
  opened.stream.Close();
  co_return std::move(opened.reply);
}

asio::awaitable<Result<Connection>> Connect(std::string service, std::string version,
                                            ConnectOptions options) {
  if (std::optional<ConnectError> disabled = CheckDisabled()) co_return *disabled;
  asio::any_io_executor executor = co_await asio::this_coro::executor;

  ConnectError endpoint_error;
  const std::string endpoint = ResolveBrokerEndpoint(options, &endpoint_error);
  if (endpoint.empty()) co_return endpoint_error;
  const std::chrono::milliseconds timeout = EffectiveTimeout(options.timeout);
  const CacheKey key{endpoint, service, version};

  if (options.use_hello_skip_cache) {
    if (auto skipped = co_await TryHelloSkip(executor, key, timeout)) {
      if (!co_await WriteEarlyData(skipped->stream, options.early_data)) {
        co_return std::move(*skipped);
      }
      CacheForget(key, skipped->backend_pipe);  // gone already: ask the broker
    }
  }

  // Early data rides behind the Hello only when the broker may hand this
  // very connection to the backend; otherwise it would be thrown away.
  const bool early_with_hello = options.accept_handoff && !options.early_data.empty() &&
                                options.early_data.size() <= kMaxEarlyDataBytes;
  Clock::time_point hello_start = Clock::now();
  OpenedHello opened =
      co_await OpenHello(endpoint, MakeHello(service, version, options), timeout,
                         early_with_hello ? std::string_view(options.early_data) : std::string_view());
  Result<pb::HelloReply>& reply = opened.reply;
  std::chrono::microseconds hello_time = Since(hello_start);
  if (auto* error = std::get_if<ConnectError>(&reply)) co_return std::move(*error);
  pb::HelloReply& hello_reply = std::get<pb::HelloReply>(reply);
  if (hello_reply.has_refused()) {
    ConnectError error = MakeError(ConnectError::Kind::kRefused, "the broker refused the Hello");
    error.refusal = ToRefusal(hello_reply.refused());
    co_return error;
  }

  const pb::Negotiated& negotiated = hello_reply.negotiated();
  if (negotiated.backend_pipe().empty()) {
    co_return MakeError(ConnectError::Kind::kProtocol, "Negotiated carries an empty backend_pipe");
  }
  Clock::time_point connect_start = Clock::now();
  if (options.accept_handoff &&
      (negotiated.server_capabilities() & transport::kCapHandlePassing) != 0 &&
      negotiated.handle_passed_token().size() == kHandoffTokenBytes &&
      co_await AwaitHandoffReady(opened.stream, opened.reader, negotiated.handle_passed_token(),
                                 options.handoff_ready_timeout)) {
    // What the backend sent right after the EVENT is the caller's.
    opened.stream = platform::PrependReadBytes(std::move(opened.stream),
                                               opened.reader.TakeLeftover());
    if (!early_with_hello) {
      if (error_code ec = co_await WriteEarlyData(opened.stream, options.early_data)) {
        co_return MakeError(ConnectError::Kind::kUnreachable,
                            "the backend closed the handed-off connection", ec);
      }
    }
    co_return Connected(key, negotiated, std::move(opened.stream), Route::kHandlePassed,
                        hello_time, Since(connect_start));
  }
  opened.stream.Close();  // no handoff (or it failed): reconnect, silently
  auto stream =
      co_await platform::LocalStream::Connect(executor, negotiated.backend_pipe(), timeout);
  if (!stream) {
    if (stream.error() == asio::error::timed_out) {
      co_return MakeError(ConnectError::Kind::kTimeout,
                          "backend " + negotiated.backend_pipe() + " did not accept within " +
                              std::to_string(timeout.count()) + " ms");
    }
    co_return MakeError(ConnectError::Kind::kUnreachable,
                        "backend " + negotiated.backend_pipe() + " named by the broker",
                        stream.error());
  }

  if (error_code ec = co_await WriteEarlyData(*stream, options.early_data)) {
    co_return MakeError(ConnectError::Kind::kUnreachable,
                        "backend " + negotiated.backend_pipe() + " closed the connection", ec);
  }
  co_return Connected(key, negotiated, std::move(*stream), Route::kBrokerNegotiated, hello_time,
                      Since(connect_start));
}

}  // namespace rp::client
