// SPDX-License-Identifier: Apache-2.0
#include "core/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace sam3::core {
namespace {

TEST(WorkQueue, RunsJobsInOrderAndReturnsValues) {
  WorkQueue q("test", 8);
  std::vector<int> order;
  std::vector<Ticket<int>> tickets;
  for (int i = 0; i < 5; ++i) tickets.push_back(q.submit([i, &order] {
    order.push_back(i);
    return i * i;
  }));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(tickets[static_cast<size_t>(i)].get(), i * i);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(WorkQueue, ExceptionsReachTheCaller) {
  WorkQueue q("test", 2);
  auto t = q.submit([]() -> int { throw InvalidInput("bad prompt"); });
  EXPECT_THROW(t.get(), InvalidInput);
}

TEST(WorkQueue, FullQueueThrowsOverloaded) {
  WorkQueue q("test", 2);
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  auto running = q.submit([open] { open.wait(); });
  // Wait until the worker holds the first job, so two slots are free.
  while (q.depth() != 0) std::this_thread::yield();
  auto a = q.submit([] {});
  auto b = q.submit([] {});
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_THROW(q.submit([] {}), Overloaded);
  gate.set_value();
  running.get();
  a.get();
  b.get();
}

TEST(WorkQueue, DroppedTicketCancelsPendingWork) {
  WorkQueue q("test", 4);
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  auto running = q.submit([open] { open.wait(); });
  while (q.depth() != 0) std::this_thread::yield();
  std::atomic<bool> ran{false};
  {
    auto dropped = q.submit([&ran] { ran = true; });
    EXPECT_EQ(q.depth(), 1u);
  }  // the client went away
  EXPECT_EQ(q.depth(), 0u);
  gate.set_value();
  running.get();
  q.submit([] {}).get();  // everything before it has run
  EXPECT_FALSE(ran.load());
}

TEST(WorkQueue, ShutdownCancelsWaitingWork) {
  auto q = std::make_unique<WorkQueue>("test", 4);
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  auto running = q->submit([open] { open.wait(); });
  while (q->depth() != 0) std::this_thread::yield();
  auto waiting = q->submit([] { return 1; });
  std::thread closer([&] { q->shutdown(); });
  EXPECT_THROW(waiting.get(), Cancelled);
  gate.set_value();
  closer.join();
  running.get();
  EXPECT_THROW(q->submit([] {}), Overloaded);
}

}  // namespace
}  // namespace sam3::core
