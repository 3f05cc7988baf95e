// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#pragma once

#include <deque>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

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

}  // namespace rp::platform
