#include "sidecar/balance/request_queue.h"

namespace drover::balance {

RequestQueue::RequestQueue(const BackendSet& backends, int max_inflight, int64_t max_waiting)
    : backends_(backends),
      max_inflight_(max_inflight),
      max_waiting_(max_waiting),
      inflight_(std::make_unique<std::atomic<int32_t>[]>(backends.size())) {
  for (size_t i = 0; i < backends.size(); ++i) inflight_[i].store(0);
}

bool RequestQueue::TryTake(size_t backend) {
  std::atomic<int32_t>& n = inflight_[backend];
  int32_t current = n.load(std::memory_order_relaxed);
  while (current < max_inflight_) {
    if (n.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) return true;
  }
  return false;
}

int RequestQueue::TryAcquire(int slot) {
  if (slot >= 0) {
    const auto b = static_cast<size_t>(slot);
    if (!backends_[b].up.load(std::memory_order_relaxed)) return kNoneUp;
    return TryTake(b) ? slot : kNoRoom;
  }
  // Any backend: the up one with the fewest in flight (a place may go between the look and the
  // take, so a few rounds).
  const size_t n = backends_.size();
  for (int round = 0; round < 4; ++round) {
    const size_t start = next_.fetch_add(1, std::memory_order_relaxed);
    int best = -1;
    int32_t best_load = 0;
    bool any_up = false;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      if (!backends_[i].up.load(std::memory_order_relaxed)) continue;
      any_up = true;
      const int32_t load = inflight_[i].load(std::memory_order_relaxed);
      if (load < max_inflight_ && (best < 0 || load < best_load)) {
        best = static_cast<int>(i);
        best_load = load;
      }
    }
    if (!any_up) return kNoneUp;
    if (best < 0) return kNoRoom;
    if (TryTake(static_cast<size_t>(best))) return best;
  }
  return kNoRoom;
}

void RequestQueue::AcquireAnyway(int backend) {
  inflight_[static_cast<size_t>(backend)].fetch_add(1, std::memory_order_seq_cst);
}

std::optional<uint64_t> RequestQueue::Enqueue(int slot, Waiter waiter, int& granted) {
  granted = kNoRoom;
  absl::MutexLock lock(&mu_);
  // Announce the waiter before looking at the room again: a release that frees a place after
  // this look sees the count and comes for the waiter (both sides are sequentially consistent).
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  const int b = TryAcquire(slot);
  if (b >= 0 || b == kNoneUp || static_cast<int64_t>(entries_.size()) >= max_waiting_) {
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    if (b >= 0 || b == kNoneUp) {
      granted = b;
      return 0;
    }
    return std::nullopt;
  }
  const uint64_t ticket = next_ticket_++;
  entries_.push_back({ticket, slot, waiter});
  return ticket;
}

std::optional<RequestQueue::Grant> RequestQueue::Release(int backend) {
  const auto b = static_cast<size_t>(backend);
  inflight_[b].fetch_sub(1, std::memory_order_seq_cst);
  if (waiting_.load(std::memory_order_seq_cst) == 0 || shut_down_.load(std::memory_order_relaxed)) {
    return std::nullopt;
  }
  absl::MutexLock lock(&mu_);
  const bool up = backends_[b].up.load(std::memory_order_relaxed);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    // A waiter for any backend takes this one only while it is up; a sticky waiter takes its own
    // slot even when down (its connect fails and is retried elsewhere, as without a queue).
    if (it->slot != backend && (it->slot >= 0 || !up)) continue;
    // Someone who never queued may have taken the place meanwhile: then their release comes here.
    if (!TryTake(b)) return std::nullopt;
    Grant grant{it->ticket, backend, it->waiter};
    entries_.erase(it);
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    return grant;
  }
  return std::nullopt;
}

bool RequestQueue::Cancel(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->ticket != ticket) continue;
    entries_.erase(it);
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
  }
  return false;
}

}  // namespace drover::balance
