// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/asio/error.hpp>

#include "rp/platform/local_stream.h"

namespace rp::platform {

// What each platform's stream provides. LocalStream forwards to it; a
// platform may have several (Windows: completion-port pipes and event-driven
// transferable pipes).
class LocalStream::Impl {
 public:
  virtual ~Impl() = default;
  virtual bool is_open() const noexcept = 0;
  virtual boost::asio::any_io_executor get_executor() const = 0;
  virtual boost::asio::awaitable<boost::system::result<std::size_t>> ReadSome(
      boost::asio::mutable_buffer buffer) = 0;
  virtual boost::asio::awaitable<boost::system::result<std::size_t>> WriteSome(
      boost::asio::const_buffer buffer) = 0;
  // Non-blocking attempts that do not involve the event loop. The default
  // (platforms without them) always says would_block, which sends callers
  // to the asynchronous path.
  virtual boost::system::result<std::size_t> TryReadSome(boost::asio::mutable_buffer) noexcept {
    return make_error_code(boost::asio::error::would_block);
  }
  virtual boost::system::result<std::size_t> TryWriteSome(boost::asio::const_buffer) noexcept {
    return make_error_code(boost::asio::error::would_block);
  }
  // The OS handle, still owned by the stream, for writes that bypass it
  // (LinkedSubmitter); invalid where a stream has no single handle to
  // write to directly (the default).
  virtual NativeHandle native_handle() noexcept { return PlatformHandle::InvalidValue(); }
  virtual void Cancel() noexcept = 0;
  virtual void Close() noexcept = 0;
  virtual bool is_transferable() const noexcept = 0;
  virtual boost::system::result<PlatformHandle> ReleaseHandle() = 0;
};

// The platform stream inside `stream` (null for an empty one); `stream` is
// left empty.
std::unique_ptr<LocalStream::Impl> TakeImpl(LocalStream&& stream) noexcept;

}  // namespace rp::platform
