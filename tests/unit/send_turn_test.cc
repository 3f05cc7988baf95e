// Copyright the rp authors. SPDX-License-Identifier: Apache-2.0
// SendTurn, the queue a HandleChannel's sends wait in: first come first
// served, aborts and closes reach every waiter, and a waiter's frame may
// go away without stranding the turn. On a real io_context, no I/O.
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "common/send_turn.h"

namespace rp::platform {
namespace {

namespace asio = boost::asio;

// What a waiter got: nothing yet, the turn, or nullopt.
enum class Outcome { kWaiting, kTurn, kRefused };

// The test holds `turn`, and `waiters` coroutines wait for it (started
// and run until they wait). Each records what it got in outcomes[i], and
// its index in `order` when it got the turn, then gives the turn back.
struct HeldWithWaiters {
  HeldWithWaiters(asio::io_context& io, SendTurn& turn, int waiters)
      : holder(turn.TryTake()), outcomes(waiters, Outcome::kWaiting) {
    for (int i = 0; i < waiters; ++i) {
      asio::co_spawn(io, [this, &turn, i]() -> asio::awaitable<void> {
        auto held = co_await turn.Take();
        outcomes[i] = held ? Outcome::kTurn : Outcome::kRefused;
        if (held) order.push_back(i);
      }, asio::detached);
    }
    io.poll();
  }
  HeldWithWaiters(const HeldWithWaiters&) = delete;  // the waiters point at us
  HeldWithWaiters& operator=(const HeldWithWaiters&) = delete;

  std::optional<SendTurn::Held> holder;
  std::vector<Outcome> outcomes;
  std::vector<int> order;
};

// Runs what is ready now.
void RunReady(asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(SendTurn, WaitersGetTheTurnInTheOrderTheyAsked) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  HeldWithWaiters held(io, turn, 3);
  ASSERT_TRUE(held.holder);
  EXPECT_FALSE(turn.TryTake()) << "a held turn was taken twice";
  EXPECT_TRUE(held.order.empty()) << "a waiter got the turn while it was held";
  held.holder->Release();
  EXPECT_FALSE(turn.TryTake()) << "the turn was free while others were waiting for it";
  RunReady(io);
  EXPECT_EQ(held.order, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(turn.TryTake()) << "the last waiter did not give the turn back";
}

TEST(SendTurn, AbortWaitersRefusesEveryWaiterAndTheHolderKeepsTheTurn) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  HeldWithWaiters held(io, turn, 2);
  ASSERT_TRUE(held.holder);
  turn.AbortWaiters();
  RunReady(io);
  EXPECT_EQ(held.outcomes, (std::vector<Outcome>{Outcome::kRefused, Outcome::kRefused}));
  EXPECT_FALSE(turn.TryTake());
  held.holder->Release();
  EXPECT_TRUE(turn.TryTake()) << "an aborted turn was not free again";
}

// The holder hands the turn on and, in the same event-loop turn, the
// channel is cancelled: the waiter that was handed the turn but had not
// run yet is refused too, and the turn does not stay taken.
TEST(SendTurn, AnAbortReachesAWaiterHandedTheTurnButNotYetRun) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  HeldWithWaiters held(io, turn, 1);
  ASSERT_TRUE(held.holder);
  held.holder->Release();
  turn.AbortWaiters();
  RunReady(io);
  EXPECT_EQ(held.outcomes[0], Outcome::kRefused);
  EXPECT_TRUE(turn.TryTake()) << "the refused waiter kept the turn";
}

// The owner (a channel) goes away while sends wait: they are refused, and
// they touch nothing of it when they run.
TEST(SendTurn, WaitersOutliveTheOwnerAndAreRefused) {
  asio::io_context io;
  auto turn = std::make_unique<SendTurn>(io.get_executor());
  HeldWithWaiters held(io, *turn, 1);
  ASSERT_TRUE(held.holder);
  turn.reset();  // closes
  RunReady(io);
  EXPECT_EQ(held.outcomes[0], Outcome::kRefused);
  held.holder->Release();  // the holder outlives the owner too
}

// A waiting coroutine destroyed without running again (its io_context went
// first) leaves the queue: the holder's release afterwards reaches no freed
// waiter and frees the turn.
TEST(SendTurn, AWaiterDestroyedUnresumedLeavesTheQueue) {
  auto io = std::make_unique<asio::io_context>();
  SendTurn turn(io->get_executor());
  HeldWithWaiters held(*io, turn, 1);
  ASSERT_TRUE(held.holder);
  io.reset();  // destroys the waiting frame
  EXPECT_EQ(held.outcomes[0], Outcome::kWaiting);
  held.holder->Release();
  EXPECT_TRUE(turn.TryTake()) << "the turn went to a waiter that no longer exists";
}

}  // namespace
}  // namespace rp::platform
