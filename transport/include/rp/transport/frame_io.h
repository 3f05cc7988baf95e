// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "rp/platform/local_stream.h"
#include "rp/transport/framing.h"

namespace rp::transport {

// Stream-level framing on a LocalStream (spec §1.3). The reader takes
// exactly one frame off the stream (header, then exactly the body), so bytes
// a peer sent after its frame stay in the kernel buffer: a connection handed
// to another process after ReadFrameBody loses nothing.

// Reads one frame body. The length is checked against `cap` from the header
// before anything is allocated; a length equal to the cap is accepted.
boost::asio::awaitable<FrameResult<std::vector<std::uint8_t>>> ReadFrameBody(
    platform::LocalStream& stream, std::uint32_t cap = kMaxFrameBytes);

// Reads and decodes one Frame (kDecode when the body is not a Frame).
boost::asio::awaitable<FrameResult<pb::Frame>> ReadFrame(platform::LocalStream& stream,
                                                        std::uint32_t cap = kMaxFrameBytes);

// Writes [1][len][body]; returns 5 + body size. Refuses bodies over 16 MiB.
boost::asio::awaitable<FrameResult<std::size_t>> WriteFrameBody(
    platform::LocalStream& stream, std::span<const std::uint8_t> body);

boost::asio::awaitable<FrameResult<std::size_t>> WriteFrame(platform::LocalStream& stream,
                                                           const pb::Frame& frame);

}  // namespace rp::transport
