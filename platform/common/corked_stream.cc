// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// PrependWriteBytes: a stream that holds a few bytes back ("corked") until
// its first write, then sends them in front of that write's bytes.
#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>

#include "common/local_stream_impl.h"
#include "rp/platform/errors.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// How much of a caller's write is copied behind the corked bytes; the rest
// goes in later writes as usual.
constexpr std::size_t kMaxCombinedBytes = 64 * 1024;

// What the stream and its deferred flush share; the flush holds it weakly,
// so a stream that is gone is simply not flushed again.
struct CorkState {
  std::unique_ptr<LocalStream::Impl> inner;  // never null
  std::vector<std::uint8_t> cork;            // not yet written
};

// The corked bytes with up to kMaxCombinedBytes of `buffer` behind them.
std::vector<std::uint8_t> Combine(const CorkState& state, asio::const_buffer buffer) {
  const std::size_t take = std::min(buffer.size(), kMaxCombinedBytes);
  std::vector<std::uint8_t> combined(state.cork.size() + take);
  std::memcpy(combined.data(), state.cork.data(), state.cork.size());
  if (take > 0) std::memcpy(combined.data() + state.cork.size(), buffer.data(), take);
  return combined;
}

// Writes what the OS takes now of the corked bytes and `buffer` behind
// them, in one call; returns how many of `buffer`'s bytes went, or
// would_block while some corked bytes are still unwritten. A peer that is
// gone drops the corked bytes (its reads report that already).
boost::system::result<std::size_t> TryWriteCorked(CorkState& state, asio::const_buffer buffer) {
  std::vector<std::uint8_t>& cork = state.cork;
  if (cork.empty()) return state.inner->TryWriteSome(buffer);
  std::vector<std::uint8_t> combined = Combine(state, buffer);
  auto n = state.inner->TryWriteSome(asio::buffer(combined));
  if (!n) {
    if (n.error() != asio::error::would_block) cork.clear();
    return n.error();
  }
  const std::size_t corked = cork.size();
  if (*n < corked) {
    cork.erase(cork.begin(), cork.begin() + static_cast<std::ptrdiff_t>(*n));
    return make_error_code(asio::error::would_block);
  }
  cork.clear();
  if (*n == corked && buffer.size() > 0) return state.inner->TryWriteSome(buffer);
  return *n - corked;
}

void TryFlush(CorkState& state) noexcept { (void)TryWriteCorked(state, {}); }

class CorkedStream final : public LocalStream::Impl {
 public:
  explicit CorkedStream(std::shared_ptr<CorkState> state) : state_(std::move(state)) {}
  ~CorkedStream() override { TryFlush(*state_); }

  bool is_open() const noexcept override { return state_->inner->is_open(); }
  asio::any_io_executor get_executor() const override { return state_->inner->get_executor(); }

  // About to wait for the peer, which may be waiting for the corked bytes.
  asio::awaitable<boost::system::result<std::size_t>> ReadSome(
      asio::mutable_buffer buffer) override {
    TryFlush(*state_);
    if (!state_->cork.empty()) {  // a full socket buffer: wait to write first
      auto written = co_await WriteCorked({});
      if (!written) co_return written.error();
    }
    co_return co_await state_->inner->ReadSome(buffer);
  }

  asio::awaitable<boost::system::result<std::size_t>> WriteSome(
      asio::const_buffer buffer) override {
    if (!state_->cork.empty()) {
      auto written = co_await WriteCorked(buffer);
      // At least one of the caller's bytes, as WriteSome promises.
      if (!written || *written > 0 || buffer.size() == 0) co_return written;
    }
    co_return co_await state_->inner->WriteSome(buffer);
  }

  boost::system::result<std::size_t> TryReadSome(asio::mutable_buffer buffer) noexcept override {
    return state_->inner->TryReadSome(buffer);
  }

  boost::system::result<std::size_t> TryWriteSome(asio::const_buffer buffer) noexcept override {
    return TryWriteCorked(*state_, buffer);
  }

  void Cancel() noexcept override { state_->inner->Cancel(); }
  void Close() noexcept override {
    TryFlush(*state_);
    state_->cork.clear();
    state_->inner->Close();
  }
  // Flushed on the way out; see ReleaseHandle.
  bool is_transferable() const noexcept override { return state_->inner->is_transferable(); }
  // Nobody may write around the corked bytes.
  NativeHandle native_handle() noexcept override {
    return state_->cork.empty() ? state_->inner->native_handle() : PlatformHandle::InvalidValue();
  }
  boost::system::result<PlatformHandle> ReleaseHandle() override {
    TryFlush(*state_);
    if (!state_->cork.empty()) return make_error_code(Error::kNotTransferable);
    return state_->inner->ReleaseHandle();
  }

 private:
  // Writes all corked bytes, with as much of `buffer` behind them as goes
  // in the same writes; returns how many of `buffer`'s bytes went (maybe
  // 0). The cork is taken first, so nothing else writes it again.
  asio::awaitable<boost::system::result<std::size_t>> WriteCorked(asio::const_buffer buffer) {
    std::vector<std::uint8_t> combined = Combine(*state_, buffer);
    const std::size_t corked = state_->cork.size();
    state_->cork.clear();
    std::size_t done = 0;
    while (done < corked) {
      auto n = co_await state_->inner->WriteSome(asio::buffer(combined) + done);
      if (!n) co_return n.error();
      done += *n;
    }
    co_return done - corked;
  }

  std::shared_ptr<CorkState> state_;
};

// Flushes whatever is still corked once the executor has run two more
// turns: time for the caller to make its first write, not long enough to
// keep the peer waiting.
void ScheduleFlush(const asio::any_io_executor& executor, std::weak_ptr<CorkState> weak) {
  asio::post(executor, [executor, weak = std::move(weak)]() mutable {
    asio::post(executor, [weak = std::move(weak)] {
      if (auto state = weak.lock()) TryFlush(*state);
    });
  });
}

}  // namespace

bool CanPrependWriteBytes(LocalStream& stream) noexcept {
  return stream.native_handle() != PlatformHandle::InvalidValue();
}

LocalStream PrependWriteBytes(LocalStream stream, std::vector<std::uint8_t> bytes) {
  if (bytes.empty()) return stream;
  auto inner = TakeImpl(std::move(stream));
  if (!inner) return LocalStream();
  auto executor = inner->get_executor();
  auto state = std::make_shared<CorkState>(CorkState{std::move(inner), std::move(bytes)});
  ScheduleFlush(executor, state);
  return LocalStream(std::make_unique<CorkedStream>(std::move(state)));
}

}  // namespace rp::platform
