// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
//
// Envelope rules shared by every v1 call site (spec §1.5) and the three
// frame shapes the broker, backends and clients build (spec §1.4).

#include "rp/transport/envelope.h"

#include <cstdio>
#include <utility>

namespace rp::transport {
namespace {

// Our own spelling of FrameKind, so unknown values print as numbers instead
// of depending on the lite runtime's name tables.
std::string KindName(std::uint64_t kind) {
  switch (kind) {
    case pb::FRAME_KIND_REQUEST:
      return "REQUEST";
    case pb::FRAME_KIND_RESPONSE:
      return "RESPONSE";
    case pb::FRAME_KIND_EVENT:
      return "EVENT";
    case pb::FRAME_KIND_CANCEL:
      return "CANCEL";
    default:
      return "unknown kind " + std::to_string(kind);
  }
}

std::string ProtocolHex(std::uint64_t protocol) {
  char text[32];
  std::snprintf(text, sizeof(text), "0x%04llX", static_cast<unsigned long long>(protocol));
  return text;
}

EnvelopeViolation Violation(EnvelopeViolation::Rule rule, std::uint64_t expected,
                            std::uint64_t actual) {
  EnvelopeViolation violation;
  violation.rule = rule;
  violation.expected = expected;
  violation.actual = actual;
  return violation;
}

}  // namespace

std::string EnvelopeViolation::message() const {
  switch (rule) {
    case Rule::kEnvelopeVersion:
      return "frame envelope_version is " + std::to_string(actual) + ", expected " +
             std::to_string(expected);
    case Rule::kKind:
      return "frame kind is " + KindName(actual) + ", expected " + KindName(expected);
    case Rule::kPayloadProtocol:
      return "frame payload_protocol is " + ProtocolHex(actual) + ", expected " +
             ProtocolHex(expected);
    case Rule::kPayloadEncoding:
      return "frame payload_encoding is " + std::to_string(actual) +
             ", but v1 payloads are never compressed";
  }
  return "frame envelope is invalid";
}

std::optional<EnvelopeViolation> ValidateEnvelope(const pb::Frame& frame,
                                                  pb::FrameKind expected_kind,
                                                  std::uint32_t expected_payload_protocol) {
  using Rule = EnvelopeViolation::Rule;
  if (frame.envelope_version() != kProtocolVersion) {
    return Violation(Rule::kEnvelopeVersion, kProtocolVersion, frame.envelope_version());
  }
  // proto3 enums are open: an unknown number survives parsing and must fail
  // here, not be mistaken for a known kind.
  const int kind = frame.kind();
  if (!pb::FrameKind_IsValid(kind) || kind != expected_kind) {
    return Violation(Rule::kKind, static_cast<std::uint32_t>(expected_kind),
                     static_cast<std::uint32_t>(kind));
  }
  if (frame.payload_protocol() != expected_payload_protocol) {
    return Violation(Rule::kPayloadProtocol, expected_payload_protocol,
                     frame.payload_protocol());
  }
  if (frame.payload_encoding() != pb::PAYLOAD_ENCODING_NONE) {
    return Violation(Rule::kPayloadEncoding, pb::PAYLOAD_ENCODING_NONE,
                     static_cast<std::uint32_t>(frame.payload_encoding()));
  }
  return std::nullopt;
}

pb::Frame MakeRequest(std::uint32_t payload_protocol, std::string payload,
                      std::uint64_t request_id) {
  pb::Frame frame;
  frame.set_envelope_version(kProtocolVersion);
  frame.set_kind(pb::FRAME_KIND_REQUEST);
  frame.set_payload_protocol(payload_protocol);
  frame.set_payload(std::move(payload));
  frame.set_request_id(request_id);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_NONE);
  return frame;
}

pb::Frame MakeResponseTo(const pb::Frame& request, std::string payload) {
  pb::Frame frame;
  frame.set_envelope_version(kProtocolVersion);
  frame.set_kind(pb::FRAME_KIND_RESPONSE);
  frame.set_payload_protocol(request.payload_protocol());
  frame.set_payload(std::move(payload));
  frame.set_request_id(request.request_id());
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_NONE);
  frame.set_traceparent(request.traceparent());
  frame.set_tracestate(request.tracestate());
  return frame;
}

pb::Frame MakeEvent(std::uint32_t payload_protocol, std::string payload,
                    std::uint64_t request_id) {
  pb::Frame frame;
  frame.set_envelope_version(kProtocolVersion);
  frame.set_kind(pb::FRAME_KIND_EVENT);
  frame.set_payload_protocol(payload_protocol);
  frame.set_payload(std::move(payload));
  frame.set_request_id(request_id);
  frame.set_payload_encoding(pb::PAYLOAD_ENCODING_NONE);
  return frame;
}

}  // namespace rp::transport
