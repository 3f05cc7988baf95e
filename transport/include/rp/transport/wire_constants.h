// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

// The frozen numbers of the running-process v1 wire (spec §1.1, §1.7, §3.4).
namespace rp::transport {

// First byte of every frame; distinct from the protocol version below.
inline constexpr std::uint8_t kFramingVersion = 1;
// Frame.envelope_version and the only negotiable protocol.
inline constexpr std::uint32_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderBytes = 5;
// Caps on the body length (header excluded); a length equal to a cap is fine.
inline constexpr std::uint32_t kMaxFrameBytes = 16 * 1024 * 1024;
inline constexpr std::uint32_t kMaxHelloBytes = 64 * 1024;
// Largest encoded LifecycleEvent, so appends stay atomic (PIPE_BUF floor).
inline constexpr std::size_t kMaxLifecycleEventBytes = 512;

// Frame.payload_protocol registry.
inline constexpr std::uint32_t kControlPayloadProtocol = 0x0000;  // Hello / HelloReply
inline constexpr std::uint32_t kAdminPayloadProtocol = 0xAD01;    // AdminRequest / AdminReply
inline constexpr std::uint32_t kProbePayloadProtocol = 0xB232;    // backend identity probe
inline constexpr std::uint32_t kHandoffPayloadProtocol = 0xD0FF;  // HandoffOffer / HandoffAck
inline constexpr std::uint32_t kSessionPayloadProtocol = 0x5350;  // v2 data plane; not first-party v1

inline constexpr std::array<std::uint32_t, 4> kFirstPartyPayloadProtocols = {
    kControlPayloadProtocol, kAdminPayloadProtocol, kProbePayloadProtocol,
    kHandoffPayloadProtocol};

// Registered consumer protocols.
inline constexpr std::uint32_t kZccachePayloadProtocol = 0x7A63;
inline constexpr std::uint32_t kCludPayloadProtocol = 0x7C4C;
inline constexpr std::uint32_t kFbuildPayloadProtocol = 0x7EB1;

constexpr bool IsFirstPartyPayloadProtocol(std::uint32_t id) {
  for (std::uint32_t p : kFirstPartyPayloadProtocols) {
    if (p == id) return true;
  }
  return false;
}
constexpr bool IsRegisteredConsumerId(std::uint32_t id) { return id >= 0x7000 && id <= 0x7EFF; }
constexpr bool IsPrivateUseId(std::uint32_t id) { return id >= 0xF000 && id <= 0xFFFF; }
// What a consumer may claim: not first-party, and in the consumer or private
// range. Use as static_assert(IsValidConsumerPayloadProtocol(kMyId)).
constexpr bool IsValidConsumerPayloadProtocol(std::uint32_t id) {
  return !IsFirstPartyPayloadProtocol(id) && (IsRegisteredConsumerId(id) || IsPrivateUseId(id));
}

// Hello.client_capabilities / Negotiated.server_capabilities bits.
inline constexpr std::uint64_t kCapHandlePassing = 1;

}  // namespace rp::transport
