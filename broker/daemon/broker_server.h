// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backend_supervisor.h"
#include "broker_config.h"
#include "hello_router.h"
#include "rp/platform/local_listener.h"
#include "rp/platform/system.h"
#include "broker_metrics.h"
#include "event_log.h"

namespace rp::broker {

// BrokerServer is the running daemon: one listener on the broker endpoint
// (a live broker already there makes Start fail with kAddressInUse; a
// stale socket is replaced) and one accept loop, which answers a Hello that
// is all there on the spot (ServeNow) and gives any other connection a
// coroutine of its own (Serve). Each connection carries one request and
// one reply, bounded by the Hello deadline from accept; peers of another user are dropped
// before a byte is read. Nothing a peer does (silence, half a frame,
// garbage, early close) can stop or stall the accept loop. On descriptor
// exhaustion the broker is demoted: Hellos get ERROR_FD_PRESSURE until
// three accepts in a row succeed, admin requests keep working; a spare
// descriptor held in reserve lets it accept one connection at a time to
// say so even when none is left.
// Single-threaded: everything runs on the io_context it is given.
class BrokerServer {
 public:
  BrokerServer(boost::asio::io_context& io, BrokerConfig config);
  ~BrokerServer();

  // Binds the endpoint and starts accepting.
  boost::system::error_code Start();
  // Drains and stops, within `drain_deadline` (0: the configured one):
  // Hellos that arrive meanwhile are answered ERROR_SHUTTING_DOWN, Hellos
  // already being routed finish, then the backends are asked to stop over
  // their control channels and killed if still there at the deadline;
  // then the listener closes and on_stopped runs.
  void Stop(std::chrono::milliseconds drain_deadline = std::chrono::milliseconds(0));

  const BrokerConfig& config() const { return config_; }
  // Called once, when the shutdown has finished.
  void set_on_stopped(std::function<void()> callback) { on_stopped_ = std::move(callback); }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  // A Hello HelloRouter::RouteNow admitted, with the frame it came in.
  struct AdmittedHello {
    pb::Frame request;
    HelloRouter::Admitted admitted;
  };
  // `deadline` bounds reading the request and writing the reply. With
  // `admitted`, the request was read and admitted already (ServeNow): the
  // router continues with it.
  boost::asio::awaitable<void> Serve(platform::AcceptedConnection connection,
                                     std::chrono::milliseconds deadline,
                                     std::optional<AdmittedHello> admitted = std::nullopt);
  // The accept loop's first try (serve_now.cc): when the whole Hello is
  // already there and its backend runs, routes it and writes the reply (or
  // hands the connection over) on the spot, without a coroutine of its
  // own. Returns the connection, with whatever it read put back, when
  // Serve must take it from the start; a Hello that needs a launch goes to
  // Serve as admitted.
  std::optional<platform::AcceptedConnection> ServeNow(platform::AcceptedConnection connection);
  // ServeNow's endings when the socket cannot take the reply at once, and
  // for a handoff: they finish the reply and count the Hello.
  boost::asio::awaitable<void> FinishReply(platform::LocalStream stream,
                                           std::vector<std::uint8_t> framed, std::size_t written,
                                           HelloRouter::Routed routed,
                                           std::chrono::steady_clock::time_point accepted);
  boost::asio::awaitable<void> HandOver(platform::LocalStream stream,
                                        std::vector<std::uint8_t> framed,
                                        HelloRouter::Routed routed,
                                        std::chrono::steady_clock::time_point accepted);
  static pb::Frame ReplyFrame(const pb::Frame& request, const pb::HelloReply& reply);
  // A connection accepted with the reserve descriptor under fd pressure:
  // served with a short deadline, then the reserve is taken back.
  boost::asio::awaitable<void> ServeUnderPressure(platform::AcceptedConnection connection);
  std::optional<pb::Frame> AnswerAdmin(const pb::Frame& request);
  boost::asio::awaitable<void> Shutdown(std::chrono::milliseconds drain_deadline);
  // Stops the broker once it has had no backend and no client for
  // config.idle_exit.
  boost::asio::awaitable<void> ExitWhenIdle();

  // The metrics verb's text, from the counters and the live gauges.
  std::string RenderMetrics();
  // Counts one answered Hello (not admin requests) for the metrics.
  void RecordHello(const pb::HelloReply& reply, const std::string& service,
                   const std::string& version, std::chrono::steady_clock::time_point accepted);

  boost::asio::io_context& io_;
  BrokerConfig config_;
  BrokerMetrics metrics_;
  EventLog events_;
  BackendSupervisor supervisor_;
  HandoffCoordinator handoff_;
  HelloRouter router_;
  platform::LocalListener listener_;
  platform::DescriptorReserve reserve_;
  std::function<void()> on_stopped_;
  bool stopping_ = false;
  bool refuse_hellos_ = false;  // a shutdown verb was answered; Stop() follows
  bool fd_pressure_ = false;
  int accepts_since_pressure_ = 0;
  std::uint64_t open_connections_ = 0;
  std::uint64_t hellos_routing_ = 0;  // Hellos inside the router (spawns included)
  std::uint64_t dropped_peers_ = 0;
};

}  // namespace rp::broker
