// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_v1_envelope.pb.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/local_stream.h"

namespace rp::backend {

namespace pb = ::running_process::broker::v1;

// HandoffAcceptor is the backend's half of a connection handoff. For one
// 0xD0FF REQUEST from the broker (HandoffOffer + the client's connection
// beside it) it validates the offer (envelope, correlation id, a 16-byte
// token never seen before, our service, exactly one handle, and on Windows
// the handle value named in the offer), adopts the connection and greets the
// client with the handoff-ready EVENT (the same bytes the Rust broker
// relays: EVENT, 0xD0FF, request_id = correlation id, HandoffAck{token,
// accepted, correlation_id}). A backend that is idle writes the EVENT at
// once, so the client wakes while the handler works. A backend already
// serving other connections (`busy`) saves that write and a client wakeup
// instead: on POSIX the EVENT rides in front of the handler's first write
// (PrependWriteBytes), never held back past the handler's first wait.
// (rp-broker-bench, greeting always coalesced: ~12% less CPU per handoff
// across broker, backend and client with 4 clients, ~7 us more P50 with
// 1.) A rejected offer's handle is closed at once.
//
// The broker's answer (HandoffAck in a RESPONSE, accepted or not with the
// reason) is queued, and AnswerBroker() sends queued answers in batches,
// `answer_delay` after the first of a batch, the frames back to back in one
// channel message: the client's first exchange with us is not held up by
// our write to the broker nor by the broker waking to read it, and a busy
// broker wakes and reads once per batch. The control
// channel is private to the broker that launched us, which is what
// authenticates the offer. One executor; not thread-safe.
class HandoffAcceptor {
 public:
  static constexpr std::chrono::microseconds kDefaultAnswerDelay{1000};

  HandoffAcceptor(std::string service, boost::asio::any_io_executor executor,
                  std::chrono::microseconds answer_delay = kDefaultAnswerDelay);

  // Returns the adopted connection to serve, or nullopt when rejected.
  boost::asio::awaitable<std::optional<platform::LocalStream>> Accept(
      const pb::Frame& frame, std::vector<platform::PlatformHandle> handles, bool busy = false);

  // Sends the queued answers over `channel` until Stop(); returns at once
  // if the channel is closed.
  boost::asio::awaitable<void> AnswerBroker(platform::HandleChannel& channel);
  void Stop();

 private:
  // Why the offer cannot be taken, or "" when it can.
  std::string Check(const pb::Frame& frame, const pb::HandoffOffer& offer, bool decoded,
                    const std::vector<platform::PlatformHandle>& handles) const;
  void Remember(const std::string& token);
  void QueueAnswer(std::vector<std::uint8_t> bytes);

  std::string service_;
  boost::asio::any_io_executor executor_;
  std::chrono::microseconds answer_delay_;
  std::set<std::string> seen_;
  std::deque<std::string> seen_order_;  // bounds `seen_`
  std::vector<std::vector<std::uint8_t>> answers_;
  boost::asio::steady_timer answers_queued_;  // never expires; cancelled to wake AnswerBroker
  boost::asio::steady_timer batch_delay_;
  bool stopping_ = false;
};

}  // namespace rp::backend
