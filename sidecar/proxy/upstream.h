// A connection to one backend (or to another member's sidecar), owned by a session while it
// serves a request and by the loop thread's pool while it is kept alive unused
// (LoopThread::TakePooled / ReturnToPool; the pool's code is in upstream.cc).
//
//   UpstreamConnection* c = thread.TakePooled(backend, target);   // or new UpstreamConnection
//   c->owner_ = session;          // events now reach session->OnUpstreamEvents
//   ...
//   thread.ReturnToPool(c);       // or c->Destroy()
#ifndef DROVER_SIDECAR_PROXY_UPSTREAM_H_
#define DROVER_SIDECAR_PROXY_UPSTREAM_H_

#include <cstddef>
#include <cstdint>

#include "sidecar/net/buffer.h"
#include "sidecar/net/event_loop.h"
#include "sidecar/net/timer_list.h"

namespace drover::proxy {

class LoopThread;
class Session;

// UpstreamConnection::backend_ of a connection to another member's sidecar: never pooled.
inline constexpr size_t kPeerBackend = ~size_t{0};

class UpstreamConnection : public net::EventHandler, public net::TimerHandler {
 public:
  UpstreamConnection(LoopThread& thread, int fd, size_t backend, uint64_t target, bool connecting);
  ~UpstreamConnection() override;
  void OnEvents(uint32_t events) override;
  void OnTimeout() override;
  // Closes the socket now and frees the object after the current batch of events.
  void Destroy();

 private:
  friend class Session;
  friend class LoopThread;
  LoopThread& thread_;
  int fd_;
  size_t backend_;
  uint64_t target_;  // the backend's target (generation, port) this connection went to
  net::Buffer in_;
  net::Timer timer_{this};
  Session* owner_ = nullptr;
  bool connecting_;
  bool readable_ = false;
  bool writable_ = false;
  bool hangup_ = false;  // EPOLLRDHUP seen: a short read no longer means "drained"
  bool eof_ = false;
  bool reused_ = false;
  bool shut_write_ = false;
};

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_UPSTREAM_H_
