// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Buffer-level framing of the v1 wire: [0x01][u32 LE body length][Frame].
// Stream reading and writing live in frame_io.cc; this file only turns bytes
// into frames and back, and never touches an OS handle.

#include "rp/transport/framing.h"

#include <cassert>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace rp::transport {
namespace {

std::uint32_t ReadLittleEndian32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

const char* EofPlace(FrameError::EofAt where) {
  switch (where) {
    case FrameError::EofAt::kFramingByte:
      return "framing byte";
    case FrameError::EofAt::kLengthHeader:
      return "body length header";
    case FrameError::EofAt::kBody:
      return "frame body";
  }
  return "frame";
}

}  // namespace

FrameError FrameError::UnsupportedFramingVersion(std::uint8_t got) {
  FrameError error;
  error.kind = Kind::kUnsupportedFramingVersion;
  error.got = got;
  return error;
}

FrameError FrameError::TooLarge(std::uint64_t body_length, std::uint64_t cap) {
  FrameError error;
  error.kind = Kind::kFrameTooLarge;
  error.body_length = body_length;
  error.cap = cap;
  return error;
}

FrameError FrameError::Eof(EofAt where) {
  FrameError error;
  error.kind = Kind::kUnexpectedEof;
  error.eof_at = where;
  return error;
}

FrameError FrameError::Io(boost::system::error_code ec) {
  FrameError error;
  error.kind = Kind::kIo;
  error.io = ec;
  return error;
}

FrameError FrameError::Decode() {
  FrameError error;
  error.kind = Kind::kDecode;
  return error;
}

std::string FrameError::message() const {
  switch (kind) {
    case Kind::kUnsupportedFramingVersion:
      return "unsupported framing version " + std::to_string(got) + " (expected " +
             std::to_string(kFramingVersion) + ")";
    case Kind::kFrameTooLarge:
      return "frame body of " + std::to_string(body_length) + " bytes exceeds the cap of " +
             std::to_string(cap) + " bytes";
    case Kind::kUnexpectedEof:
      return std::string("unexpected EOF while reading ") + EofPlace(eof_at);
    case Kind::kIo:
      return "I/O error: " + io.message();
    case Kind::kDecode:
      return "frame body is not a valid Frame";
  }
  return "unknown framing error";
}

void throw_exception_from_error(const FrameError& error, const boost::source_location& loc) {
  if (error.kind == FrameError::Kind::kIo) {
    boost::throw_exception(boost::system::system_error(error.io), loc);
  }
  boost::throw_exception(std::runtime_error(error.message()), loc);
}

std::array<std::uint8_t, kFrameHeaderBytes> EncodeFrameHeader(std::uint32_t body_length) {
  return {kFramingVersion,
          static_cast<std::uint8_t>(body_length & 0xFF),
          static_cast<std::uint8_t>((body_length >> 8) & 0xFF),
          static_cast<std::uint8_t>((body_length >> 16) & 0xFF),
          static_cast<std::uint8_t>((body_length >> 24) & 0xFF)};
}

FrameResult<std::vector<std::uint8_t>> FrameBody(std::span<const std::uint8_t> body) {
  if (body.size() > kMaxFrameBytes) {
    return FrameError::TooLarge(body.size(), kMaxFrameBytes);
  }
  const auto header = EncodeFrameHeader(static_cast<std::uint32_t>(body.size()));
  std::vector<std::uint8_t> out;
  out.reserve(kFrameHeaderBytes + body.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

FrameResult<std::vector<std::uint8_t>> EncodeFrame(const pb::Frame& frame) {
  // Size first, so an oversized frame is refused before anything is copied.
  const std::size_t body_length = frame.ByteSizeLong();
  if (body_length > kMaxFrameBytes) {
    return FrameError::TooLarge(body_length, kMaxFrameBytes);
  }
  std::vector<std::uint8_t> out(kFrameHeaderBytes + body_length);
  const auto header = EncodeFrameHeader(static_cast<std::uint32_t>(body_length));
  std::memcpy(out.data(), header.data(), header.size());
  if (body_length > 0) {
    google::protobuf::io::ArrayOutputStream array(out.data() + kFrameHeaderBytes,
                                                  static_cast<int>(body_length));
    google::protobuf::io::CodedOutputStream coded(&array);
    coded.SetSerializationDeterministic(true);
    // ByteSizeLong() above cached the sizes this relies on; the array is
    // exactly that long, so the write cannot come up short.
    frame.SerializeWithCachedSizes(&coded);
    assert(!coded.HadError());
  }
  return out;
}

std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  AppendDeterministic(message, out);
  return out;
}

void AppendDeterministic(const google::protobuf::MessageLite& message, std::string& out) {
  // Sized first, so the bytes go straight into their place (one allocation).
  (void)message.ByteSizeLong();
  AppendDeterministicSized(message, out);
}

void AppendDeterministicSized(const google::protobuf::MessageLite& message, std::string& out) {
  const auto size = static_cast<std::size_t>(message.GetCachedSize());
  const std::size_t at = out.size();
  out.resize(at + size);
  if (size == 0) return;
  google::protobuf::io::ArrayOutputStream array(out.data() + at, static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);  // sizes cached by the caller's ByteSizeLong()
  assert(!coded.HadError());
}

FrameResult<std::optional<DecodedFrame>> TryDecodeFrame(std::span<const std::uint8_t> buffer) {
  // Order matters and follows spec §1.4: version byte as soon as it is
  // there, then the length cap from the header alone, then the body.
  if (buffer.empty()) return std::optional<DecodedFrame>();
  if (buffer[0] != kFramingVersion) {
    return FrameError::UnsupportedFramingVersion(buffer[0]);
  }
  if (buffer.size() < kFrameHeaderBytes) return std::optional<DecodedFrame>();
  const std::uint32_t body_length = ReadLittleEndian32(buffer.data() + 1);
  if (body_length > kMaxFrameBytes) {
    return FrameError::TooLarge(body_length, kMaxFrameBytes);
  }
  if (buffer.size() - kFrameHeaderBytes < body_length) return std::optional<DecodedFrame>();

  DecodedFrame decoded;
  if (!decoded.frame.ParseFromArray(buffer.data() + kFrameHeaderBytes,
                                    static_cast<int>(body_length))) {
    return FrameError::Decode();
  }
  decoded.consumed = kFrameHeaderBytes + body_length;
  return std::optional<DecodedFrame>(std::move(decoded));
}

}  // namespace rp::transport
