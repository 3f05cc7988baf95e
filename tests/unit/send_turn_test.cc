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

// Spawns a coroutine that takes `turn`, records what it got in `outcome`
// (and its index in `order` when it got the turn), then releases it.
void SpawnWaiter(asio::io_context& io, SendTurn& turn, Outcome& outcome, std::vector<int>& order,
                 int index) {
  asio::co_spawn(io, [&turn, &outcome, &order, index]() -> asio::awaitable<void> {
    auto held = co_await turn.Take();
    outcome = held ? Outcome::kTurn : Outcome::kRefused;
    if (held) order.push_back(index);
  }, asio::detached);
}

TEST(SendTurn, WaitersGetTheTurnInTheOrderTheyAsked) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  auto first = turn.TryTake();
  ASSERT_TRUE(first);
  EXPECT_FALSE(turn.TryTake()) << "a held turn was taken twice";
  Outcome outcomes[3] = {Outcome::kWaiting, Outcome::kWaiting, Outcome::kWaiting};
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) SpawnWaiter(io, turn, outcomes[i], order, i);
  io.poll();
  EXPECT_TRUE(order.empty()) << "a waiter got the turn while it was held";
  first->Release();
  EXPECT_FALSE(turn.TryTake()) << "the turn was free while others were waiting for it";
  io.restart();
  io.poll();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(turn.TryTake()) << "the last waiter did not give the turn back";
}

TEST(SendTurn, AbortWaitersRefusesEveryWaiterAndTheHolderKeepsTheTurn) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  auto holder = turn.TryTake();
  ASSERT_TRUE(holder);
  Outcome outcomes[2] = {Outcome::kWaiting, Outcome::kWaiting};
  std::vector<int> order;
  for (int i = 0; i < 2; ++i) SpawnWaiter(io, turn, outcomes[i], order, i);
  io.poll();
  turn.AbortWaiters();
  io.restart();
  io.poll();
  EXPECT_EQ(outcomes[0], Outcome::kRefused);
  EXPECT_EQ(outcomes[1], Outcome::kRefused);
  EXPECT_FALSE(turn.TryTake());
  holder->Release();
  EXPECT_TRUE(turn.TryTake()) << "an aborted turn was not free again";
}

// The holder hands the turn on and, in the same event-loop turn, the
// channel is cancelled: the waiter that was handed the turn but had not
// run yet is refused too, and the turn does not stay taken.
TEST(SendTurn, AnAbortReachesAWaiterHandedTheTurnButNotYetRun) {
  asio::io_context io;
  SendTurn turn(io.get_executor());
  auto holder = turn.TryTake();
  ASSERT_TRUE(holder);
  Outcome outcome = Outcome::kWaiting;
  std::vector<int> order;
  SpawnWaiter(io, turn, outcome, order, 0);
  io.poll();
  holder->Release();
  turn.AbortWaiters();
  io.restart();
  io.poll();
  EXPECT_EQ(outcome, Outcome::kRefused);
  EXPECT_TRUE(turn.TryTake()) << "the refused waiter kept the turn";
}

// The owner (a channel) goes away while sends wait: they are refused, and
// they touch nothing of it when they run.
TEST(SendTurn, WaitersOutliveTheOwnerAndAreRefused) {
  asio::io_context io;
  auto turn = std::make_unique<SendTurn>(io.get_executor());
  auto holder = turn->TryTake();
  ASSERT_TRUE(holder);
  Outcome outcome = Outcome::kWaiting;
  std::vector<int> order;
  SpawnWaiter(io, *turn, outcome, order, 0);
  io.poll();
  turn.reset();  // closes
  io.restart();
  io.poll();
  EXPECT_EQ(outcome, Outcome::kRefused);
  holder->Release();  // the holder outlives the owner too
}

// A waiting coroutine destroyed without running again (its io_context went
// first) leaves the queue: the holder's release afterwards reaches no freed
// waiter and frees the turn.
TEST(SendTurn, AWaiterDestroyedUnresumedLeavesTheQueue) {
  auto io = std::make_unique<asio::io_context>();
  SendTurn turn(io->get_executor());
  auto holder = turn.TryTake();
  ASSERT_TRUE(holder);
  Outcome outcome = Outcome::kWaiting;
  std::vector<int> order;
  SpawnWaiter(*io, turn, outcome, order, 0);
  io->poll();
  io.reset();  // destroys the waiting frame
  EXPECT_EQ(outcome, Outcome::kWaiting);
  holder->Release();
  EXPECT_TRUE(turn.TryTake()) << "the turn went to a waiter that no longer exists";
}

}  // namespace
}  // namespace rp::platform
