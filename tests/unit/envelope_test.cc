// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Envelope rules (spec §1.5) and the request/response/event constructors
// (spec §1.4).

#include "rp/transport/envelope.h"

#include <gtest/gtest.h>

#include "unit/wire_bytes.h"

namespace rp::transport {
namespace {

using Rule = EnvelopeViolation::Rule;
using ::rp::test::HexToString;

pb::Frame GoodHelloFrame() { return MakeRequest(kControlPayloadProtocol, "hello-bytes", 1); }

EnvelopeViolation ExpectViolation(const pb::Frame& frame, pb::FrameKind kind,
                                  std::uint32_t protocol) {
  auto violation = ValidateEnvelope(frame, kind, protocol);
  EXPECT_TRUE(violation.has_value());
  return violation.value_or(EnvelopeViolation{});
}

TEST(EnvelopeTest, AcceptsAWellFormedFrame) {
  EXPECT_EQ(ValidateEnvelope(GoodHelloFrame(), pb::FRAME_KIND_REQUEST, kControlPayloadProtocol),
            std::nullopt);
}

TEST(EnvelopeTest, AcceptsAHelloWhoseDefaultsAreAbsentOnTheWire) {
  // envelope_version = 1 only: REQUEST and protocol 0 are proto3 defaults.
  pb::Frame frame;
  ASSERT_TRUE(frame.ParseFromString(HexToString("0801")));
  EXPECT_EQ(ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol),
            std::nullopt);
}

TEST(EnvelopeTest, RejectsOtherEnvelopeVersions) {
  for (std::uint32_t version : {0u, 2u, 0xFFFFFFFFu}) {
    pb::Frame frame = GoodHelloFrame();
    frame.set_envelope_version(version);
    const auto violation =
        ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol);
    EXPECT_EQ(violation.rule, Rule::kEnvelopeVersion);
    EXPECT_EQ(violation.expected, 1u);
    EXPECT_EQ(violation.actual, version);
  }
}

TEST(EnvelopeTest, RejectsTheWrongKind) {
  pb::Frame frame = GoodHelloFrame();
  frame.set_kind(pb::FRAME_KIND_RESPONSE);
  const auto violation = ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol);
  EXPECT_EQ(violation, (EnvelopeViolation{Rule::kKind, 0, 1}));

  frame.set_kind(pb::FRAME_KIND_CANCEL);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_EVENT, kControlPayloadProtocol),
            (EnvelopeViolation{Rule::kKind, 2, 3}));
}

TEST(EnvelopeTest, RejectsAnUnknownNumericKind) {
  // envelope_version 1, kind 99 (not a FrameKind): proto3 keeps the number.
  pb::Frame frame;
  ASSERT_TRUE(frame.ParseFromString(HexToString("08011063")));
  EXPECT_EQ(static_cast<int>(frame.kind()), 99);
  const auto violation = ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol);
  EXPECT_EQ(violation.rule, Rule::kKind);
  EXPECT_EQ(violation.expected, 0u);
  EXPECT_EQ(violation.actual, 99u);
  EXPECT_FALSE(violation.message().empty());
}

TEST(EnvelopeTest, RejectsTheWrongPayloadProtocol) {
  const pb::Frame frame = MakeRequest(kAdminPayloadProtocol, "", 1);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol),
            (EnvelopeViolation{Rule::kPayloadProtocol, 0x0000, 0xAD01}));
  EXPECT_EQ(ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST, kAdminPayloadProtocol), std::nullopt);
}

TEST(EnvelopeTest, RejectsEveryCompressedEncoding) {
  for (pb::PayloadEncoding encoding :
       {pb::PAYLOAD_ENCODING_ZSTD, pb::PAYLOAD_ENCODING_SNAPPY, pb::PAYLOAD_ENCODING_LZ4}) {
    pb::Frame frame = GoodHelloFrame();
    frame.set_payload_encoding(encoding);
    EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol),
              (EnvelopeViolation{Rule::kPayloadEncoding, 0, static_cast<std::uint64_t>(encoding)}));
  }
}

TEST(EnvelopeTest, VersionIsCheckedBeforeProtocol) {
  pb::Frame frame = GoodHelloFrame();
  frame.set_envelope_version(2);
  frame.set_payload_protocol(0x1234);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, kControlPayloadProtocol).rule,
            Rule::kEnvelopeVersion);
}

