// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <span>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "rp/platform/handle_channel.h"

namespace rp::platform {

// SendTurn lets coroutines on one executor take turns at something whose
// steps must not interleave: a HandleChannel's sends, where a message that
// the socket or pipe takes in several writes would otherwise be cut by
// another sender's bytes (the backend answers the broker's offers and
// reports idleness on the same channel). Take() returns at once when the
// turn is free; otherwise the caller waits, first come first served, and
// the holder hands the turn straight to the next waiter when its Held goes.
// AbortWaiters() (a Cancel) ends the waiting Takes with nullopt; after
// Close() every Take ends so, and the owner may go away while Takes wait:
// they touch only state they share.
class SendTurn {
  struct Waiter;
  struct State {
    bool held = false;
    bool closed = false;
    std::deque<Waiter*> waiters;
    Waiter* handed = nullptr;  // given the turn, not yet resumed
  };

 public:
  // The turn, until destroyed or Release()d.
  class Held {
   public:
    explicit Held(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}
    Held(Held&&) noexcept = default;
    Held& operator=(Held&& other) noexcept {
      if (this != &other) {
        Release();
        state_ = std::move(other.state_);
      }
      return *this;
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { Release(); }
    void Release() noexcept;
    // The owner closed the turn (perhaps went away) since it was taken.
    bool closed() const noexcept { return state_ && state_->closed; }

   private:
    std::shared_ptr<State> state_;
  };

  explicit SendTurn(boost::asio::any_io_executor executor);
  SendTurn(const SendTurn&) = delete;
  SendTurn& operator=(const SendTurn&) = delete;
  ~SendTurn() { Close(); }

  // The turn, once every earlier caller had it; nullopt when aborted or
  // closed meanwhile.
  boost::asio::awaitable<std::optional<Held>> Take();
  // The turn if it is free now (no coroutine frame: the usual case); else
  // nullopt, and the caller Take()s it.
  std::optional<Held> TryTake() noexcept;

  void AbortWaiters() noexcept;
  void Close() noexcept;

 private:
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& executor);
    boost::asio::steady_timer wake;
    bool handed = false;   // the turn is ours
    bool aborted = false;  // ... but AbortWaiters came before we resumed
    bool taken = false;    // ... and a Held owns it
  };
  static void HandOn(State& state) noexcept;

  boost::asio::any_io_executor executor_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// HandleChannel::SendBuilt on either platform: `impl` (the platform's
// HandleChannel::Impl, with send_turn(), is_open() and SendBuilt()) sends
// once the turn is ours. `impl` is taken at the call, never the channel
// after a wait (it may have moved); an Impl that went away meanwhile
// closed the turn, and then nothing of it is touched.
template <class Impl>
boost::asio::awaitable<boost::system::error_code> SendInTurn(
    Impl* impl, HandleChannel::BytesBuilder build, std::span<const NativeHandle> handles) {
  if (!impl || !impl->is_open()) {
    co_return boost::system::error_code(boost::asio::error::bad_descriptor);
  }
  auto turn = impl->send_turn().TryTake();
  if (!turn) turn = co_await impl->send_turn().Take();
  if (!turn) co_return boost::system::error_code(boost::asio::error::operation_aborted);
  co_return co_await impl->SendBuilt(std::move(build), handles);
}

}  // namespace rp::platform
