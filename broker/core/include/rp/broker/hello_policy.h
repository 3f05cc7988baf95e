// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "broker_v1_admin.pb.h"
#include "broker_v1_envelope.pb.h"
#include "broker_v1_service_def.pb.h"
#include "rp/broker/refusals.h"

// The pure parts of the Hello path: checks that need no I/O.
namespace rp::broker {

// Envelope of a Hello frame, then the Hello payload (spec §1.5, §3.1 A).
// On success `hello` holds the decoded payload.
std::optional<Refusal> DecodeHelloFrame(const pb::Frame& frame, pb::Hello* hello);

// Shape checks B1-B6 in order (spec §3.1 B). `os_pid` is the kernel-verified
// peer pid (0 when unknown).
std::optional<Refusal> ValidateHelloShape(const pb::Hello& hello, std::uint32_t os_pid);

// Semantic-version precedence (semver §11: numeric core, then a release
// ranks above its pre-releases, then dot-separated identifiers). nullopt
// when either side does not parse.
std::optional<int> CompareVersions(const std::string& a, const std::string& b);

// Version floor and allow-list (spec §3.5, with real semver precedence; an
// unparsable comparison is a refusal, not a pass).
std::optional<Refusal> CheckVersionPolicy(const std::string& wanted,
                                          const pb::ServiceDefinition& definition);

// keepalive_interval_secs for a Negotiated: the client's value, else 1800.
std::uint64_t NegotiatedKeepalive(const pb::Hello& hello);

}  // namespace rp::broker
