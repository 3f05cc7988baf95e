// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "broker_v1_envelope.pb.h"
#include "rp/transport/wire_constants.h"

namespace rp::transport {

namespace pb = ::running_process::broker::v1;

// Why a frame could not be read, written or decoded. Each kind keeps the
// facts a caller needs to answer the peer (spec §1.3-§1.4).
struct FrameError {
  enum class Kind {
    kUnsupportedFramingVersion,  // `got` holds the byte seen
    kFrameTooLarge,              // `body_length` over `cap`
    kUnexpectedEof,              // `eof_at` tells where
    kIo,                         // `io` holds the error
    kDecode,                     // the body is not a Frame
  };
  enum class EofAt { kFramingByte, kLengthHeader, kBody };

  Kind kind = Kind::kIo;
  std::uint8_t got = 0;
  std::uint64_t body_length = 0;
  std::uint64_t cap = 0;
  EofAt eof_at = EofAt::kFramingByte;
  boost::system::error_code io;

  static FrameError UnsupportedFramingVersion(std::uint8_t got);
  static FrameError TooLarge(std::uint64_t body_length, std::uint64_t cap);
  static FrameError Eof(EofAt where);
  static FrameError Io(boost::system::error_code ec);
  static FrameError Decode();

  // "unexpected EOF while reading body length header", etc.
  std::string message() const;
  bool operator==(const FrameError&) const = default;
};

// Lets boost::system::result<T, FrameError>::value() throw on error.
[[noreturn]] void throw_exception_from_error(const FrameError& error,
                                             const boost::source_location& loc);

template <class T>
using FrameResult = boost::system::result<T, FrameError>;

// The 5-byte header for a body of `body_length` bytes.
std::array<std::uint8_t, kFrameHeaderBytes> EncodeFrameHeader(std::uint32_t body_length);

// [1][u32 LE len][body]. Fails with kFrameTooLarge over 16 MiB.
FrameResult<std::vector<std::uint8_t>> FrameBody(std::span<const std::uint8_t> body);

// Serializes `frame` deterministically (map keys sorted) and frames it.
FrameResult<std::vector<std::uint8_t>> EncodeFrame(const pb::Frame& frame);

// Deterministic serialization of any message, for payloads and golden tests.
std::string SerializeDeterministic(const google::protobuf::MessageLite& message);
// The same, appended to `out`.
void AppendDeterministic(const google::protobuf::MessageLite& message, std::string& out);
// The same, for a message whose ByteSizeLong() was just called and which
// has not changed since (it is not sized again).
void AppendDeterministicSized(const google::protobuf::MessageLite& message, std::string& out);

struct DecodedFrame {
  pb::Frame frame;
  std::size_t consumed = 0;  // header + body; later bytes belong to the next frame
};

// Buffer-level decoder: nullopt means "need more bytes" (not an error). The
// framing byte is checked as soon as one byte is present, the length cap
// (16 MiB) from the header alone; `buffer` is never modified.
FrameResult<std::optional<DecodedFrame>> TryDecodeFrame(std::span<const std::uint8_t> buffer);

}  // namespace rp::transport
