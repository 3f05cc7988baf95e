// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "handoff_acceptor.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "rp/platform/host.h"
#include "rp/transport/envelope.h"
#include "rp/transport/frame_io.h"
#include "rp/transport/framing.h"

namespace rp::backend {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kTokenBytes = 16;
constexpr std::size_t kRememberedTokens = 1024;
constexpr std::size_t kMaxAnswerMessageBytes = 32 * 1024;  // the broker takes up to 64 KiB

std::string AckBytes(const pb::HandoffOffer& offer, bool accepted, const std::string& detail) {
  pb::HandoffAck ack;
  ack.set_token(offer.token());
  ack.set_accepted(accepted);
  ack.set_error_detail(detail);
  ack.set_correlation_id(offer.correlation_id());
  return transport::SerializeDeterministic(ack);
}

}  // namespace

HandoffAcceptor::HandoffAcceptor(std::string service, asio::any_io_executor executor,
                                 std::chrono::microseconds answer_delay)
    : service_(std::move(service)),
      executor_(executor),
      answer_delay_(answer_delay),
      answers_queued_(executor, std::chrono::steady_clock::time_point::max()),
      batch_delay_(executor) {}

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

void HandoffAcceptor::QueueAnswer(std::vector<std::uint8_t> bytes) {
  answers_.push_back(std::move(bytes));
  if (answers_.size() == 1) answers_queued_.cancel();
}

asio::awaitable<void> HandoffAcceptor::AnswerBroker(platform::HandleChannel& channel) {
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  while (channel.is_open() && !stopping_) {
    if (answers_.empty()) {
      answers_queued_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await answers_queued_.async_wait(kTuple);
      continue;
    }
    batch_delay_.expires_after(answer_delay_);
    co_await batch_delay_.async_wait(kTuple);
    // Frames back to back in as few channel messages as the broker's
    // message limit allows: one system call for the broker to read.
    std::vector<std::vector<std::uint8_t>> batch = std::move(answers_);
    answers_.clear();
    std::vector<std::uint8_t> message;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      message.insert(message.end(), batch[i].begin(), batch[i].end());
      const bool last = i + 1 == batch.size();
      if (!last && message.size() + batch[i + 1].size() <= kMaxAnswerMessageBytes) continue;
      // A broker that is gone does not stop us from serving.
      if (co_await channel.Send(message, {})) break;
      message.clear();
    }
  }
}

void HandoffAcceptor::Stop() {
  stopping_ = true;
  answers_queued_.cancel();
  batch_delay_.cancel();
}

asio::awaitable<std::optional<platform::LocalStream>> HandoffAcceptor::Accept(
    const pb::Frame& frame, std::vector<platform::PlatformHandle> handles, bool busy) {
  pb::HandoffOffer offer;
  bool decoded = offer.ParseFromString(frame.payload());
  std::string detail = Check(frame, offer, decoded, handles);
  std::optional<platform::LocalStream> stream;
  std::string accepted;  // HandoffAck{accepted=true}: the client's EVENT and the broker's answer
  if (detail.empty()) {
    Remember(offer.token());
    // The broker that accepted it sent it over our private channel.
    auto adopted = platform::LocalStream::AdoptVouched(executor_, std::move(handles[0]));
    if (!adopted) {
      detail = "cannot adopt the connection: " + adopted.error().message();
    } else {
      // The client learns first, on its own connection, that we serve it
      // now: at once, or when busy and the stream allows, with the
      // handler's first reply (one write, one wakeup for the client).
      accepted = AckBytes(offer, true, "");
      pb::Frame ready = transport::MakeEvent(transport::kHandoffPayloadProtocol, accepted,
                                             offer.correlation_id());
      auto framed = transport::EncodeFrame(ready);
      if (busy && framed && platform::CanPrependWriteBytes(*adopted)) {
        stream = platform::PrependWriteBytes(std::move(*adopted), std::move(*framed));
      } else if (auto written = co_await transport::WriteFrame(*adopted, ready); !written) {
        detail = "client went away: " + written.error().message();
      } else {
        stream = std::move(*adopted);
      }
    }
  }
  handles.clear();  // a rejected offer's handle is closed here
  pb::Frame answer = transport::MakeResponseTo(
      frame, detail.empty() ? std::move(accepted) : AckBytes(offer, false, detail));
  if (auto framed = transport::EncodeFrame(answer)) QueueAnswer(std::move(*framed));
  co_return stream;
}

}  // namespace rp::backend
