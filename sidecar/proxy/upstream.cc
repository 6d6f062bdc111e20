// Backend connections: the UpstreamConnection object, each loop thread's pool of kept-alive
// connections, and how a session takes one (pooled or new) and gives it back.

#include "sidecar/proxy/upstream.h"

#include <unistd.h>

#include <algorithm>

#include "sidecar/net/socket.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"

namespace drover::proxy {

using metrics::ErrorReason;

UpstreamConnection::UpstreamConnection(LoopThread& thread, int fd, size_t backend, uint64_t target,
                                       bool connecting)
    : thread_(thread), fd_(fd), backend_(backend), target_(target), connecting_(connecting) {
  writable_ = !connecting;
}

UpstreamConnection::~UpstreamConnection() {
  if (fd_ >= 0) close(fd_);
  in_.Reset(thread_.buffers_);
}

void UpstreamConnection::Destroy() {
  timer_.Cancel();
  if (fd_ >= 0) {
    // Explicitly: a forked worker may briefly hold a copy of this socket, and epoll forgets a
    // registration only when every copy is closed; its events would reach a freed object.
    thread_.loop_->Remove(fd_);
    close(fd_);
    fd_ = -1;
  }
  in_.Reset(thread_.buffers_);
  owner_ = nullptr;
  thread_.loop_->DeleteLater(std::unique_ptr<net::EventHandler>(this));
}

void UpstreamConnection::OnEvents(uint32_t events) {
  if (fd_ < 0) return;
  if (owner_ != nullptr) {
    owner_->OnUpstreamEvents(events);
    return;
  }
  // Pooled and idle: anything but writability means the backend closed it or misbehaves.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    thread_.ForgetPooled(this);
    Destroy();
  }
}

void UpstreamConnection::OnTimeout() {
  if (owner_ != nullptr) {
    owner_->OnUpstreamTimeout();
    return;
  }
  thread_.ForgetPooled(this);
  Destroy();
}

UpstreamConnection* LoopThread::TakePooled(size_t backend, uint64_t target) {
  std::vector<UpstreamConnection*>& pool = pools_[backend];
  while (!pool.empty()) {
    UpstreamConnection* connection = pool.back();
    pool.pop_back();
    if (connection->target_ == target) {
      connection->timer_.Cancel();
      return connection;
    }
    connection->Destroy();
  }
  return nullptr;
}

void LoopThread::ReturnToPool(UpstreamConnection* connection) {
  pools_[connection->backend_].push_back(connection);
  pool_timers_.Arm(connection->timer_, loop_->now_ms());
}

void LoopThread::ForgetPooled(UpstreamConnection* connection) {
  std::vector<UpstreamConnection*>& pool = pools_[connection->backend_];
  auto it = std::find(pool.begin(), pool.end(), connection);
  if (it != pool.end()) pool.erase(it);
}

bool Session::ConnectBackend(int exclude, int slot) {
  balance::RequestQueue* queue =
      thread_.config_.mode == ProxyMode::kHttp ? thread_.config_.queue.get() : nullptr;
  int b = -1;
  if (queue != nullptr && exclude < 0 && !retried_) {
    b = AcquireRoom(slot);
    if (b == kWaiting) return true;
  } else {
    b = PickBackend(exclude, slot);
    // A retry after a failed connect goes where it can at once: it has waited its turn.
    if (b >= 0 && queue != nullptr) {
      queue->AcquireAnyway(b);
      room_backend_ = b;
    }
  }
  if (b < 0) return false;
  ConnectTo(b);
  return true;
}

void Session::ConnectTo(int b) {
  backend_ = b;
  if (thread_.access_log_ != nullptr) connect_start_ns_ = MonotonicNs();
  const balance::Backend& backend = thread_.backends_[static_cast<size_t>(b)];
  const uint64_t target = backend.target.load(std::memory_order_acquire);
  backend_parity_ = balance::Backend::ParityOf(target);
  thread_.stats_.RequestStarted(static_cast<size_t>(b), backend_parity_);
  outstanding_ = true;
  UpstreamConnection* connection = thread_.TakePooled(static_cast<size_t>(b), target);
  if (connection == nullptr) {
    bool in_progress = false;
    absl::StatusOr<int> fd = net::ConnectNonBlocking(backend.AddressOf(target), in_progress);
    if (!fd.ok()) {
      OnUpstreamFailure(absl::IsResourceExhausted(fd.status()) ? ErrorReason::kBackendBusy
                                                               : ErrorReason::kBackendRefused);
      return;  // answered (retried or failed) by OnUpstreamFailure
    }
    connection = new UpstreamConnection(thread_, *fd, static_cast<size_t>(b), target, in_progress);
    if (!thread_.loop_->Add(*fd, connection).ok()) {
      connection->Destroy();
      OnUpstreamFailure(ErrorReason::kBackendRefused);
      return;
    }
  }
  connection->owner_ = this;
  up_ = connection;
  if (!connection->connecting_ && thread_.access_log_ != nullptr) connected_ns_ = connect_start_ns_;
  if (connection->connecting_) {
    thread_.connect_timers_.Arm(connection->timer_, thread_.loop_->now_ms());
  } else if (phase_ == Phase::kForward) {
    thread_.response_timers_.Arm(connection->timer_, thread_.loop_->now_ms());
  }
}

void Session::EndOutstanding(bool answered) {
  if (room_backend_ >= 0) ReleaseRoom();
  if (outstanding_) {
    thread_.stats_.RequestFinished(static_cast<size_t>(backend_), backend_parity_, answered);
    outstanding_ = false;
  }
}

void Session::ReleaseUpstream(bool reusable) {
  EndOutstanding();
  if (up_ == nullptr) return;
  UpstreamConnection* connection = up_;
  up_ = nullptr;
  connection->owner_ = nullptr;
  if (reusable && !connection->eof_ && !connection->hangup_ && connection->in_.empty() &&
      connection->backend_ != kPeerBackend) {
    connection->reused_ = true;
    connection->readable_ = false;
    thread_.ReturnToPool(connection);
  } else {
    connection->Destroy();
  }
}

}  // namespace drover::proxy
