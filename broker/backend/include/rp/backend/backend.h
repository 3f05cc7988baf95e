// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/local_stream.h"

namespace rp::backend {

// What the broker told a launched backend through its environment (spec
// §4.3 plus our control channel handle).
struct BackendEnvironment {
  std::string service_name;
  std::string service_version;
  std::string backend_pipe;       // the endpoint to bind and serve
  std::string backend_namespace;  // instance id
  std::string instance;
  std::string traceparent;
  std::string tracestate;
  std::optional<std::string> control_handle;  // decimal; absent when not launched by our broker
  // Decimal fd of a listener already bound at backend_pipe by the launching
  // broker (the Rust broker's broker-owned bind); absent: bind it ourselves.
  std::optional<std::string> inherited_listener;
  // With a broker on the control channel: after this long without any
  // connection the backend asks the broker to retire it (which then sends
  // "stop"); without one it stops by itself. Absent: never.
  std::optional<std::chrono::seconds> idle_timeout;

  // Reads the variables; fails (invalid_argument) when a required one
  // (service name, version, backend pipe) is missing.
  static boost::system::result<BackendEnvironment> FromProcessEnvironment();
};

// Called once per client connection, on the backend's executor. The
// coroutine owns the stream; the backend serves other connections meanwhile.
using ConnectionHandler = std::function<boost::asio::awaitable<void>(platform::LocalStream)>;

// Backend is what a service links to be launched by the broker: it binds
// `backend_pipe`, opens the control channel, reports ready (with its
// DaemonProcess identity) once the listener is bound, and serves every
// accepted connection with the handler. It stops when Stop() is called or
// the broker asks it to over the control channel. If the broker goes away
// the backend keeps serving its clients. All on one executor.
//
// A connection on backend_pipe reaches the handler once its first bytes
// have arrived: a broker's endpoint identity probe (0xB232, spec §4.5) is
// told apart that way and answered by the backend itself with its
// DaemonProcess; the handler reads the first bytes as sent. As with the
// reference SDK, clients speak first on backend_pipe. Handed-off
// connections go to the handler at once.
class Backend {
 public:
  class Impl;

  Backend() noexcept;
  explicit Backend(std::unique_ptr<Impl> impl) noexcept;
  Backend(Backend&&) noexcept;
  Backend& operator=(Backend&&) noexcept;
  ~Backend();

  // Binds the listener and opens the control channel (if any). Does not
  // report ready yet.
  static boost::system::result<Backend> Create(boost::asio::any_io_executor executor,
                                               BackendEnvironment environment,
                                               ConnectionHandler handler);

  // Reports ready, then accepts until stopped. Returns the reason it stopped
  // (empty error code for a requested stop).
  boost::asio::awaitable<boost::system::error_code> Run();
  void Stop();

  const BackendEnvironment& environment() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rp::backend
