// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/transport/connection_transfer.h"

#include "broker_v1_envelope.pb.h"
#include "rp/platform/errors.h"

namespace rp::transport {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The bytes of `frame` for the peer, once the handle's value there is known
// (`peer_values`): only Windows has a value to fill in; POSIX peers get
// zeros, which is what the offer already says.
std::vector<std::uint8_t> EncodeOffer(const pb::Frame& frame, bool fill_handle_value,
                                      std::span<const std::uint64_t> peer_values,
                                      error_code& encode_error) {
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
}

}  // namespace

asio::awaitable<error_code> SendConnection(platform::HandleChannel& channel,
                                           platform::LocalStream connection,
                                           const pb::Frame& frame, bool fill_handle_value) {
  auto handle = connection.ReleaseHandle();
  if (!handle) co_return handle.error();
  const platform::NativeHandle native = handle->get();
  error_code encode_error;
  // A named std::function, not a temporary in the co_await expression below:
  // GCC 12 destroys those twice (seen here; also https://github.com/equeim/tremotesf2/pull/551).
  platform::HandleChannel::BytesBuilder build = [&](std::span<const std::uint64_t> values) {
    return EncodeOffer(frame, fill_handle_value, values, encode_error);
  };
  error_code ec = co_await channel.SendBuilt(std::move(build), std::span(&native, 1));
  // Our copy goes either way: on success the peer has its own, on failure
  // the client sees EOF and reconnects.
  handle->reset();
  co_return encode_error ? encode_error : ec;
}

asio::awaitable<ReplyThenTransfer> ReplyThenSendConnection(
    platform::HandleChannel& channel, platform::LinkedSubmitter& linker,
    platform::LocalStream& connection, std::span<const std::uint8_t> reply,
    const pb::Frame& frame, bool fill_handle_value) {
  ReplyThenTransfer out;
  const platform::NativeHandle native = connection.native_handle();
  if (!linker.available() || native == platform::PlatformHandle::InvalidValue()) {
    out.reply = co_await platform::WriteAll(connection, asio::buffer(reply.data(), reply.size()));
    if (out.reply) {
      connection.Close();
    } else {
      out.transfer =
          co_await SendConnection(channel, std::move(connection), frame, fill_handle_value);
    }
    co_return out;
  }
  error_code encode_error;
  platform::HandleChannel::BytesBuilder build = [&](std::span<const std::uint64_t> values) {
    return EncodeOffer(frame, fill_handle_value, values, encode_error);
  };
  auto sent = co_await channel.WriteThenSendBuilt(linker, connection, reply, std::move(build),
                                                  std::span(&native, 1));
  connection.Close();  // as in SendConnection: the peer has its own copy, or EOF tells the client
  out.reply = sent.write;
  out.transfer = encode_error ? encode_error : sent.send;
  out.linked = sent.linked;
  co_return out;
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
