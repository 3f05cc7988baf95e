// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "rp/platform/host.h"

namespace rp::transport {

// Why an endpoint name or address could not be derived (spec §4.6).
struct NameError {
  enum class Kind { kInvalidService, kInvalidInstance, kInvalidUserHash, kPathTooLong, kNoIdentity };
  Kind kind = Kind::kInvalidService;
  std::size_t length = 0;  // kPathTooLong: the derived length
  std::size_t max = 0;     // kPathTooLong: the largest allowed length
  std::string label;       // kPathTooLong: "Linux sun_path", "macOS sun_path", "Windows MAX_PATH"
  std::string message() const;
  bool operator==(const NameError&) const = default;
};
[[noreturn]] void throw_exception_from_error(const NameError& error,
                                             const boost::source_location& loc);
template <class T>
using NameResult = boost::system::result<T, NameError>;

// `[a-z0-9-]{1,64}`: service names and explicit instance names.
bool IsValidServiceName(std::string_view name) noexcept;
// MAJOR.MINOR.PATCH (ASCII digits) with an optional -TAIL of [a-z0-9.]+;
// at most 64 bytes.
bool IsValidVersion(std::string_view version) noexcept;
// 16 lowercase hex characters.
bool IsValidUserHash(std::string_view hash) noexcept;

// First 8 bytes of BLAKE3(identity) as 16 lowercase hex characters.
std::string UserHashFromIdentity(std::string_view identity);
// BLAKE3 of `data`, 32 bytes, and its lowercase hex form.
std::array<std::uint8_t, 32> Blake3(std::span<const std::uint8_t> data);
std::string ToLowerHex(std::span<const std::uint8_t> bytes);

// Bare names: rpb-v1-{hash}-shared | -svc-{service} | -inst-{instance} | -be-{32 hex}.
NameResult<std::string> SharedBrokerName(std::string_view user_hash);
NameResult<std::string> PrivateBrokerName(std::string_view user_hash, std::string_view service);
NameResult<std::string> InstanceBrokerName(std::string_view user_hash, std::string_view instance);
NameResult<std::string> BackendName(std::string_view user_hash,
                                    std::span<const std::uint8_t, 16> random128);

// Where a bare name lives on `os`:
//   Linux   {runtime_dir}/running-process/broker/{name}.sock  (< 108 bytes)
//           (with no runtime dir: /tmp/running-process-{uid}/broker/{name}.sock)
//   macOS   {runtime_dir or /tmp}/.rp-{uid}/{hex(BLAKE3(name)[0..8])}.sock  (< 104 bytes)
//   Windows \\.\pipe\{name}  (<= 260 characters)
NameResult<std::string> EndpointAddress(platform::OsFlavor os,
                                        const std::optional<std::string>& runtime_dir,
                                        std::uint32_t uid, std::string_view bare_name);

// This user's hash and the address of this user's shared broker on this host.
NameResult<std::string> CurrentUserHash();
NameResult<std::string> CurrentSharedBrokerAddress();
NameResult<std::string> CurrentAddressForName(std::string_view bare_name);

// Windows pipe names travel bare; accept \\.\pipe\ and //./pipe/ prefixes
// (any case) on input and strip them.
std::string StripPipePrefix(std::string_view name);

}  // namespace rp::transport
