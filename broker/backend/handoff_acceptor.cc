// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "handoff_acceptor.h"

#include "rp/platform/host.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "rp/transport/framing.h"

namespace rp::backend {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kTokenBytes = 16;
constexpr std::size_t kRememberedTokens = 1024;

std::string AckBytes(const pb::HandoffOffer& offer, bool accepted, const std::string& detail) {
  pb::HandoffAck ack;
  ack.set_token(offer.token());
  ack.set_accepted(accepted);
  ack.set_error_detail(detail);
  ack.set_correlation_id(offer.correlation_id());
  return transport::SerializeDeterministic(ack);
}

}  // namespace

std::string HandoffAcceptor::Check(const pb::Frame& frame, const pb::HandoffOffer& offer,
                                   bool decoded,
                                   const std::vector<platform::PlatformHandle>& handles) const {
  if (transport::ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST,
                                  transport::kHandoffPayloadProtocol) ||
      !decoded) {
    return "malformed handoff offer";
  }
  if (frame.request_id() != offer.correlation_id()) return "handoff correlation id mismatch";
  if (offer.token().empty()) return "handoff token is missing";
  if (offer.token().size() != kTokenBytes) {
    return "handoff token length was " + std::to_string(offer.token().size()) +
           " bytes; expected 16";
  }
  if (seen_.count(offer.token())) return "handoff token is not pending";  // replayed
  if (offer.service_name() != service_) return "handoff offer is for another service";
  if (handles.size() != 1) return "handoff offer carried no connection";
  bool windows = platform::CurrentOs() == platform::OsFlavor::kWindows;
  if (windows ? std::to_string(offer.handle_value()) != handles[0].ToDecimalString()
              : offer.handle_value() != 0) {
    return "handoff handle value does not match the handle received";
  }
  return "";
}

void HandoffAcceptor::Remember(const std::string& token) {
  if (!seen_.insert(token).second) return;
  seen_order_.push_back(token);
  if (seen_order_.size() > kRememberedTokens) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
}

asio::awaitable<std::optional<platform::LocalStream>> HandoffAcceptor::Accept(
    asio::any_io_executor executor, const pb::Frame& frame,
    std::vector<platform::PlatformHandle> handles, platform::HandleChannel& channel) {
  pb::HandoffOffer offer;
  bool decoded = offer.ParseFromString(frame.payload());
  std::string detail = Check(frame, offer, decoded, handles);
  std::optional<platform::LocalStream> stream;
  if (detail.empty()) {
    Remember(offer.token());
    auto adopted = platform::LocalStream::Adopt(executor, std::move(handles[0]));
    if (!adopted) {
      detail = "cannot adopt the connection: " + adopted.error().message();
    } else {
      // The client learns first, on its own connection, that we serve it now.
      pb::Frame ready = transport::MakeEvent(transport::kHandoffPayloadProtocol,
                                             AckBytes(offer, true, ""), offer.correlation_id());
      auto written = co_await transport::WriteFrame(*adopted, ready);
      if (!written) {
        detail = "client went away: " + written.error().message();
      } else {
        stream = std::move(*adopted);
      }
    }
  }
  handles.clear();  // a rejected offer's handle is closed here
  pb::Frame answer = transport::MakeResponseTo(frame, AckBytes(offer, detail.empty(), detail));
  if (auto framed = transport::EncodeFrame(answer)) co_await channel.Send(*framed, {});
  co_return stream;
}

}  // namespace rp::backend
