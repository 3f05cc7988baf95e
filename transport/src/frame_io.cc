// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "rp/transport/frame_io.h"

#include <algorithm>

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

FrameReadNow TryReadFrameNow(platform::LocalStream& stream, std::uint32_t cap) {
  FrameReadNow read;
  read.consumed.resize(kFrameHeaderBytes);
  // Reads into consumed[have, want); false once nothing more is there.
  std::size_t have = 0;
  auto fill = [&](std::size_t want) {
    while (have < want) {
      auto got = stream.TryReadSome(asio::buffer(read.consumed.data() + have, want - have));
      if (!got || *got == 0) return false;
      have += *got;
    }
    return true;
  };
  const bool header = fill(kFrameHeaderBytes);
  const std::uint32_t length = header ? LittleEndianU32(read.consumed.data() + 1) : 0;
  if (header && read.consumed[0] == kFramingVersion && length <= cap) {
    read.consumed.resize(kFrameHeaderBytes + length);
    read.complete = fill(read.consumed.size());
  }
  read.consumed.resize(have);
  return read;
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

asio::awaitable<FrameResult<pb::Frame>> BufferedFrameReader::Read(platform::LocalStream& stream,
                                                                 std::uint32_t cap) {
  constexpr std::size_t kReadChunk = 4096;
  for (;;) {
    const std::size_t have = end_ - begin_;
    const std::uint8_t* data = buffer_.data() + begin_;
    std::size_t total = kFrameHeaderBytes;  // what the frame needs, as far as known
    if (have > 0 && data[0] != kFramingVersion) {
      co_return FrameError::UnsupportedFramingVersion(data[0]);
    }
    if (have >= kFrameHeaderBytes) {
      const std::uint32_t length = LittleEndianU32(data + 1);
      if (length > cap) co_return FrameError::TooLarge(length, cap);
      total += length;
      if (have >= total) {
        pb::Frame frame;
        const bool parsed = frame.ParseFromArray(data + kFrameHeaderBytes, static_cast<int>(length));
        begin_ += total;
        if (!parsed) co_return FrameError::Decode();
        co_return frame;
      }
    }
    if (begin_ == end_) begin_ = end_ = 0;
    if (buffer_.size() - end_ < kReadChunk && begin_ > 0) {
      std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
                buffer_.begin() + static_cast<std::ptrdiff_t>(end_), buffer_.begin());
      end_ -= begin_;
      begin_ = 0;
    }
    // What the frame still needs, and room for what may follow it.
    const std::size_t room = begin_ + total - end_ + kReadChunk;
    if (buffer_.size() - end_ < room) buffer_.resize(end_ + room);
    auto got = co_await stream.ReadSome(asio::buffer(buffer_.data() + end_, buffer_.size() - end_));
    if (!got) {
      const auto where = have == 0                   ? FrameError::EofAt::kFramingByte
                         : have < kFrameHeaderBytes ? FrameError::EofAt::kLengthHeader
                                                     : FrameError::EofAt::kBody;
      co_return EofOrIo(got.error(), where);
    }
    end_ += *got;
  }
}

std::vector<std::uint8_t> BufferedFrameReader::TakeLeftover() {
  std::vector<std::uint8_t> rest(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
                                 buffer_.begin() + static_cast<std::ptrdiff_t>(end_));
  buffer_.clear();
  begin_ = end_ = 0;
  return rest;
}

}  // namespace rp::transport
