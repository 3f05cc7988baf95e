// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// The seven frozen wire vectors of spec §2.6: our encoder must produce these
// bytes exactly, and our decoder must read every field back from them.

#include <algorithm>

#include <gtest/gtest.h>

#include "broker_v1_envelope.pb.h"
#include "rp/transport/framing.h"
#include "unit/wire_bytes.h"

namespace rp::transport {
namespace {

using ::rp::test::HexToBytes;
using ::rp::test::HexToString;
using ::rp::test::ToHex;

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr std::uint64_t kTopAndBottomBit = 0x8000000000000001ULL;

constexpr char kGoldenFrame[] =
    "080110011881da022204deadbeef282a30013880d095ffbc31423730302d3061"
    "6637363531393136636434336464383434386562323131633830333139632d62"
    "3761643662373136393230333333312d30314a0472703d31";
constexpr char kGoldenHello[] =
    "080110031a0b6275696c642d6361636865220a312e322e332d72632e312a0633"
    "2e302e313530818080808080808080013a0301020342087265712d3030303150"
    "92215a0f72756e6e696e672d70726f636573736206332e302e31356a02aabb72"
    "01cc781e";
constexpr char kGoldenNegotiated[] =
    "08021206332e302e31351a0c72702d6261636b656e642d372202773122027732"
    "2881808080808080808001303c3a031020304063";
constexpr char kGoldenRefused[] =
    "0a1376657273696f6e2062656c6f7720666c6f6f721002180320082a0a0a0566"
    "6c6f6f7212013230dc0b";
constexpr char kGoldenHelloReply[] =
    "0a3408021206332e302e31351a0c72702d6261636b656e642d37220277312202"
    "77322881808080808080808001303c3a031020304063";
constexpr char kGoldenHandoffOffer[] =
    "08ec171210000102030405060708090a0b0c0d0e0f1a0b6275696c642d636163"
    "68652007";
constexpr char kGoldenHandoffAck[] = "0a10000102030405060708090a0b0c0d0e0f10011a026f6b2007";

std::string Token16() {
  std::string token;
  for (int i = 0; i < 16; ++i) token.push_back(static_cast<char>(i));
  return token;
}

pb::Frame SampleFrame() {
  pb::Frame frame;
  frame.set_envelope_version(1);
  frame.set_kind(pb::FRAME_KIND_RESPONSE);
  frame.set_payload_protocol(0xAD01);
  frame.set_payload(HexToString("deadbeef"));
  frame.set_request_id(42);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_ZSTD);
  frame.set_deadline_unix_ms(1700000000000ULL);
  frame.set_traceparent(kTraceparent);
  frame.set_tracestate("rp=1");
  return frame;
}

pb::Hello SampleHello() {
  pb::Hello hello;
  hello.set_client_min_protocol(1);
  hello.set_client_max_protocol(3);
  hello.set_service_name("build-cache");
  hello.set_wanted_version("1.2.3-rc.1");
  hello.set_client_version("3.0.15");
  hello.set_client_capabilities(kTopAndBottomBit);
  hello.set_auth_token(HexToString("010203"));
  hello.set_request_id("req-0001");
  hello.set_connection_id(0);
  hello.set_peer_pid(4242);
  hello.set_client_lib_name("running-process");
  hello.set_client_lib_version("3.0.15");
  hello.set_peer_attestation_nonce(HexToString("aabb"));
  hello.set_capability_token(HexToString("cc"));
  hello.set_client_keepalive_secs(30);
  return hello;
}

pb::Negotiated SampleNegotiated() {
  pb::Negotiated negotiated;
  negotiated.set_negotiated_protocol(2);
  negotiated.set_daemon_version("3.0.15");
  negotiated.set_backend_pipe("rp-backend-7");
  negotiated.add_warnings("w1");
  negotiated.add_warnings("w2");
  negotiated.set_server_capabilities(kTopAndBottomBit);
  negotiated.set_keepalive_interval_secs(60);
  negotiated.set_handle_passed_token(HexToString("102030"));
  negotiated.set_connection_id(99);
  return negotiated;
}

pb::Refused SampleRefused() {
  pb::Refused refused;
  refused.set_reason("version below floor");
  refused.set_daemon_min_protocol(2);
  refused.set_daemon_max_protocol(3);
  refused.set_code(pb::ERROR_VERSION_BLOCKED);
  (*refused.mutable_details())["floor"] = "2";
  refused.set_retry_after_ms(1500);
  return refused;
}

pb::HandoffOffer SampleOffer() {
  pb::HandoffOffer offer;
  offer.set_handle_value(0xBEC);
  offer.set_token(Token16());
  offer.set_service_name("build-cache");
  offer.set_correlation_id(7);
  return offer;
}

pb::HandoffAck SampleAck() {
  pb::HandoffAck ack;
  ack.set_token(Token16());
  ack.set_accepted(true);
  ack.set_error_detail("ok");
  ack.set_correlation_id(7);
  return ack;
}

template <class Message>
Message Parse(const std::string& bytes) {
  Message message;
  EXPECT_TRUE(message.ParseFromString(bytes));
  return message;
}

void ExpectSampleHello(const pb::Hello& hello) {
  EXPECT_EQ(hello.client_min_protocol(), 1u);
  EXPECT_EQ(hello.client_max_protocol(), 3u);
  EXPECT_EQ(hello.service_name(), "build-cache");
  EXPECT_EQ(hello.wanted_version(), "1.2.3-rc.1");
  EXPECT_EQ(hello.client_version(), "3.0.15");
  EXPECT_EQ(hello.client_capabilities(), kTopAndBottomBit);
  EXPECT_EQ(hello.auth_token(), HexToString("010203"));
  EXPECT_EQ(hello.request_id(), "req-0001");
  EXPECT_EQ(hello.connection_id(), 0u);
  EXPECT_EQ(hello.peer_pid(), 4242u);
  EXPECT_EQ(hello.client_lib_name(), "running-process");
  EXPECT_EQ(hello.client_lib_version(), "3.0.15");
  EXPECT_EQ(hello.peer_attestation_nonce(), HexToString("aabb"));
  EXPECT_EQ(hello.capability_token(), HexToString("cc"));
  EXPECT_EQ(hello.client_keepalive_secs(), 30u);
}

void ExpectSampleNegotiated(const pb::Negotiated& negotiated) {
  EXPECT_EQ(negotiated.negotiated_protocol(), 2u);
  EXPECT_EQ(negotiated.daemon_version(), "3.0.15");
  EXPECT_EQ(negotiated.backend_pipe(), "rp-backend-7");
  ASSERT_EQ(negotiated.warnings_size(), 2);
  EXPECT_EQ(negotiated.warnings(0), "w1");
  EXPECT_EQ(negotiated.warnings(1), "w2");
  EXPECT_EQ(negotiated.server_capabilities(), kTopAndBottomBit);
  EXPECT_EQ(negotiated.keepalive_interval_secs(), 60u);
  EXPECT_EQ(negotiated.handle_passed_token(), HexToString("102030"));
  EXPECT_EQ(negotiated.connection_id(), 99u);
}

TEST(GoldenVectorsTest, FrameEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleFrame());
  EXPECT_EQ(bytes.size(), 88u);
  EXPECT_EQ(ToHex(bytes), kGoldenFrame);
}

