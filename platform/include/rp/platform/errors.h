// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/system/error_code.hpp>
#include <type_traits>

namespace rp::platform {

// Errors the platform layer reports itself (everything else keeps the
// native errno / GetLastError() value in the system category).
enum class Error {
  kPathTooLong = 1,          // a socket path over the OS limit
  kInsecureDirectory,        // group/other bits set, wrong owner, or a symlink
  kHandleCountMismatch,      // a message carried a different number of handles than it announced
  kControlDataTruncated,     // MSG_CTRUNC: the kernel dropped handles
  kMessageTooLarge,          // a channel message over the receiver's cap
  kNotTransferable,          // the connection is bound to this process (Windows IOCP)
  kAddressInUse,             // a live listener already owns the address
  kMalformedMessage,         // a channel header that makes no sense
};

const boost::system::error_category& platform_category() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), platform_category()};
}

// True for the errors that mean "the peer closed the connection": EOF,
// EPIPE/ECONNRESET, and on Windows ERROR_BROKEN_PIPE, ERROR_NO_DATA and
// ERROR_PIPE_NOT_CONNECTED.
bool IsDisconnect(const boost::system::error_code& ec) noexcept;

}  // namespace rp::platform

template <>
struct boost::system::is_error_code_enum<rp::platform::Error> : std::true_type {};
