// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
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

// One frame taken off `stream` without waiting (TryReadSome): `complete`
// when all of it was already there; otherwise `consumed` holds whatever
// part had arrived (perhaps nothing), for a caller that puts it back
// (PrependReadBytes) and reads on with ReadFrameBody, which then also
// reports any error or EOF met here. `consumed` is header and body; like
// ReadFrameBody it never reads past the frame, and a header that announces
// more than `cap` or a wrong framing byte ends the attempt (incomplete).
struct FrameReadNow {
  bool complete = false;
  std::vector<std::uint8_t> consumed;
  std::span<const std::uint8_t> body() const {
    return std::span(consumed).subspan(complete ? kFrameHeaderBytes : consumed.size());
  }
};
FrameReadNow TryReadFrameNow(platform::LocalStream& stream, std::uint32_t cap);

// Reads and decodes one Frame (kDecode when the body is not a Frame).
boost::asio::awaitable<FrameResult<pb::Frame>> ReadFrame(platform::LocalStream& stream,
                                                        std::uint32_t cap = kMaxFrameBytes);

// Writes [1][len][body]; returns 5 + body size. Refuses bodies over 16 MiB.
boost::asio::awaitable<FrameResult<std::size_t>> WriteFrameBody(
    platform::LocalStream& stream, std::span<const std::uint8_t> body);

boost::asio::awaitable<FrameResult<std::size_t>> WriteFrame(platform::LocalStream& stream,
                                                           const pb::Frame& frame);

// BufferedFrameReader reads frames in as few reads as it can: each read
// takes whatever has arrived, so bytes that follow a frame may come along.
// TakeLeftover() gives them back (PrependReadBytes) when the caller stops
// reading frames and hands the stream on within this process. For
// connections that stay here; a connection that may go to another process
// must be read with ReadFrame instead. Errors are those of ReadFrame.
class BufferedFrameReader {
 public:
  boost::asio::awaitable<FrameResult<pb::Frame>> Read(platform::LocalStream& stream,
                                                      std::uint32_t cap = kMaxFrameBytes);
  // The bytes read past the last frame returned; the reader is empty after.
  std::vector<std::uint8_t> TakeLeftover();

 private:
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buffer_[begin_, end_)
};

}  // namespace rp::transport
