// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// The buffer-level frame codec (spec §1.2, §1.4): header layout, caps, and
// the order in which TryDecodeFrame reports "need more" and errors.

#include "rp/transport/framing.h"

#include <stdexcept>

#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include "unit/wire_bytes.h"

namespace rp::transport {
namespace {

using ::rp::test::HexToBytes;
using ::rp::test::ToBytes;
using ::rp::test::ToHex;

using Bytes = std::vector<std::uint8_t>;

// [01][LE length] for an arbitrary 32-bit length, without a body.
Bytes HeaderOnly(std::uint32_t length) {
  const auto header = EncodeFrameHeader(length);
  return Bytes(header.begin(), header.end());
}

pb::Frame SmallFrame() {
  pb::Frame frame;
  frame.set_envelope_version(1);
  frame.set_payload_protocol(0x7A63);
  frame.set_payload("hello");
  frame.set_request_id(9);
  frame.set_traceparent("tp");
  return frame;
}

// Unwraps a successful, complete decode.
DecodedFrame ExpectFrame(std::span<const std::uint8_t> buffer) {
  auto result = TryDecodeFrame(buffer);
  EXPECT_TRUE(result.has_value()) << result.error().message();
  if (!result.has_value() || !result->has_value()) {
    ADD_FAILURE() << "no complete frame";
    return {};
  }
  return std::move(**result);
}

void ExpectNeedMore(std::span<const std::uint8_t> buffer) {
  auto result = TryDecodeFrame(buffer);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_FALSE(result->has_value()) << "decoded from " << buffer.size() << " bytes";
}

FrameError ExpectError(std::span<const std::uint8_t> buffer) {
  auto result = TryDecodeFrame(buffer);
  EXPECT_TRUE(result.has_error());
  return result.has_error() ? result.error() : FrameError{};
}

TEST(FramingTest, HeaderIsVersionThenLittleEndianLength) {
  EXPECT_EQ(ToHex(HeaderOnly(100)), "0164000000");
  EXPECT_EQ(ToHex(HeaderOnly(0x04030201)), "0101020304");
  EXPECT_EQ(ToHex(HeaderOnly(0)), "0100000000");
  EXPECT_EQ(HeaderOnly(7).size(), kFrameHeaderBytes);
}

TEST(FramingTest, FrameBodyPrependsHeader) {
  Bytes body(1024);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(i & 0xFF);
  auto framed = FrameBody(body);
  ASSERT_TRUE(framed.has_value());
  ASSERT_EQ(framed->size(), kFrameHeaderBytes + 1024);
  EXPECT_EQ((*framed)[0], kFramingVersion);
  EXPECT_EQ(ToHex(Bytes(framed->begin(), framed->begin() + 5)), "0100040000");
  EXPECT_TRUE(std::equal(body.begin(), body.end(), framed->begin() + 5));
}

TEST(FramingTest, EmptyBodyIsJustTheHeader) {
  auto framed = FrameBody({});
  ASSERT_TRUE(framed.has_value());
  EXPECT_EQ(ToHex(*framed), "0100000000");

  auto encoded = EncodeFrame(pb::Frame());
  ASSERT_TRUE(encoded.has_value());
  EXPECT_EQ(ToHex(*encoded), "0100000000");
}

TEST(FramingTest, FrameBodyAcceptsExactlyTheCap) {
  Bytes body(kMaxFrameBytes);
  auto framed = FrameBody(body);
  ASSERT_TRUE(framed.has_value());
  EXPECT_EQ(framed->size(), kFrameHeaderBytes + kMaxFrameBytes);
}

TEST(FramingTest, FrameBodyRefusesOverTheCap) {
  Bytes body(kMaxFrameBytes + 1);
  auto framed = FrameBody(body);
  ASSERT_TRUE(framed.has_error());
  EXPECT_EQ(framed.error(), FrameError::TooLarge(16777217, 16777216));
  EXPECT_EQ(framed.error().kind, FrameError::Kind::kFrameTooLarge);
  EXPECT_EQ(framed.error().body_length, 16777217u);
  EXPECT_EQ(framed.error().cap, 16777216u);
}

TEST(FramingTest, EncodeFrameRefusesOversizedFrame) {
  pb::Frame frame;
  frame.set_payload(std::string(kMaxFrameBytes, 'x'));
  const std::size_t encoded_size = frame.ByteSizeLong();
  ASSERT_GT(encoded_size, kMaxFrameBytes);
  auto framed = EncodeFrame(frame);
  ASSERT_TRUE(framed.has_error());
  EXPECT_EQ(framed.error(), FrameError::TooLarge(encoded_size, kMaxFrameBytes));
}

TEST(FramingTest, EncodeFrameMatchesFrameBodyOfSerialization) {
  const pb::Frame frame = SmallFrame();
  auto framed = EncodeFrame(frame);
  ASSERT_TRUE(framed.has_value());
  auto expected = FrameBody(ToBytes(SerializeDeterministic(frame)));
  ASSERT_TRUE(expected.has_value());
  EXPECT_EQ(*framed, *expected);
}

TEST(FramingTest, EmptyBufferNeedsMore) { ExpectNeedMore({}); }

TEST(FramingTest, WrongFramingByteFailsWithOneByte) {
  const Bytes one = {0x02};
  const FrameError error = ExpectError(one);
  EXPECT_EQ(error, FrameError::UnsupportedFramingVersion(2));
  EXPECT_EQ(error.got, 2);
}

TEST(FramingTest, WrongFramingByteFailsWithFullHeader) {
  EXPECT_EQ(ExpectError(HexToBytes("0200000000")), FrameError::UnsupportedFramingVersion(2));
  EXPECT_EQ(ExpectError(HexToBytes("00")), FrameError::UnsupportedFramingVersion(0));
  EXPECT_EQ(ExpectError(HexToBytes("ff")), FrameError::UnsupportedFramingVersion(0xFF));
}

TEST(FramingTest, PartialHeaderNeedsMore) {
  const Bytes full = HexToBytes("0105000000");
  for (std::size_t n = 1; n < kFrameHeaderBytes; ++n) {
    ExpectNeedMore(std::span(full).first(n));
  }
}

TEST(FramingTest, EveryStrictPrefixNeedsMore) {
  auto framed = EncodeFrame(SmallFrame());
  ASSERT_TRUE(framed.has_value());
  for (std::size_t n = 0; n < framed->size(); ++n) {
    ExpectNeedMore(std::span(*framed).first(n));
  }
  const DecodedFrame decoded = ExpectFrame(*framed);
  EXPECT_EQ(decoded.consumed, framed->size());
}

TEST(FramingTest, OverCapLengthFailsFromHeaderAlone) {
  const FrameError error = ExpectError(HeaderOnly(kMaxFrameBytes + 1));
  EXPECT_EQ(error, FrameError::TooLarge(16777217, 16777216));
  EXPECT_EQ(ExpectError(HeaderOnly(0xFFFFFFFF)), FrameError::TooLarge(0xFFFFFFFF, kMaxFrameBytes));
}

TEST(FramingTest, LengthEqualToCapWaitsForTheBody) {
  ExpectNeedMore(HeaderOnly(kMaxFrameBytes));
}

TEST(FramingTest, TrailingBytesAreLeftForTheNextCall) {
  pb::Frame second = SmallFrame();
  second.set_request_id(10);
  auto first_bytes = EncodeFrame(SmallFrame());
  auto second_bytes = EncodeFrame(second);
  ASSERT_TRUE(first_bytes.has_value());
  ASSERT_TRUE(second_bytes.has_value());
  Bytes buffer = *first_bytes;
  buffer.insert(buffer.end(), second_bytes->begin(), second_bytes->end());
  const Bytes before = buffer;

  const DecodedFrame one = ExpectFrame(buffer);
  const std::size_t body_length = first_bytes->size() - kFrameHeaderBytes;
  EXPECT_EQ(one.consumed, kFrameHeaderBytes + body_length);
  EXPECT_EQ(one.frame.request_id(), 9u);
  EXPECT_EQ(buffer, before) << "the decoder must not modify its input";

  const DecodedFrame two = ExpectFrame(std::span(buffer).subspan(one.consumed));
  EXPECT_EQ(two.consumed, second_bytes->size());
  EXPECT_EQ(two.frame.request_id(), 10u);
  EXPECT_EQ(two.frame.payload(), "hello");
}

TEST(FramingTest, TrailingPartialHeaderAfterFrame) {
  auto framed = EncodeFrame(SmallFrame());
  ASSERT_TRUE(framed.has_value());
  Bytes buffer = *framed;
  buffer.push_back(0x01);
  buffer.push_back(0x02);
  const DecodedFrame decoded = ExpectFrame(buffer);
  EXPECT_EQ(decoded.consumed, framed->size());
  ExpectNeedMore(std::span(buffer).subspan(decoded.consumed));
}

TEST(FramingTest, GarbageBodyIsADecodeError) {
  // Wire type 7 does not exist.
  EXPECT_EQ(ExpectError(HexToBytes("010100000007")), FrameError::Decode());
  // A length-delimited field that runs past the body.
  EXPECT_EQ(ExpectError(HexToBytes("01020000002205")), FrameError::Decode());
  // traceparent (field 8, string) holding invalid UTF-8; prost refuses it too.
  EXPECT_EQ(ExpectError(HexToBytes("0103000000" "4201ff")), FrameError::Decode());
}

TEST(FramingTest, ZeroLengthBodyDecodesToDefaultFrame) {
  const DecodedFrame decoded = ExpectFrame(HexToBytes("0100000000"));
  EXPECT_EQ(decoded.consumed, kFrameHeaderBytes);
  EXPECT_EQ(decoded.frame.envelope_version(), 0u);
  EXPECT_EQ(decoded.frame.kind(), pb::FRAME_KIND_REQUEST);
  EXPECT_EQ(decoded.frame.payload_protocol(), 0u);
  EXPECT_TRUE(decoded.frame.payload().empty());
  EXPECT_EQ(decoded.frame.ByteSizeLong(), 0u);
}

TEST(FramingTest, DecodeKeepsEveryField) {
  const pb::Frame frame = SmallFrame();
  auto framed = EncodeFrame(frame);
  ASSERT_TRUE(framed.has_value());
  const DecodedFrame decoded = ExpectFrame(*framed);
  EXPECT_EQ(SerializeDeterministic(decoded.frame), SerializeDeterministic(frame));
}

TEST(FramingTest, SerializeDeterministicSortsMapKeys) {
  pb::Refused refused;
  (*refused.mutable_details())["b"] = "2";
  (*refused.mutable_details())["a"] = "1";
  // Field 5 entries, key "a" before key "b".
  EXPECT_EQ(ToHex(SerializeDeterministic(refused)),
            "2a060a0161120131"
            "2a060a0162120132");
}

TEST(FramingTest, ErrorMessagesNameWhereEofHappened) {
  EXPECT_NE(FrameError::Eof(FrameError::EofAt::kFramingByte).message().find("framing"),
            std::string::npos);
  EXPECT_NE(FrameError::Eof(FrameError::EofAt::kLengthHeader).message().find("length"),
            std::string::npos);
  EXPECT_NE(FrameError::Eof(FrameError::EofAt::kBody).message().find("body"),
            std::string::npos);
  EXPECT_EQ(FrameError::Eof(FrameError::EofAt::kFramingByte).message(),
            "unexpected EOF while reading framing byte");
  EXPECT_EQ(FrameError::Eof(FrameError::EofAt::kLengthHeader).message(),
            "unexpected EOF while reading body length header");
  EXPECT_EQ(FrameError::Eof(FrameError::EofAt::kBody).message(),
            "unexpected EOF while reading frame body");
}

TEST(FramingTest, ErrorMessagesCarryTheNumbers) {
  EXPECT_EQ(FrameError::UnsupportedFramingVersion(2).message(),
            "unsupported framing version 2 (expected 1)");
  EXPECT_EQ(FrameError::TooLarge(65537, 65536).message(),
            "frame body of 65537 bytes exceeds the cap of 65536 bytes");
  EXPECT_EQ(FrameError::Decode().message(), "frame body is not a valid Frame");
  const auto io = FrameError::Io(make_error_code(boost::system::errc::connection_reset));
  EXPECT_EQ(io.message().rfind("I/O error: ", 0), 0u);
}

TEST(FramingTest, ErrorsCompareByContent) {
  EXPECT_EQ(FrameError::Eof(FrameError::EofAt::kBody), FrameError::Eof(FrameError::EofAt::kBody));
  EXPECT_NE(FrameError::Eof(FrameError::EofAt::kBody),
            FrameError::Eof(FrameError::EofAt::kLengthHeader));
  EXPECT_NE(FrameError::TooLarge(2, 1), FrameError::TooLarge(3, 1));
}

TEST(FramingTest, ValueOnErrorThrows) {
  FrameResult<int> decode_failure = FrameError::Decode();
  EXPECT_THROW((void)decode_failure.value(), std::runtime_error);

  FrameResult<int> io_failure =
      FrameError::Io(make_error_code(boost::system::errc::connection_reset));
  EXPECT_THROW((void)io_failure.value(), boost::system::system_error);
}

}  // namespace
}  // namespace rp::transport
