// Room per worker (--worker-max-inflight) and the bounded queue of requests waiting for it
// (--max-queue), shared by every event-loop thread: HAProxy's server `maxconn` and queue.
//
//   RequestQueue queue(backends, /*max_inflight=*/1, /*max_waiting=*/1024);
//   int b = queue.TryAcquire(slot);            // room taken on slot (or any backend when -1)
//   if (b == RequestQueue::kNoRoom) {
//     std::optional<uint64_t> ticket = queue.Enqueue(slot, {thread, session});
//     // nullopt: the queue is full (503). Otherwise wait for a Grant naming `ticket`.
//   }
//   ...
//   if (std::optional<RequestQueue::Grant> g = queue.Release(b)) Deliver(*g);  // room handed on
//
// Room is an atomic in-flight count per backend, so taking and giving it back costs one atomic
// each and no lock while nobody waits. The waiting list is one FIFO for the whole process,
// behind a mutex taken only by a request that has to wait and by a release that finds waiters:
// a freed place goes to the oldest waiter that may use it (one waiting for that slot, or for any
// backend), whichever thread it waits on. The grant reserves the place before the waiter is
// told, so nothing can take it in between; a waiter that has gone by then gives it back with
// Release (which hands it on again).
#ifndef DROVER_SIDECAR_BALANCE_REQUEST_QUEUE_H_
#define DROVER_SIDECAR_BALANCE_REQUEST_QUEUE_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sidecar/balance/balancer.h"

namespace drover::balance {

class RequestQueue {
 public:
  static constexpr int kNoRoom = -1;  // TryAcquire: every candidate is full
  static constexpr int kNoneUp = -2;  // TryAcquire: no candidate is up

  // Who waits: opaque to the queue, handed back in the Grant (the proxy's loop thread and
  // session).
  struct Waiter {
    void* thread = nullptr;
    void* session = nullptr;
  };
  struct Grant {
    uint64_t ticket;
    int backend;  // its place is already taken for the waiter
    Waiter waiter;
  };

  RequestQueue(const BackendSet& backends, int max_inflight, int64_t max_waiting);

  // Takes a place on `slot` when it has room (or, with slot -1, on the up backend with the
  // fewest requests in flight); the backend, kNoRoom, or kNoneUp (slot down, or nothing up).
  int TryAcquire(int slot);
  // Counts a request on `backend` whatever its room (a retry after a failed connect).
  void AcquireAnyway(int backend);
  // Queues a request for `slot` (-1: any backend); a ticket, or nullopt when --max-queue
  // requests already wait. May instead find room at once (a place freed meanwhile): then
  // `granted` is set to the backend and no ticket is queued.
  std::optional<uint64_t> Enqueue(int slot, Waiter waiter, int& granted);
  // Gives back a place on `backend`; the grant of that place to the oldest waiter who can use it.
  std::optional<Grant> Release(int backend);
  // Takes a waiter out (timeout, client gone); false when it was already granted.
  bool Cancel(uint64_t ticket);
  // From now on releases grant nothing: the loop threads are stopped and being torn down, and
  // a grant would be posted to a loop that may be gone.
  void Shutdown() { shut_down_.store(true, std::memory_order_seq_cst); }

  int64_t waiting() const { return waiting_.load(std::memory_order_relaxed); }
  int64_t inflight(size_t backend) const {
    return inflight_[backend].load(std::memory_order_relaxed);
  }
  int max_inflight() const { return max_inflight_; }

 private:
  struct Entry {
    uint64_t ticket;
    int slot;
    Waiter waiter;
  };
  bool TryTake(size_t backend);

  const BackendSet& backends_;
  const int max_inflight_;
  const int64_t max_waiting_;
  std::unique_ptr<std::atomic<int32_t>[]> inflight_;
  // Written under mu_, read without it by releasers deciding whether to look for waiters.
  std::atomic<int64_t> waiting_{0};
  std::atomic<size_t> next_{0};
  std::atomic<bool> shut_down_{false};  // where the search for any backend starts: spreads ties
  absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace drover::balance

#endif  // DROVER_SIDECAR_BALANCE_REQUEST_QUEUE_H_