TEST(GoldenVectorsTest, FrameDecodesEveryField) {
  const auto frame = Parse<pb::Frame>(HexToString(kGoldenFrame));
  EXPECT_EQ(frame.envelope_version(), 1u);
  EXPECT_EQ(frame.kind(), pb::FRAME_KIND_RESPONSE);
  EXPECT_EQ(frame.payload_protocol(), 0xAD01u);
  EXPECT_EQ(frame.payload(), HexToString("deadbeef"));
  EXPECT_EQ(frame.request_id(), 42u);
  EXPECT_EQ(frame.payload_encoding(), pb::PAYLOAD_ENCODING_ZSTD);
  EXPECT_EQ(frame.deadline_unix_ms(), 1700000000000ULL);
  EXPECT_EQ(frame.traceparent(), kTraceparent);
  EXPECT_EQ(frame.tracestate(), "rp=1");
}

TEST(GoldenVectorsTest, HelloEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleHello());
  EXPECT_EQ(bytes.size(), 100u);
  EXPECT_EQ(ToHex(bytes), kGoldenHello);
}

TEST(GoldenVectorsTest, HelloDecodesEveryField) {
  ExpectSampleHello(Parse<pb::Hello>(HexToString(kGoldenHello)));
}

TEST(GoldenVectorsTest, HelloWithUnknownField21StillDecodes) {
  // Field 21, varint, value 1: tag (21 << 3 | 0) = 168 = a8 01.
  const std::string bytes = HexToString(kGoldenHello) + HexToString("a80101");
  pb::Hello hello;
  ASSERT_TRUE(hello.ParseFromString(bytes));
  ExpectSampleHello(hello);
}

