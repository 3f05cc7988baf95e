// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "handoff_coordinator.h"

#include <algorithm>

#include "broker_v1_envelope.pb.h"
#include "log.h"
#include "rp/transport/connection_transfer.h"
#include "rp/transport/envelope.h"

namespace rp::broker {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

HandoffCoordinator::HandoffCoordinator(asio::io_context& io, BackendSupervisor& supervisor,
                                       std::chrono::milliseconds ack_deadline)
    : io_(io), supervisor_(supervisor), ack_deadline_(ack_deadline), ack_sweep_(io) {
  supervisor_.set_control_frame_sink(
      [this](const std::string& key, const pb::Frame& frame) { OnControlFrame(key, frame); });
}

std::optional<HandoffPlan> HandoffCoordinator::Prepare(bool client_capable, bool service_enabled,
                                                       bool fd_pressure,
                                                       const BackendInfo& backend,
                                                       std::uint64_t correlation_id) {
  auto now = Clock::now();
  auto skip = policy_.ShouldAttempt(client_capable, service_enabled, fd_pressure,
                                    /*launched_here=*/!backend.adopted, backend.key, now);
  if (!skip && !supervisor_.ControlChannelOpen(backend.key)) skip = HandoffSkip::kControlClosed;
  if (skip) {
    ++stats_.skipped[HandoffSkipName(*skip)];
    if (*skip != HandoffSkip::kClientUnsupported) {
      Log().info("handoff skipped: service={} reason={}", backend.service, HandoffSkipName(*skip));
    }
    return std::nullopt;
  }
  auto token = tokens_.Issue(correlation_id, now);
  if (!token) {
    ++stats_.skipped["token_unavailable"];
    return std::nullopt;
  }
  return HandoffPlan{backend.key, backend.service, correlation_id, *token};
}

void HandoffCoordinator::Fail(const HandoffPlan& plan, HandoffFailure reason,
                              const std::string& detail) {
  ++stats_.failures[HandoffFailureName(reason)];
  policy_.RecordFailure(plan.backend_key, Clock::now());
  Log().warn("handoff fallback: service={} connection_id={} reason={} {}", plan.service,
             plan.correlation_id, HandoffFailureName(reason), detail);
}

asio::awaitable<bool> HandoffCoordinator::Transfer(HandoffPlan plan,
                                                   platform::LocalStream& connection,
                                                   std::span<const std::uint8_t> reply) {
  pb::HandoffOffer offer;
  offer.set_token(std::string(plan.token.begin(), plan.token.end()));
  offer.set_service_name(plan.service);
  offer.set_correlation_id(plan.correlation_id);
  pb::Frame frame = transport::MakeRequest(transport::kHandoffPayloadProtocol,
                                           transport::SerializeDeterministic(offer),
                                           plan.correlation_id);
  // Registered before sending: a fast backend may answer before we resume.
  // The ACK deadline is armed after the send, off the client's path.
  const std::uint64_t cid = plan.correlation_id;
  pending_[cid] = Pending{plan, false};

  error_code reply_error;
  std::span<const std::uint8_t> unwritten = reply;
  if (!linker_.available()) {
    // Two steps anyway: the reply need not wait for the backend's channel
    // to be free of other offers.
    reply_error = co_await platform::WriteAll(connection, asio::buffer(reply.data(), reply.size()));
    unwritten = {};
  }
  // Named first: GCC 12 destroys lambda temporaries in a co_await expression
  // twice (seen here; also https://github.com/equeim/tremotesf2/pull/551).
  BackendSupervisor::ControlSend send =
      [&](platform::HandleChannel& channel) -> asio::awaitable<error_code> {
    auto sent = co_await transport::ReplyThenSendConnection(channel, linker_, connection, unwritten,
                                                            frame, /*fill_handle_value=*/true);
    unwritten = {};
    reply_error = sent.reply;
    co_return sent.transfer;
  };
  error_code ec;
  if (!reply_error) ec = co_await supervisor_.SendToBackend(plan.backend_key, std::move(send));
  if (!reply_error && !unwritten.empty()) {
    // No backend took it: the client still gets its reply, then EOF, and
    // reconnects to backend_pipe.
    reply_error =
        co_await platform::WriteAll(connection, asio::buffer(unwritten.data(), unwritten.size()));
  }
  connection.Close();  // ours is closed either way; on failure the client reconnects
  auto it = pending_.find(cid);
  if (reply_error) {  // the client left; no offer went out
    if (it != pending_.end()) pending_.erase(it);
    co_return false;
  }
  ++stats_.attempts;
  if (it == pending_.end()) co_return true;  // answered already
  if (ec) {
    pending_.erase(it);
    Fail(plan, ec == asio::error::not_connected ? HandoffFailure::kBackendGone
                                                : HandoffFailure::kTransferFailed,
         ec.message());
    co_return true;
  }
  it->second.sent = true;
  StartAckDeadline(cid);
  co_return true;
}

void HandoffCoordinator::StartAckDeadline(std::uint64_t correlation_id) {
  // Answered entries at the front are dropped here and by the sweep, so
  // the queue stays about as long as the number of offers in flight, and
  // under steady traffic the timer fires about once per deadline period.
  while (!ack_deadlines_.empty() && !pending_.count(ack_deadlines_.front().second)) {
    ack_deadlines_.pop_front();
  }
  ack_deadlines_.emplace_back(Clock::now() + ack_deadline_, correlation_id);
  ArmAckSweep();
}

void HandoffCoordinator::ArmAckSweep() {
  if (ack_sweep_armed_ || ack_deadlines_.empty()) return;
  ack_sweep_armed_ = true;
  ack_sweep_.expires_at(ack_deadlines_.front().first);
  ack_sweep_.async_wait([this](error_code ec) {
    if (ec) return;  // the coordinator is going away
    ack_sweep_armed_ = false;
    SweepAckDeadlines();
  });
}

void HandoffCoordinator::SweepAckDeadlines() {
  const auto now = Clock::now();
  while (!ack_deadlines_.empty()) {
    const auto [deadline, cid] = ack_deadlines_.front();
    auto it = pending_.find(cid);
    const bool answered = it == pending_.end();
    if (!answered && deadline > now) break;
    ack_deadlines_.pop_front();
    if (answered) continue;
    HandoffPlan late = std::move(it->second.plan);
    pending_.erase(it);
    Fail(late, HandoffFailure::kAckTimeout, "no HandoffAck within the deadline");
  }
  ArmAckSweep();
}

void HandoffCoordinator::OnControlFrame(const std::string& backend_key, const pb::Frame& frame) {
  if (frame.payload_protocol() != transport::kHandoffPayloadProtocol) return;
  auto it = pending_.find(frame.request_id());
  if (it == pending_.end() || it->second.plan.backend_key != backend_key) {
    Log().warn("handoff: unexpected answer from backend for connection_id={}", frame.request_id());
    return;
  }
  HandoffPlan plan = std::move(it->second.plan);
  pending_.erase(it);
  pb::HandoffAck ack;
  HandoffToken presented{};
  bool shaped = !transport::ValidateEnvelope(frame, pb::FRAME_KIND_RESPONSE,
                                             transport::kHandoffPayloadProtocol) &&
                ack.ParseFromString(frame.payload()) && ack.correlation_id() == plan.correlation_id &&
                ack.token().size() == presented.size();
  if (shaped) std::copy(ack.token().begin(), ack.token().end(), presented.begin());
  if (!shaped || !tokens_.Consume(plan.correlation_id, presented, Clock::now())) {
    Fail(plan, HandoffFailure::kMalformedAck, "answer does not match the offer");
    return;
  }
  if (!ack.accepted()) {
    Fail(plan, HandoffFailure::kRejected, "backend said: " + ack.error_detail());
    return;
  }
  ++stats_.completions;
  policy_.RecordSuccess(plan.backend_key, Clock::now());
}

}  // namespace rp::broker
