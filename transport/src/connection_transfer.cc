// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/transport/connection_transfer.h"

#include "broker_v1_envelope.pb.h"
#include "rp/platform/errors.h"

namespace rp::transport {

namespace asio = boost::asio;
using boost::system::error_code;

asio::awaitable<error_code> SendConnection(platform::HandleChannel& channel,
                                           platform::LocalStream connection,
                                           const pb::Frame& frame, bool fill_handle_value) {
  auto handle = connection.ReleaseHandle();
  if (!handle) co_return handle.error();
  const platform::NativeHandle native = handle->get();
  // The frame is encoded once the handle's value in the peer is known.
  error_code encode_error;
  // A named std::function, not a temporary in the co_await expression below:
  // GCC 12 destroys those twice (seen here; also https://github.com/equeim/tremotesf2/pull/551).
  platform::HandleChannel::BytesBuilder build =
      [&](std::span<const std::uint64_t> peer_values) -> std::vector<std::uint8_t> {
    // Only Windows has a value to fill in (POSIX peers get zeros, which is
    // what the offer already says).
    const bool fill = fill_handle_value && !peer_values.empty() && peer_values[0] != 0;
    pb::Frame copy;
    if (fill) {
      copy = frame;
      pb::HandoffOffer offer;
      if (offer.ParseFromString(copy.payload())) {
        offer.set_handle_value(peer_values[0]);
        copy.set_payload(SerializeDeterministic(offer));
      }
    }
    auto framed = EncodeFrame(fill ? copy : frame);
    if (!framed) {
      encode_error = make_error_code(platform::Error::kMessageTooLarge);
      return {};
    }
    return std::move(*framed);
  };
  error_code ec = co_await channel.SendBuilt(std::move(build), std::span(&native, 1));
  // Our copy goes either way: on success the peer has its own, on failure
  // the client sees EOF and reconnects.
  handle->reset();
  co_return encode_error ? encode_error : ec;
}

asio::awaitable<boost::system::result<ReceivedConnection>> ReceiveConnection(
    platform::HandleChannel& channel, asio::any_io_executor stream_executor) {
  auto message = co_await channel.Receive(kFrameHeaderBytes + kMaxFrameBytes);
  if (!message) co_return message.error();
  if (message->handles.size() != 1) {
    co_return make_error_code(platform::Error::kHandleCountMismatch);  // handles close here
  }
  auto decoded = TryDecodeFrame(message->bytes);
  if (!decoded || !*decoded || (*decoded)->consumed != message->bytes.size()) {
    co_return make_error_code(platform::Error::kMalformedMessage);
  }
  auto stream = platform::LocalStream::Adopt(std::move(stream_executor),
                                             std::move(message->handles[0]));
  if (!stream) co_return stream.error();
  co_return ReceivedConnection{std::move((*decoded)->frame), std::move(*stream)};
}

}  // namespace rp::transport
