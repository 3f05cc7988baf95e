// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/transport/frame_io.h"

#include <boost/asio/error.hpp>

namespace rp::transport {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// EOF after `got` bytes of a read that wanted more: reported where it hit.
FrameError EofOrIo(const error_code& ec, FrameError::EofAt where) {
  if (ec == asio::error::eof) return FrameError::Eof(where);
  return FrameError::Io(ec);
}

std::uint32_t LittleEndianU32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

asio::awaitable<FrameResult<std::vector<std::uint8_t>>> ReadFrameBody(
    platform::LocalStream& stream, std::uint32_t cap) {
  std::uint8_t header[kFrameHeaderBytes];
  // Whatever part of the header has arrived (never more: the bytes after
  // this frame belong to whoever reads next). The framing byte is checked
  // as soon as it is here, before waiting for the rest.
  auto got = co_await stream.ReadSome(asio::buffer(header, kFrameHeaderBytes));
  if (!got) co_return EofOrIo(got.error(), FrameError::EofAt::kFramingByte);
  if (header[0] != kFramingVersion) co_return FrameError::UnsupportedFramingVersion(header[0]);
  if (*got < kFrameHeaderBytes) {
    if (error_code ec = co_await platform::ReadExactly(
            stream, asio::buffer(header + *got, kFrameHeaderBytes - *got))) {
      co_return EofOrIo(ec, FrameError::EofAt::kLengthHeader);
    }
  }
  std::uint32_t length = LittleEndianU32(header + 1);
  if (length > cap) co_return FrameError::TooLarge(length, cap);
  std::vector<std::uint8_t> body(length);
  if (length > 0) {
    if (error_code ec = co_await platform::ReadExactly(stream, asio::buffer(body))) {
      co_return EofOrIo(ec, FrameError::EofAt::kBody);
    }
  }
  co_return body;
}

asio::awaitable<FrameResult<pb::Frame>> ReadFrame(platform::LocalStream& stream,
                                                  std::uint32_t cap) {
  auto body = co_await ReadFrameBody(stream, cap);
  if (!body) co_return body.error();
  pb::Frame frame;
  if (!frame.ParseFromArray(body->data(), static_cast<int>(body->size()))) {
    co_return FrameError::Decode();
  }
  co_return frame;
}

asio::awaitable<FrameResult<std::size_t>> WriteFrameBody(platform::LocalStream& stream,
                                                         std::span<const std::uint8_t> body) {
  auto framed = FrameBody(body);
  if (!framed) co_return framed.error();
  if (error_code ec = co_await platform::WriteAll(stream, asio::buffer(*framed))) {
    co_return FrameError::Io(ec);
  }
  co_return framed->size();
}

asio::awaitable<FrameResult<std::size_t>> WriteFrame(platform::LocalStream& stream,
                                                     const pb::Frame& frame) {
  auto framed = EncodeFrame(frame);
  if (!framed) co_return framed.error();
  if (error_code ec = co_await platform::WriteAll(stream, asio::buffer(*framed))) {
    co_return FrameError::Io(ec);
  }
  co_return framed->size();
}

}  // namespace rp::transport