TEST(GoldenVectorsTest, FramedHelloHeader) {
  const auto body = HexToBytes(kGoldenHello);
  ASSERT_EQ(body.size(), 100u);
  const auto header = EncodeFrameHeader(static_cast<std::uint32_t>(body.size()));
  EXPECT_EQ(ToHex(std::vector<std::uint8_t>(header.begin(), header.end())), "0164000000");

  auto framed = FrameBody(body);
  ASSERT_TRUE(framed.has_value());
  ASSERT_EQ(framed->size(), 105u);
  EXPECT_EQ(ToHex(std::vector<std::uint8_t>(framed->begin(), framed->begin() + 5)),
            "0164000000");
  EXPECT_TRUE(std::equal(body.begin(), body.end(), framed->begin() + 5));
}

TEST(GoldenVectorsTest, NegotiatedEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleNegotiated());
  EXPECT_EQ(bytes.size(), 52u);
  EXPECT_EQ(ToHex(bytes), kGoldenNegotiated);
}

TEST(GoldenVectorsTest, NegotiatedDecodesEveryField) {
  ExpectSampleNegotiated(Parse<pb::Negotiated>(HexToString(kGoldenNegotiated)));
}

TEST(GoldenVectorsTest, RefusedEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleRefused());
  EXPECT_EQ(bytes.size(), 42u);
  EXPECT_EQ(ToHex(bytes), kGoldenRefused);
}

TEST(GoldenVectorsTest, RefusedDecodesEveryField) {
  const auto refused = Parse<pb::Refused>(HexToString(kGoldenRefused));
  EXPECT_EQ(refused.reason(), "version below floor");
  EXPECT_EQ(refused.daemon_min_protocol(), 2u);
  EXPECT_EQ(refused.daemon_max_protocol(), 3u);
  EXPECT_EQ(refused.code(), pb::ERROR_VERSION_BLOCKED);
  ASSERT_EQ(refused.details_size(), 1);
  ASSERT_EQ(refused.details().count("floor"), 1u);
  EXPECT_EQ(refused.details().at("floor"), "2");
  EXPECT_EQ(refused.retry_after_ms(), 1500u);
}

TEST(GoldenVectorsTest, HelloReplyNegotiatedEncodesExactly) {
  pb::HelloReply reply;
  *reply.mutable_negotiated() = SampleNegotiated();
  const std::string bytes = SerializeDeterministic(reply);
  EXPECT_EQ(bytes.size(), 54u);
  EXPECT_EQ(ToHex(bytes), kGoldenHelloReply);
}

TEST(GoldenVectorsTest, HelloReplyNegotiatedDecodesEveryField) {
  const auto reply = Parse<pb::HelloReply>(HexToString(kGoldenHelloReply));
  ASSERT_EQ(reply.result_case(), pb::HelloReply::kNegotiated);
  ExpectSampleNegotiated(reply.negotiated());
}

TEST(GoldenVectorsTest, HandoffOfferEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleOffer());
  EXPECT_EQ(bytes.size(), 36u);
  EXPECT_EQ(ToHex(bytes), kGoldenHandoffOffer);
}

TEST(GoldenVectorsTest, HandoffOfferDecodesEveryField) {
  const auto offer = Parse<pb::HandoffOffer>(HexToString(kGoldenHandoffOffer));
  EXPECT_EQ(offer.handle_value(), 0xBECu);
  EXPECT_EQ(offer.token(), Token16());
  EXPECT_EQ(offer.service_name(), "build-cache");
  EXPECT_EQ(offer.correlation_id(), 7u);
}

TEST(GoldenVectorsTest, HandoffAckEncodesExactly) {
  const std::string bytes = SerializeDeterministic(SampleAck());
  EXPECT_EQ(bytes.size(), 26u);
  EXPECT_EQ(ToHex(bytes), kGoldenHandoffAck);
}

TEST(GoldenVectorsTest, HandoffAckDecodesEveryField) {
  const auto ack = Parse<pb::HandoffAck>(HexToString(kGoldenHandoffAck));
  EXPECT_EQ(ack.token(), Token16());
  EXPECT_TRUE(ack.accepted());
  EXPECT_EQ(ack.error_detail(), "ok");
  EXPECT_EQ(ack.correlation_id(), 7u);
}

TEST(GoldenVectorsTest, FramedGoldenFrameDecodesThroughTheCodec) {
  auto framed = EncodeFrame(SampleFrame());
  ASSERT_TRUE(framed.has_value());
  EXPECT_EQ(ToHex(*framed), "0158000000" + std::string(kGoldenFrame));
  auto decoded = TryDecodeFrame(*framed);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((*decoded)->consumed, 93u);
  EXPECT_EQ(SerializeDeterministic((*decoded)->frame), HexToString(kGoldenFrame));
}

}  // namespace
}  // namespace rp::transport
