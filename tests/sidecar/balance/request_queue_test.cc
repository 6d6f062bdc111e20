#include "sidecar/balance/request_queue.h"

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace drover::balance {
namespace {

std::unique_ptr<BackendSet> Two() { return *BackendSet::Parse("127.0.0.1:1,127.0.0.1:2"); }

int tag_a = 0;
int tag_b = 0;
int tag_c = 0;

// With one place per backend, a slot is taken once; a sticky request for a full slot gets no
// room even though the other backend has some; any-backend requests take the free one.
TEST(RequestQueueTest, TakesRoomPerBackend) {
  auto backends = Two();
  RequestQueue q(*backends, 1, 10);
  EXPECT_EQ(q.TryAcquire(0), 0);
  EXPECT_EQ(q.TryAcquire(0), RequestQueue::kNoRoom);
  EXPECT_EQ(q.TryAcquire(-1), 1);
  EXPECT_EQ(q.TryAcquire(-1), RequestQueue::kNoRoom);
  (*backends)[1].up = false;
  EXPECT_EQ(q.TryAcquire(1), RequestQueue::kNoneUp);
}

// A freed place goes to the oldest waiter that may use it: a sticky waiter for another slot is
// passed over, an any-backend waiter behind it is served.
TEST(RequestQueueTest, ReleaseGrantsOldestEligibleWaiter) {
  auto backends = Two();
  RequestQueue q(*backends, 1, 10);
  ASSERT_EQ(q.TryAcquire(0), 0);
  ASSERT_EQ(q.TryAcquire(1), 1);
  int granted = 0;
  std::optional<uint64_t> sticky1 = q.Enqueue(1, {nullptr, &tag_a}, granted);
  std::optional<uint64_t> any = q.Enqueue(-1, {nullptr, &tag_b}, granted);
  std::optional<uint64_t> sticky0 = q.Enqueue(0, {nullptr, &tag_c}, granted);
  ASSERT_TRUE(sticky1 && any && sticky0);
  EXPECT_EQ(q.waiting(), 3);

  std::optional<RequestQueue::Grant> g = q.Release(0);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ticket, *any);
  EXPECT_EQ(g->backend, 0);
  EXPECT_EQ(g->waiter.session, &tag_b);
  EXPECT_EQ(q.inflight(0), 1);  // reserved for the waiter

  g = q.Release(0);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ticket, *sticky0);
  g = q.Release(1);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ticket, *sticky1);
  EXPECT_EQ(q.waiting(), 0);
  EXPECT_FALSE(q.Release(1));
  EXPECT_EQ(q.inflight(1), 0);
}

// --max-queue bounds the waiters; a cancelled waiter frees its spot and is never granted.
TEST(RequestQueueTest, FullQueueAndCancel) {
  auto backends = *BackendSet::Parse("127.0.0.1:1");
  RequestQueue q(*backends, 1, 1);
  ASSERT_EQ(q.TryAcquire(-1), 0);
  int granted = 0;
  std::optional<uint64_t> first = q.Enqueue(-1, {}, granted);
  ASSERT_TRUE(first);
  EXPECT_FALSE(q.Enqueue(-1, {}, granted));
  EXPECT_TRUE(q.Cancel(*first));
  EXPECT_FALSE(q.Cancel(*first));
  EXPECT_FALSE(q.Release(0));
  // Room free again: Enqueue takes it at once instead of queueing.
  std::optional<uint64_t> direct = q.Enqueue(-1, {}, granted);
  ASSERT_TRUE(direct);
  EXPECT_EQ(*direct, 0u);
  EXPECT_EQ(granted, 0);
}

// Threads taking and giving back places, queueing when full: never more than the limit in
// flight, and every waiter is granted in the end (no lost wake-up).
TEST(RequestQueueTest, ConcurrentUseKeepsTheLimit) {
  auto backends = Two();
  RequestQueue q(*backends, 1, 1 << 20);
  std::atomic<int> inflight[2] = {0, 0};
  std::atomic<int> max_seen{0};
  std::atomic<int> served{0};
  // A grant is "delivered" by running the request right here on the releasing thread.
  auto run = [&](int b) {
    int now = inflight[b].fetch_add(1) + 1;
    int prev = max_seen.load();
    while (now > prev && !max_seen.compare_exchange_weak(prev, now)) {
    }
    inflight[b].fetch_sub(1);
    served.fetch_add(1);
  };
  std::function<void(int)> finish = [&](int b) {
    std::optional<RequestQueue::Grant> g = q.Release(b);
    while (g) {
      run(g->backend);
      g = q.Release(g->backend);
    }
  };
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int slot = (i + t) % 3 == 0 ? -1 : (i + t) % 2;
        int b = q.TryAcquire(slot);
        if (b == RequestQueue::kNoRoom) {
          std::optional<uint64_t> ticket = q.Enqueue(slot, {}, b);
          ASSERT_TRUE(ticket);
          if (*ticket != 0) continue;  // granted later, by a release
        }
        ASSERT_GE(b, 0);
        run(b);
        finish(b);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(q.waiting(), 0);
  EXPECT_EQ(served.load(), kThreads * kEach);
  EXPECT_EQ(max_seen.load(), 1);
  EXPECT_EQ(q.inflight(0), 0);
  EXPECT_EQ(q.inflight(1), 0);
}

}  // namespace
}  // namespace drover::balance
