// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "rp/platform/handle_channel.h"
#include "rp/platform/local_stream.h"
#include "rp/transport/framing.h"

namespace rp::transport {

// Handing a live connection to another process: the connection's handle
// travels over a HandleChannel beside one framed message (for the broker,
// the 0xD0FF HandoffOffer). The receiving side gets the frame and a
// LocalStream on the same connection; bytes the client sent that the sender
// did not read are still waiting in it.

// Sends `connection` with `frame`. The connection is consumed either way:
// on success the peer owns it, on failure it is closed here (the client
// sees EOF and takes its reconnect path). When `fill_handle_value` is set,
// the frame's payload is taken to be a HandoffOffer whose handle_value is
// set to the handle's value in the peer (Windows; 0 on POSIX) before
// sending.
boost::asio::awaitable<boost::system::error_code> SendConnection(
    platform::HandleChannel& channel, platform::LocalStream connection, const pb::Frame& frame,
    bool fill_handle_value = false);

// Writes `reply` to `connection` (the server's answer to its first
// message), then sends the connection as SendConnection does; the offer
// never leaves before the last byte of the reply. With an available
// `linker` the two usually enter the kernel in one call, so the woken
// client cannot delay the offer. An empty `reply` (already written) makes
// this SendConnection. The connection is closed here either way.
struct ReplyThenTransfer {
  boost::system::error_code reply;     // set: the reply failed, nothing was sent
  boost::system::error_code transfer;  // set: the client has its reply, not a new owner
  bool linked = false;
};
boost::asio::awaitable<ReplyThenTransfer> ReplyThenSendConnection(
    platform::HandleChannel& channel, platform::LinkedSubmitter& linker,
    platform::LocalStream& connection, std::span<const std::uint8_t> reply,
    const pb::Frame& frame, bool fill_handle_value = false);

struct ReceivedConnection {
  pb::Frame frame;
  platform::LocalStream stream;
};

// Receives one frame with exactly one connection handle beside it. A
// message with no handle, more than one, or a body that is not one framed
// Frame is rejected with every handle closed.
boost::asio::awaitable<boost::system::result<ReceivedConnection>> ReceiveConnection(
    platform::HandleChannel& channel, boost::asio::any_io_executor stream_executor);

}  // namespace rp::transport