TEST(EnvelopeTest, FirstFailureWinsInOrder) {
  // Everything wrong: version reported.
  pb::Frame frame = GoodHelloFrame();
  frame.set_envelope_version(7);
  frame.set_kind(pb::FRAME_KIND_EVENT);
  frame.set_payload_protocol(0x7A63);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_LZ4);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, 0).rule, Rule::kEnvelopeVersion);
  // Fix the version: kind next.
  frame.set_envelope_version(1);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, 0).rule, Rule::kKind);
  // Fix the kind: protocol next.
  frame.set_kind(pb::FRAME_KIND_REQUEST);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, 0).rule, Rule::kPayloadProtocol);
  // Fix the protocol: encoding last.
  frame.set_payload_protocol(0);
  EXPECT_EQ(ExpectViolation(frame, pb::FRAME_KIND_REQUEST, 0).rule, Rule::kPayloadEncoding);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_NONE);
  EXPECT_EQ(ValidateEnvelope(frame, pb::FRAME_KIND_REQUEST, 0), std::nullopt);
}

TEST(EnvelopeTest, ViolationMessagesAreDistinct) {
  const EnvelopeViolation version{Rule::kEnvelopeVersion, 1, 2};
  const EnvelopeViolation kind{Rule::kKind, 0, 1};
  const EnvelopeViolation protocol{Rule::kPayloadProtocol, 0, 0xAD01};
  const EnvelopeViolation encoding{Rule::kPayloadEncoding, 0, 1};
  EXPECT_NE(version.message().find("envelope_version"), std::string::npos);
  EXPECT_NE(kind.message().find("kind"), std::string::npos);
  EXPECT_NE(protocol.message().find("0xAD01"), std::string::npos);
  EXPECT_NE(encoding.message().find("payload_encoding"), std::string::npos);
}

TEST(EnvelopeTest, MakeRequestDefaults) {
  const pb::Frame frame = MakeRequest(kZccachePayloadProtocol, "payload");
  EXPECT_EQ(frame.envelope_version(), 1u);
  EXPECT_EQ(frame.kind(), pb::FRAME_KIND_REQUEST);
  EXPECT_EQ(frame.payload_protocol(), 0x7A63u);
  EXPECT_EQ(frame.payload(), "payload");
  EXPECT_EQ(frame.request_id(), 0u);
  EXPECT_EQ(frame.payload_encoding(), pb::PAYLOAD_ENCODING_NONE);
  EXPECT_EQ(frame.deadline_unix_ms(), 0u);
  EXPECT_TRUE(frame.traceparent().empty());
  EXPECT_TRUE(frame.tracestate().empty());
  EXPECT_EQ(MakeRequest(kZccachePayloadProtocol, "", 77).request_id(), 77u);
}

TEST(EnvelopeTest, MakeResponseToEchoesTheRequest) {
  pb::Frame request = MakeRequest(kZccachePayloadProtocol, "question", 41);
  request.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  request.set_tracestate("rp=1");
  request.set_deadline_unix_ms(123);
  request.set_payload_encoding(pb::PAYLOAD_ENCODING_ZSTD);

  const pb::Frame response = MakeResponseTo(request, "answer");
  EXPECT_EQ(response.envelope_version(), 1u);
  EXPECT_EQ(response.kind(), pb::FRAME_KIND_RESPONSE);
  EXPECT_EQ(response.payload_protocol(), 0x7A63u);
  EXPECT_EQ(response.payload(), "answer");
  EXPECT_EQ(response.request_id(), 41u);
  EXPECT_EQ(response.traceparent(), request.traceparent());
  EXPECT_EQ(response.tracestate(), "rp=1");
  // Not echoed.
  EXPECT_EQ(response.payload_encoding(), pb::PAYLOAD_ENCODING_NONE);
  EXPECT_EQ(response.deadline_unix_ms(), 0u);
  EXPECT_EQ(ValidateEnvelope(response, pb::FRAME_KIND_RESPONSE, kZccachePayloadProtocol),
            std::nullopt);
}

TEST(EnvelopeTest, MakeEventFields) {
  const pb::Frame event = MakeEvent(kHandoffPayloadProtocol, "ack", 7);
  EXPECT_EQ(event.envelope_version(), 1u);
  EXPECT_EQ(event.kind(), pb::FRAME_KIND_EVENT);
  EXPECT_EQ(event.payload_protocol(), 0xD0FFu);
  EXPECT_EQ(event.payload(), "ack");
  EXPECT_EQ(event.request_id(), 7u);
  EXPECT_EQ(event.payload_encoding(), pb::PAYLOAD_ENCODING_NONE);
  EXPECT_EQ(event.deadline_unix_ms(), 0u);
  EXPECT_TRUE(event.traceparent().empty());
  EXPECT_EQ(ValidateEnvelope(event, pb::FRAME_KIND_EVENT, kHandoffPayloadProtocol), std::nullopt);
}

}  // namespace
}  // namespace rp::transport
