// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "broker_v1_envelope.pb.h"
#include "rp/platform/handle_channel.h"
#include "rp/platform/local_stream.h"

namespace rp::backend {

namespace pb = ::running_process::broker::v1;

// HandoffAcceptor is the backend's half of a connection handoff. For one
// 0xD0FF REQUEST from the broker (HandoffOffer + the client's connection
// beside it) it validates the offer (envelope, correlation id, a 16-byte
// token never seen before, our service, exactly one handle, and on Windows
// the handle value named in the offer), adopts the connection, writes the
// handoff-ready EVENT to the client (the same bytes the Rust broker relays:
// EVENT, 0xD0FF, request_id = correlation id, HandoffAck{token, accepted,
// correlation_id}), then answers the broker with HandoffAck in a RESPONSE.
// A rejected offer closes the handle and answers accepted=false with the
// reason. The control channel is private to the broker that launched us,
// which is what authenticates the offer. One executor; not thread-safe.
class HandoffAcceptor {
 public:
  explicit HandoffAcceptor(std::string service) : service_(std::move(service)) {}

  // Returns the adopted connection to serve, or nullopt when rejected.
  boost::asio::awaitable<std::optional<platform::LocalStream>> Accept(
      boost::asio::any_io_executor executor, const pb::Frame& frame,
      std::vector<platform::PlatformHandle> handles, platform::HandleChannel& channel);

 private:
  // Why the offer cannot be taken, or "" when it can.
  std::string Check(const pb::Frame& frame, const pb::HandoffOffer& offer, bool decoded,
                    const std::vector<platform::PlatformHandle>& handles) const;
  void Remember(const std::string& token);

  std::string service_;
  std::set<std::string> seen_;
  std::deque<std::string> seen_order_;  // bounds `seen_`
};

}  // namespace rp::backend
