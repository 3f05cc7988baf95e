// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// LocalStream's forwarding shell and the exact-length helpers, shared by
// every platform.
#include <boost/asio/error.hpp>

#include "common/local_stream_impl.h"

namespace rp::platform {

namespace asio = boost::asio;
using boost::system::error_code;

LocalStream::LocalStream() noexcept = default;
LocalStream::LocalStream(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
LocalStream::LocalStream(LocalStream&&) noexcept = default;
LocalStream& LocalStream::operator=(LocalStream&&) noexcept = default;
LocalStream::~LocalStream() = default;

std::unique_ptr<LocalStream::Impl> TakeImpl(LocalStream&& stream) noexcept {
  return std::move(stream.impl_);
}

bool LocalStream::is_open() const noexcept { return impl_ && impl_->is_open(); }

asio::any_io_executor LocalStream::get_executor() const {
  return impl_ ? impl_->get_executor() : asio::any_io_executor();
}

asio::awaitable<boost::system::result<std::size_t>> LocalStream::ReadSome(
    asio::mutable_buffer buffer) {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  // Bytes already here are taken without a trip through the event loop,
  // kMaxEagerReads times in a row; then one read goes through the loop so
  // a peer that never lets the buffer run dry cannot starve the others.
  // Not right after the caller's own TryReadSome found nothing: the
  // asynchronous read tries once before it waits anyway.
  if (eager_reads_ < kMaxEagerReads && !drained_) {
    auto n = impl_->TryReadSome(buffer);
    if (n || n.error() != asio::error::would_block) {
      ++eager_reads_;
      co_return n;
    }
  }
  eager_reads_ = 0;
  drained_ = false;
  co_return co_await impl_->ReadSome(buffer);
}

asio::awaitable<boost::system::result<std::size_t>> LocalStream::WriteSome(
    asio::const_buffer buffer) {
  if (!impl_) co_return error_code(asio::error::bad_descriptor);
  co_return co_await impl_->WriteSome(buffer);
}

boost::system::result<std::size_t> LocalStream::TryReadSome(asio::mutable_buffer buffer) noexcept {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  auto n = impl_->TryReadSome(buffer);
  drained_ = !n && n.error() == asio::error::would_block;
  return n;
}

boost::system::result<std::size_t> LocalStream::TryWriteSome(asio::const_buffer buffer) noexcept {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  return impl_->TryWriteSome(buffer);
}

void LocalStream::Cancel() noexcept {
  if (impl_) impl_->Cancel();
}

void LocalStream::Close() noexcept {
  if (impl_) impl_->Close();
}

bool LocalStream::is_transferable() const noexcept { return impl_ && impl_->is_transferable(); }

NativeHandle LocalStream::native_handle() noexcept {
  return impl_ ? impl_->native_handle() : PlatformHandle::InvalidValue();
}

boost::system::result<PlatformHandle> LocalStream::ReleaseHandle() {
  if (!impl_) return error_code(asio::error::bad_descriptor);
  return impl_->ReleaseHandle();
}

asio::awaitable<error_code> ReadExactly(LocalStream& stream, asio::mutable_buffer buffer,
                                        std::size_t* bytes_read) {
  std::size_t done = 0;
  error_code ec;
  while (done < buffer.size()) {
    auto n = co_await stream.ReadSome(buffer + done);  // eager where it can be
    if (!n) {
      ec = n.error();
      break;
    }
    done += *n;
  }
  if (bytes_read) *bytes_read = done;
  co_return ec;
}

asio::awaitable<error_code> WriteAll(LocalStream& stream, asio::const_buffer buffer) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    auto n = stream.TryWriteSome(buffer + done);
    if (!n && n.error() == asio::error::would_block) n = co_await stream.WriteSome(buffer + done);
    if (!n) co_return n.error();
    done += *n;
  }
  co_return error_code();
}

}  // namespace rp::platform
