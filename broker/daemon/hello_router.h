// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/awaitable.hpp>

#include "backend_supervisor.h"
#include "handoff_coordinator.h"
#include "broker_config.h"
#include "broker_v1_envelope.pb.h"
#include "rp/broker/rate_limits.h"
#include "rp/broker/service_definitions.h"
#include "rp/platform/peer_identity.h"

namespace rp::broker {

// Counters the router keeps (status, metrics and tests read them).
struct HelloStats {
  std::uint64_t negotiated = 0;
  std::uint64_t refused = 0;
};

// HelloRouter answers one decoded Hello frame (spec §3.1) with the broker's
// long-lived state: envelope and payload, shape checks B1-B6, the per-peer
// rate limit, the service definition (re-checked on disk every time),
// version policy, instance, then a backend from the supervisor (launched on
// demand). Negotiated carries protocol 1, the backend's version as
// daemon_version, its backend_pipe and a connection id unique and
// increasing across the broker's life. When the client can take a handed-off
// connection and the policy allows, Negotiated also carries bit 0 and a
// token, and the caller hands the connection over after writing it. Runs on
// the broker's executor.
class HelloRouter {
 public:
  HelloRouter(const BrokerConfig& config, BackendSupervisor& supervisor,
              HandoffCoordinator& handoff);

  struct Routed {
    pb::HelloReply reply;
    std::optional<HandoffPlan> handoff;  // set: hand the connection over after replying
    std::string service;  // from the Hello, once it decoded (metrics labels)
    std::string version;
  };
  boost::asio::awaitable<Routed> Route(const pb::Frame& frame, const platform::PeerIdentity& peer,
                                       bool fd_pressure);

  // A Hello that passed every check and needs a backend that is not running
  // yet (a launch, or one in flight): Continue() waits for it.
  struct Admitted {
    pb::Hello hello;
    LaunchRequest request;
  };
  // Route() up to the point where it would wait: the answer, when no
  // backend has to start first (the usual case), else the admitted Hello.
  std::variant<Routed, Admitted> RouteNow(const pb::Frame& frame,
                                          const platform::PeerIdentity& peer, bool fd_pressure);
  boost::asio::awaitable<Routed> Continue(Admitted admitted, bool fd_pressure);

  const HelloStats& stats() const { return stats_; }
  // Told whenever a service definition is read from disk: first time, or
  // changed since.
  void set_definition_observer(ServiceDefinitionStore::ReloadObserver observer) {
    store_.set_reload_observer(std::move(observer));
  }

 private:
  // The checks before a backend is needed: a refusal, or what to acquire.
  std::variant<pb::HelloReply, LaunchRequest> Admit(const pb::Frame& frame, const pb::Hello& hello,
                                                    const platform::PeerIdentity& peer);
  // Negotiated for `hello` on `backend`, with a handoff plan when allowed.
  Routed Negotiate(const pb::Hello& hello, const pb::ServiceDefinition& definition,
                   const BackendInfo& backend, bool fd_pressure);
  pb::HelloReply Refuse(const Refusal& refusal, const pb::Hello* hello);

  const BrokerConfig& config_;
  BackendSupervisor& supervisor_;
  HandoffCoordinator& handoff_;
  ServiceDefinitionStore store_;
  PeerRateLimiter rate_limiter_;
  std::uint64_t next_connection_id_ = 1;
  HelloStats stats_;
};

}  // namespace rp::broker
