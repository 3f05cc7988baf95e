// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// A stream that gives back bytes already read from it before its own.
#include <algorithm>
#include <cstring>

#include <boost/asio/error.hpp>

#include "common/local_stream_impl.h"
#include "rp/platform/errors.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

class PrefixedStream final : public LocalStream::Impl {
 public:
  PrefixedStream(std::unique_ptr<LocalStream::Impl> inner, std::vector<std::uint8_t> prefix)
      : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

  bool is_open() const noexcept override { return inner_->is_open(); }
  asio::any_io_executor get_executor() const override { return inner_->get_executor(); }

  asio::awaitable<boost::system::result<std::size_t>> ReadSome(
      asio::mutable_buffer buffer) override {
    if (Pending() > 0) co_return TakePrefix(buffer);
    co_return co_await inner_->ReadSome(buffer);
  }
  asio::awaitable<boost::system::result<std::size_t>> WriteSome(
      asio::const_buffer buffer) override {
    co_return co_await inner_->WriteSome(buffer);
  }
  boost::system::result<std::size_t> TryReadSome(asio::mutable_buffer buffer) noexcept override {
    if (Pending() > 0) return TakePrefix(buffer);
    return inner_->TryReadSome(buffer);
  }
  boost::system::result<std::size_t> TryWriteSome(asio::const_buffer buffer) noexcept override {
    return inner_->TryWriteSome(buffer);
  }
  void Cancel() noexcept override { inner_->Cancel(); }
  void Close() noexcept override { inner_->Close(); }
  // Once our bytes are read the stream is its inner one again.
  NativeHandle native_handle() noexcept override {
    return Pending() == 0 ? inner_->native_handle() : PlatformHandle::InvalidValue();
  }
  // Bytes we still hold would not travel with the handle.
  bool is_transferable() const noexcept override {
    return Pending() == 0 && inner_->is_transferable();
  }
  boost::system::result<PlatformHandle> ReleaseHandle() override {
    if (Pending() > 0) return make_error_code(Error::kNotTransferable);
    return inner_->ReleaseHandle();
  }

 private:
  std::size_t Pending() const noexcept { return prefix_.size() - taken_; }
  std::size_t TakePrefix(asio::mutable_buffer buffer) noexcept {
    const std::size_t n = std::min(buffer.size(), Pending());
    std::memcpy(buffer.data(), prefix_.data() + taken_, n);
    taken_ += n;
    return n;
  }

  std::unique_ptr<LocalStream::Impl> inner_;  // never null
  std::vector<std::uint8_t> prefix_;
  std::size_t taken_ = 0;
};

}  // namespace

LocalStream PrependReadBytes(LocalStream stream, std::vector<std::uint8_t> bytes) {
  if (bytes.empty()) return stream;
  auto inner = TakeImpl(std::move(stream));
  if (!inner) return LocalStream();
  return LocalStream(std::make_unique<PrefixedStream>(std::move(inner), std::move(bytes)));
}

}  // namespace rp::platform
