// Deadline lists for timeouts of one fixed duration each (header, idle, connect, response...).
// Because every entry of a list has the same duration, appending keeps the list sorted, so
// arming, re-arming and cancelling are O(1) and expiry only looks at the head: no heap, no
// allocation, which matters with 100k connections each re-arming on every request.
//
//   TimerList idle(absl::Seconds(60));
//   idle.Arm(session.timer(), now);       // (re)starts session's idle timeout
//   idle.Expire(now);                      // calls OnTimeout() on every due entry
#ifndef DROVER_SIDECAR_NET_TIMER_LIST_H_
#define DROVER_SIDECAR_NET_TIMER_LIST_H_

#include <cstdint>

namespace drover::net {

class TimerList;

class TimerHandler {
 public:
  virtual void OnTimeout() = 0;

 protected:
  ~TimerHandler() = default;
};

// One pending timeout; owned by its handler, in at most one list at a time.
class Timer {
 public:
  explicit Timer(TimerHandler* handler) : handler_(handler) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { Cancel(); }

  bool armed() const { return list_ != nullptr; }
  void Cancel();

 private:
  friend class TimerList;
  TimerHandler* handler_;
  TimerList* list_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  int64_t deadline_ms_ = 0;
};

class TimerList {
 public:
  explicit TimerList(int64_t duration_ms) : duration_ms_(duration_ms) {}
  TimerList(const TimerList&) = delete;
  TimerList& operator=(const TimerList&) = delete;
  ~TimerList() {
    while (head_ != nullptr) head_->Cancel();
  }

  int64_t duration_ms() const { return duration_ms_; }

  // Arms `timer` to fire duration_ms after now_ms, moving it from any list it was in.
  void Arm(Timer& timer, int64_t now_ms) {
    timer.Cancel();
    timer.deadline_ms_ = now_ms + duration_ms_;
    timer.list_ = this;
    timer.prev_ = tail_;
    timer.next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = &timer;
    } else {
      head_ = &timer;
    }
    tail_ = &timer;
  }

  // Milliseconds until the earliest deadline, or -1 when empty.
  int64_t NextDeadline() const { return head_ == nullptr ? -1 : head_->deadline_ms_; }

  // Fires every timer whose deadline is <= now_ms. A handler may arm or cancel any timer.
  void Expire(int64_t now_ms) {
    while (head_ != nullptr && head_->deadline_ms_ <= now_ms) {
      Timer* t = head_;
      t->Cancel();
      t->handler_->OnTimeout();
    }
  }

 private:
  friend class Timer;
  void Unlink(Timer& timer) {
    if (timer.prev_ != nullptr) {
      timer.prev_->next_ = timer.next_;
    } else {
      head_ = timer.next_;
    }
    if (timer.next_ != nullptr) {
      timer.next_->prev_ = timer.prev_;
    } else {
      tail_ = timer.prev_;
    }
    timer.prev_ = timer.next_ = nullptr;
    timer.list_ = nullptr;
  }

  int64_t duration_ms_;
  Timer* head_ = nullptr;
  Timer* tail_ = nullptr;
};

inline void Timer::Cancel() {
  if (list_ != nullptr) list_->Unlink(*this);
}

}  // namespace drover::net

#endif  // DROVER_SIDECAR_NET_TIMER_LIST_H_
