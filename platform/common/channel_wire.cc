// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "common/channel_wire.h"

#include "rp/platform/errors.h"

namespace rp::platform {
namespace {

void PutU32(std::uint8_t* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t GetU32(const std::uint8_t* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(in[i]) << (8 * i);
  return v;
}

}  // namespace

std::array<std::uint8_t, ChannelHeader::kSize> ChannelHeader::Encode() const {
  std::array<std::uint8_t, kSize> out{};
  PutU32(out.data(), byte_count);
  PutU32(out.data() + 4, handle_count);
  return out;
}

ChannelHeader ChannelHeader::Decode(std::span<const std::uint8_t, kSize> bytes) {
  return ChannelHeader{GetU32(bytes.data()), GetU32(bytes.data() + 4)};
}

boost::system::error_code ChannelHeader::Check(std::size_t max_bytes,
                                               std::size_t max_handles) const {
  if (byte_count > max_bytes) return make_error_code(Error::kMessageTooLarge);
  if (handle_count > max_handles) return make_error_code(Error::kMalformedMessage);
  return {};
}

}  // namespace rp::platform
