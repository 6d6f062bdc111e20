// Session with --worker-max-inflight: a request takes a place on a worker before it is sent, or
// waits in the sidecar's queue (balance/request_queue.h) until one is free. A sticky request
// waits for its own slot; a new session (or one whose slot is down) for any worker. A full queue
// or a wait longer than --queue-timeout gets 503 with Retry-After. An Upgrade holds its place
// while its handshake is in flight, not for the tunnel's life (the 101 ends it).

#include <string_view>

#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"

namespace drover::proxy {

using metrics::ErrorReason;

int Session::AcquireRoom(int slot) {
  balance::RequestQueue& queue = *thread_.config_.queue;
  // A sticky request whose slot is down is balanced, as without a queue.
  if (slot >= 0 &&
      !thread_.backends_[static_cast<size_t>(slot)].up.load(std::memory_order_relaxed)) {
    slot = -1;
  }
  // Others already wait: join them rather than overtake (Enqueue still takes a free place).
  int b = queue.waiting() == 0 ? queue.TryAcquire(slot) : balance::RequestQueue::kNoRoom;
  if (b == balance::RequestQueue::kNoRoom) {
    std::optional<uint64_t> ticket = queue.Enqueue(slot, {&thread_, this}, b);
    if (!ticket) {
      thread_.stats_.CountError(ErrorReason::kQueueFull);
      FailRetryLater("every worker is busy and the queue is full", ErrorReason::kQueueFull);
      return kWaiting;
    }
    if (*ticket != 0) {
      queue_ticket_ = *ticket;
      queue_slot_ = slot;
      queued_ns_ = MonotonicNs();
      thread_.stats_.QueueEntered();
      ArmClientTimer(ClientTimer::kQueue);
      return kWaiting;
    }
  }
  if (b < 0) return -1;  // nothing up
  room_backend_ = b;
  // Placed somewhere other than the session's slot: the response re-homes the session.
  if (b != slot && thread_.router_->config().InsertsCookie()) {
    set_cookie_ = true;
  }
  return b;
}

void Session::OnRoomGranted(int backend) {
  queue_ticket_ = 0;
  queue_wait_ns_ = MonotonicNs() - queued_ns_;
  thread_.stats_.QueueLeft(queue_wait_ns_);
  // The queue's clock stops; a body still arriving is the client's to keep flowing again.
  ArmClientTimer(request_body_state_ == RequestBody::kStreaming ? ClientTimer::kBody
                                                                : ClientTimer::kNone);
  room_backend_ = backend;
  if (backend != queue_slot_ && thread_.router_->config().InsertsCookie()) {
    set_cookie_ = true;
  }
  ConnectTo(backend);
  Pump();
}

void Session::ReleaseRoom() {
  const int backend = room_backend_;
  room_backend_ = -1;
  std::optional<balance::RequestQueue::Grant> grant = thread_.config_.queue->Release(backend);
  if (grant) LoopThread::DeliverGrant(*grant);
}

void Session::LeaveQueue() {
  // Not found: the grant is on its way, and finding this session gone it passes the place on.
  thread_.config_.queue->Cancel(queue_ticket_);
  queue_ticket_ = 0;
  thread_.stats_.QueueLeft(MonotonicNs() - queued_ns_);
}

void Session::OnQueueTimeout() {
  if (queue_ticket_ == 0) return;
  if (!thread_.config_.queue->Cancel(queue_ticket_)) return;  // granted meanwhile: it comes next
  queue_ticket_ = 0;
  queue_wait_ns_ = MonotonicNs() - queued_ns_;
  thread_.stats_.QueueLeft(queue_wait_ns_);
  thread_.stats_.CountError(ErrorReason::kQueueTimeout);
  FailRetryLater("no worker had room in time", ErrorReason::kQueueTimeout);
  Pump();
}

void Session::FailRetryLater(std::string_view text, ErrorReason reason) {
  FailRequest(503, text, reason);
  // The client may try again soon: a queue drains within seconds, or the app is overloaded.
  const size_t status_line_end = response_head_.find("\r\n");
  if (status_line_end != std::string::npos) {
    response_head_.insert(status_line_end + 2, "Retry-After: 1\r\n");
  }
}

void LoopThread::DeliverGrant(const balance::RequestQueue::Grant& grant) {
  auto* thread = static_cast<LoopThread*>(grant.waiter.thread);
  thread->loop_->Post([thread, grant] { thread->OnGrant(grant); });
}

void LoopThread::OnGrant(const balance::RequestQueue::Grant& grant) {
  auto* session = static_cast<Session*>(grant.waiter.session);
  if (sessions_.contains(session) && session->queue_ticket() == grant.ticket) {
    session->OnRoomGranted(grant.backend);
    return;
  }
  // The waiter went away after the grant: hand the place on.
  std::optional<balance::RequestQueue::Grant> next = config_.queue->Release(grant.backend);
  if (next) DeliverGrant(*next);
}

}  // namespace drover::proxy
