// One epoll event loop per thread. Handlers are registered once, edge-triggered for both
// directions, and never modified: a connection remembers its own readiness, so pausing a
// direction for backpressure costs no system call.
//
//   EventLoop loop;
//   loop.Add(fd, &handler);            // handler->OnEvents(EPOLLIN|EPOLLOUT|...)
//   loop.Post([&] { ... });            // from any thread; runs on the loop's thread
//   loop.Run();                        // until Stop()
//
// Objects closed during a batch of events are handed to DeleteLater(), so events already
// fetched for them in the same batch reach a live object (which then ignores them).
#ifndef DROVER_SIDECAR_NET_EVENT_LOOP_H_
#define DROVER_SIDECAR_NET_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "sidecar/net/timer_list.h"

namespace drover::net {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void OnEvents(uint32_t events) = 0;
};

class EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers fd for edge-triggered read, write and hang-up events.
  absl::Status Add(int fd, EventHandler* handler);
  // Registers a listening socket, level-triggered for reads only.
  absl::Status AddListener(int fd, EventHandler* handler);
  void Remove(int fd);

  // Monotonic milliseconds, refreshed once per loop iteration.
  int64_t now_ms() const { return now_ms_; }
  int64_t RefreshNow();

  // Timer lists are owned by their users; the loop only asks them for deadlines.
  void AddTimerList(TimerList* list) { timer_lists_.push_back(list); }

  void DeleteLater(std::unique_ptr<EventHandler> handler) {
    graveyard_.push_back(std::move(handler));
  }
  // Frees what DeleteLater() collected; the loop does it after each batch of events.
  void FreeDeleted() {
    // Freeing one object may hand in another (a session frees its backend connection).
    while (!graveyard_.empty()) {
      std::vector<std::unique_ptr<EventHandler>> batch;
      batch.swap(graveyard_);
    }
  }

  // Thread-safe: queue a task for the loop's thread and wake it.
  void Post(std::function<void()> task);
  void Run();
  // Thread-safe.
  void Stop();

 private:
  EventLoop(int epoll_fd, int wake_fd);
  class Waker;
  void RunPosted();

  int epoll_fd_;
  int wake_fd_;
  std::unique_ptr<Waker> waker_;
  int64_t now_ms_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<TimerList*> timer_lists_;
  std::vector<std::unique_ptr<EventHandler>> graveyard_;
  absl::Mutex mu_;
  std::vector<std::function<void()>> posted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace drover::net

#endif  // DROVER_SIDECAR_NET_EVENT_LOOP_H_
