// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include <boost/system/error_code.hpp>

namespace rp::platform {

// The 8-byte header of a HandleChannel message: [u32 LE byte_count]
// [u32 LE handle_count]. Shared by both platforms' channel code.
struct ChannelHeader {
  static constexpr std::size_t kSize = 8;
  std::uint32_t byte_count = 0;
  std::uint32_t handle_count = 0;

  std::array<std::uint8_t, kSize> Encode() const;
  static ChannelHeader Decode(std::span<const std::uint8_t, kSize> bytes);
  // kMessageTooLarge / kMalformedMessage (too many handles) when the header
  // breaks the receiver's limits.
  boost::system::error_code Check(std::size_t max_bytes, std::size_t max_handles) const;
};

}  // namespace rp::platform
