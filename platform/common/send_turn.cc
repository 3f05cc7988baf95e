// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
#include "common/send_turn.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rp::platform {

namespace asio = boost::asio;

SendTurn::Waiter::Waiter(const asio::any_io_executor& executor)
    : wake(executor, asio::steady_timer::time_point::max()) {}

SendTurn::SendTurn(asio::any_io_executor executor) : executor_(std::move(executor)) {}

void SendTurn::HandOn(State& state) noexcept {
  if (state.waiters.empty() || state.closed) {
    state.held = false;
    return;
  }
  Waiter* next = state.waiters.front();  // stays held: no one can slip in
  state.waiters.pop_front();
  next->handed = true;
  state.handed = next;
  next->wake.cancel();
}

void SendTurn::Held::Release() noexcept {
  if (!state_) return;
  HandOn(*state_);
  state_.reset();
}

std::optional<SendTurn::Held> SendTurn::TryTake() noexcept {
  if (state_->held || state_->closed) return std::nullopt;
  state_->held = true;
  return Held(state_);
}

asio::awaitable<std::optional<SendTurn::Held>> SendTurn::Take() {
  std::shared_ptr<State> state = state_;  // ours, should the owner go
  if (state->closed) co_return std::nullopt;
  if (auto now = TryTake()) co_return now;
  Waiter me(executor_);
  state->waiters.push_back(&me);
  // However this frame ends (even destroyed unresumed with its executor),
  // it leaves the queue, and a turn handed to it and never taken moves on.
  struct Leave {
    State& state;
    Waiter& me;
    ~Leave() {
      auto it = std::find(state.waiters.begin(), state.waiters.end(), &me);
      if (it != state.waiters.end()) state.waiters.erase(it);
      if (state.handed == &me) state.handed = nullptr;
      if (me.handed && !me.taken) HandOn(state);
    }
  } leave{*state, me};
  co_await me.wake.async_wait(asio::as_tuple(asio::use_awaitable));
  if (state->handed == &me) state->handed = nullptr;
  if (!me.handed || me.aborted || state->closed) co_return std::nullopt;
  me.taken = true;
  co_return Held(state);
}

void SendTurn::AbortWaiters() noexcept {
  std::deque<Waiter*> waiters;
  waiters.swap(state_->waiters);
  for (Waiter* waiter : waiters) waiter->wake.cancel();  // not handed: nullopt
  if (state_->handed != nullptr) {  // handed, still to resume: passes it on
    state_->handed->aborted = true;
    state_->handed = nullptr;
  }
}

void SendTurn::Close() noexcept {
  state_->closed = true;
  AbortWaiters();
}

}  // namespace rp::platform
