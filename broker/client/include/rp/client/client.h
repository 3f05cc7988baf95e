// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "broker_v1_envelope.pb.h"
#include "rp/platform/local_stream.h"

namespace rp::client {

namespace pb = ::running_process::broker::v1;

// How a connection reached its backend.
enum class Route {
  kHelloSkip,         // a cached backend_pipe answered; no broker round trip
  kBrokerNegotiated,  // Hello, Negotiated, then a new connection to backend_pipe
  kHandlePassed,      // the broker handed the Hello connection itself to the backend
};
const char* RouteName(Route route);

struct ConnectOptions {
  // Broker endpoint; empty: this user's shared broker (spec §4.6).
  std::string broker_endpoint;
  // Whole Hello round trip bound; nullopt: RUNNING_PROCESS_BROKER_CLIENT_TIMEOUT_MS
  // (positive integer ms), else 30 s.
  std::optional<std::chrono::milliseconds> timeout;
  std::string client_version;
  std::uint64_t client_keepalive_secs = 0;
  // Try a cached backend_pipe for (endpoint, service, version) first.
  bool use_hello_skip_cache = true;
  // Advertise CAP_HANDLE_PASSING and keep the Hello connection when the
  // broker hands it to the backend (route kHandlePassed). Off: the client
  // always reconnects to backend_pipe.
  bool accept_handoff = true;
  // How long to wait for the backend's handoff-ready EVENT on the Hello
  // connection before falling back to backend_pipe.
  std::chrono::milliseconds handoff_ready_timeout{2000};
  // Bytes the backend should read first (typically the first request).
  // Connect delivers them exactly once, as early as the route allows: up to
  // kMaxEarlyDataBytes travel on the Hello connection right behind the
  // Hello when a handoff may follow (the broker reads only the Hello, so
  // the backend finds them waiting after the handoff; no round trip is
  // spent on them); on every other route, or when the handoff falls back,
  // they are written to the backend connection as soon as it is open.
  // Two caveats, both a second delivery: a handoff-ready EVENT that
  // arrives only after handoff_ready_timeout means the backend may also
  // read the copy sent with the Hello; and a backend that took the
  // connection and read them, then died before its EVENT left (a busy
  // backend holds the EVENT back to join its first reply), makes the
  // client fall back and send them again. Keep requests sent this way
  // idempotent.
  std::string early_data;
};

// Early data larger than this waits for the route to be established.
inline constexpr std::size_t kMaxEarlyDataBytes = 16 * 1024;

// A live connection to a backend.
struct Connection {
  platform::LocalStream stream;
  Route route = Route::kBrokerNegotiated;
  std::string backend_pipe;
  std::uint64_t connection_id = 0;  // 0 on the Hello-skip route
  std::string daemon_version;
  std::chrono::microseconds hello_time{0};    // broker round trip (0 on Hello-skip)
  std::chrono::microseconds connect_time{0};  // reaching the backend
};

// The broker said no.
struct Refusal {
  pb::ErrorCode code = pb::ERROR_CODE_UNSPECIFIED;
  std::string reason;
  std::uint64_t retry_after_ms = 0;
};

// Why there is no connection.
struct ConnectError {
  enum class Kind {
    kDisabled,     // RUNNING_PROCESS_DISABLE=1: use your direct path
    kBadConfig,    // an environment variable holds an invalid value
    kRefused,      // `refusal` holds the broker's answer
    kUnreachable,  // no broker (or backend) at the endpoint; `io` has the error
    kTimeout,      // the round trip exceeded its bound
    kProtocol,     // the broker answered with something that is not a v1 HelloReply
  };
  Kind kind = Kind::kUnreachable;
  Refusal refusal;
  boost::system::error_code io;
  std::string detail;
  std::string message() const;
};

template <class T>
using Result = std::variant<T, ConnectError>;

// Connects to `service` at `version` through the broker (spec §3.16): the
// Hello-skip cache first, then Hello. On Negotiated with a handoff token the
// client waits (bounded) on the same connection for the backend's
// handoff-ready EVENT and keeps that connection; on anything else it
// silently connects to backend_pipe (whose address is remembered for
// Hello-skip). A failed handoff is never an error. Honours
// RUNNING_PROCESS_DISABLE (unset: on; exactly "1": kDisabled; anything
// else: kBadConfig). Runs on the caller's executor; never throws.
boost::asio::awaitable<Result<Connection>> Connect(std::string service, std::string version,
                                                   ConnectOptions options = {});

// Sends one Hello and returns the broker's reply without connecting to the
// backend (tools and tests). `hello` is sent as given.
boost::asio::awaitable<Result<pb::HelloReply>> SendHello(const std::string& broker_endpoint,
                                                         const pb::Hello& hello,
                                                         std::chrono::milliseconds timeout);

// The Hello this client sends for `service`/`version` (min=max=1,
// CAP_HANDLE_PASSING unless options.accept_handoff is off, request_id
// "hello", our pid, client_lib_name "rp-cpp").
pb::Hello MakeHello(const std::string& service, const std::string& version,
                    const ConnectOptions& options);

// Forgets every cached backend_pipe (tests).
void ClearHelloSkipCache();

}  // namespace rp::client
