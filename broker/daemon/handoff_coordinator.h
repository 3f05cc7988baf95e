// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backend_supervisor.h"
#include "broker_v1_envelope.pb.h"
#include "rp/broker/handoff_policy.h"
#include "rp/platform/linked_submitter.h"
#include "rp/platform/local_stream.h"

namespace rp::broker {

// A handoff decided at Hello time, carried out after Negotiated is written.
struct HandoffPlan {
  std::string backend_key;
  std::string service;
  std::uint64_t correlation_id = 0;
  HandoffToken token{};
};

// Counts by outcome and reason (status, metrics, tests).
struct HandoffStats {
  std::uint64_t attempts = 0;
  std::uint64_t completions = 0;
  std::map<std::string, std::uint64_t> skipped;   // by HandoffSkipName
  std::map<std::string, std::uint64_t> failures;  // by HandoffFailureName
};

// HandoffCoordinator moves a client's live Hello connection to its backend
// (spec §5, our split topology): at Hello time it decides (policy) and
// issues a single-use token; after Negotiated is written it sends the
// backend one 0xD0FF REQUEST carrying HandoffOffer with the connection
// beside it over the backend's private control channel, closes its own
// copy, and never writes to that client again. The backend greets the
// client itself and answers with HandoffAck, which must arrive within the
// ACK deadline. Every skip and failure is counted and logged; none is an
// error for the client, which falls back to backend_pipe. Runs on the
// broker's executor.
class HandoffCoordinator {
 public:
  HandoffCoordinator(boost::asio::io_context& io, BackendSupervisor& supervisor,
                     std::chrono::milliseconds ack_deadline = std::chrono::seconds(5));

  // Decides for one Hello; a plan (with a fresh token) means "attempt".
  std::optional<HandoffPlan> Prepare(bool client_capable, bool service_enabled, bool fd_pressure,
                                     const BackendInfo& backend, std::uint64_t correlation_id);
  // Writes `reply` (the client's Negotiated, framed) to `connection`, then
  // hands the connection to the backend; on Linux both in one kernel entry
  // (LinkedSubmitter), so the woken client does not hold up the offer. The
  // connection is closed here; false when the reply could not be written
  // (no offer was sent then).
  boost::asio::awaitable<bool> Transfer(HandoffPlan plan, platform::LocalStream& connection,
                                        std::span<const std::uint8_t> reply);
  bool links_reply_and_offer() const noexcept { return linker_.available(); }
  // A frame a backend sent on its control channel.
  void OnControlFrame(const std::string& backend_key, const pb::Frame& frame);

  const HandoffStats& stats() const { return stats_; }

 private:
  struct Pending {
    HandoffPlan plan;
    bool sent = false;  // the offer is out; the ACK deadline runs
  };
  void Fail(const HandoffPlan& plan, HandoffFailure reason, const std::string& detail);
  // ACK deadlines: one timer for all of them, armed for the oldest.
  void StartAckDeadline(std::uint64_t correlation_id);
  void ArmAckSweep();
  void SweepAckDeadlines();

  boost::asio::io_context& io_;
  BackendSupervisor& supervisor_;
  std::chrono::milliseconds ack_deadline_;
  HandoffPolicy policy_;
  HandoffTokenStore tokens_;
  std::map<std::uint64_t, Pending> pending_;  // by correlation id
  // (deadline, correlation id) in the order offers went out, which is
  // deadline order; entries already answered are skipped when reached.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> ack_deadlines_;
  boost::asio::steady_timer ack_sweep_;
  bool ack_sweep_armed_ = false;
  HandoffStats stats_;
  platform::LinkedSubmitter linker_ = platform::LinkedSubmitter::Create();
};

}  // namespace rp::broker
