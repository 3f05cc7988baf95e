// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "rp/transport/framing.h"

namespace rp::transport {

// The first envelope rule a frame breaks (spec §1.5), with what was expected
// and what arrived.
struct EnvelopeViolation {
  enum class Rule { kEnvelopeVersion, kKind, kPayloadProtocol, kPayloadEncoding };
  Rule rule = Rule::kEnvelopeVersion;
  std::uint64_t expected = 0;
  std::uint64_t actual = 0;
  std::string message() const;
  bool operator==(const EnvelopeViolation&) const = default;
};

// Checks, in this order, envelope_version == 1, kind (unknown numeric kinds
// fail), payload_protocol, and payload_encoding == NONE. Returns the first
// violation, or nullopt when the envelope is acceptable.
std::optional<EnvelopeViolation> ValidateEnvelope(const pb::Frame& frame,
                                                  pb::FrameKind expected_kind,
                                                  std::uint32_t expected_payload_protocol);

// envelope_version 1, REQUEST, request_id 0, encoding NONE, no deadline.
pb::Frame MakeRequest(std::uint32_t payload_protocol, std::string payload,
                      std::uint64_t request_id = 0);
// RESPONSE echoing payload_protocol, request_id, traceparent, tracestate.
pb::Frame MakeResponseTo(const pb::Frame& request, std::string payload);
// EVENT frame (the handoff-ready notice uses it).
pb::Frame MakeEvent(std::uint32_t payload_protocol, std::string payload,
                    std::uint64_t request_id);

}  // namespace rp::transport
