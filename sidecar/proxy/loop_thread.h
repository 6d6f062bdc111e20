// One event-loop thread of the proxy: its listener (SO_REUSEPORT), its client sessions, its
// pools of kept-alive backend connections, its balancer and its statistics. Nothing here is
// shared with another loop thread except the immutable config, the backend list with its atomic
// health flags, and the global connection count checked at accept. ("Worker" is an app process,
// sidecar/supervisor/; this is a thread of the proxy.)
//
//   auto thread = LoopThread::Create(config, backends, &open_connections, listen_fd,
//                                    /*peer_listen_fd=*/-1, /*index=*/0);
//   std::thread t([&] { (*thread)->Run(); });
//   (*thread)->Stop();  // from any thread
#ifndef DROVER_SIDECAR_PROXY_LOOP_THREAD_H_
#define DROVER_SIDECAR_PROXY_LOOP_THREAD_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/http/parser.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/net/buffer.h"
#include "sidecar/net/event_loop.h"
#include "sidecar/net/timer_list.h"
#include "sidecar/proxy/config.h"
#include "sidecar/sticky/policy.h"

namespace drover::proxy {

class Session;
class UpstreamConnection;

class LoopThread : public net::EventHandler, public net::TimerHandler {
 public:
  static absl::StatusOr<std::unique_ptr<LoopThread>> Create(const ProxyConfig& config,
                                                            const balance::BackendSet& backends,
                                                            std::atomic<int64_t>* open_connections,
                                                            int listen_fd, int peer_listen_fd,
                                                            int index);
  ~LoopThread() override;

  void Run() { loop_->Run(); }
  void Stop() { loop_->Stop(); }
  // Thread-safe. Stops accepting, closes idle keep-alive connections, and makes every
  // response from now on close its connection, so in-flight requests finish and nothing new
  // starts. stats().active_connections() falls to zero when this thread is done.
  void BeginDrain();
  // Thread-safe: the member table (other sidecars) sticky sessions route to from now on.
  void SetMembers(std::shared_ptr<const sticky::MemberTable> members);
  // Thread-safe: the cookie codec (keys) from now on, after the secret file changed.
  void SetCookieCodec(std::shared_ptr<const sticky::CookieCodec> codec);

  const metrics::ThreadStats& stats() const { return stats_; }

  // Public listener readiness.
  void OnEvents(uint32_t events) override;
  // The pause after running out of descriptors is over (see PauseAccepting).
  void OnTimeout() override { ResumeAccepting(); }

 private:
  friend class Session;
  friend class UpstreamConnection;
  LoopThread(const ProxyConfig& config, const balance::BackendSet& backends,
             std::atomic<int64_t>* open_connections, int listen_fd, int peer_listen_fd, int index,
             std::unique_ptr<net::EventLoop> loop);
  // The peer listener: requests other members' sidecars forward here.
  class PeerListener : public net::EventHandler {
   public:
    explicit PeerListener(LoopThread* thread) : thread_(thread) {}
    void OnEvents(uint32_t /*events*/) override { thread_->Accept(thread_->peer_listen_fd_, true); }

   private:
    LoopThread* thread_;
  };
  void Accept(int listen_fd, bool from_peer);
  // Out of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending connection stays in the
  // backlog and the level-triggered listener would wake the loop at once, forever. So the
  // listeners leave epoll until a session closes (a descriptor is free) or a short timer
  // fires, whichever comes first (HAProxy and nginx do the same).
  void PauseAccepting();
  void ResumeAccepting();

  // A kept-alive connection to `backend` at `target`, or nullptr. Connections to an older
  // target (a replaced worker process) are closed on the way.
  UpstreamConnection* TakePooled(size_t backend, uint64_t target);
  void ReturnToPool(UpstreamConnection* connection);
  void ForgetPooled(UpstreamConnection* connection);
  void SessionClosed(Session* session);
  // --worker-max-inflight: tells a waiting session, on its own thread, that its place is taken
  // (queue.cc). Always through the loop's task queue, also on this thread: the release that
  // frees a place runs in the middle of another session's work.
  static void DeliverGrant(const balance::RequestQueue::Grant& grant);
  void OnGrant(const balance::RequestQueue::Grant& grant);

  const ProxyConfig& config_;
  const balance::BackendSet& backends_;
  std::atomic<int64_t>* open_connections_;
  int listen_fd_;
  int peer_listen_fd_;
  PeerListener peer_listener_{this};
  std::unique_ptr<net::EventLoop> loop_;
  net::BufferPool buffers_;
  metrics::ThreadStats stats_;
  std::unique_ptr<balance::Balancer> balancer_;
  // This thread's copy of the sticky config, so that its codec can be swapped on this thread
  // (SetCookieCodec) while the router reads it; declared before the router that refers to it.
  sticky::StickyConfig sticky_;
  std::unique_ptr<sticky::StickyRouter> router_;
  log::AccessLogBuffer* access_log_ = nullptr;  // --access-log: this thread's buffer, or null
  std::shared_ptr<const sticky::MemberTable> members_;
  // The members' peer addresses (hosts only): without a shared secret, a request on the peer
  // listener is trusted as forwarded only from one of these.
  absl::flat_hash_set<std::string> member_hosts_;
  net::TimerList header_timers_;
  net::TimerList idle_timers_;
  net::TimerList connect_timers_;
  net::TimerList response_timers_;
  net::TimerList tunnel_timers_;
  net::TimerList pool_timers_;
  net::TimerList linger_timers_;
  net::TimerList body_timers_;
  net::TimerList accept_pause_timers_;
  net::Timer accept_resume_timer_{this};
  bool accept_paused_ = false;
  net::TimerList queue_timers_;
  // Pooled connections per backend, most recently used last (taken first).
  std::vector<std::vector<UpstreamConnection*>> pools_;
  absl::flat_hash_set<Session*> sessions_;
  bool draining_ = false;
  // Parse scratch space, reused by every session of this thread (a head is ~8 KiB of views).
  http::RequestHead request_head_;
  http::ResponseHead response_head_;
};

}  // namespace drover::proxy

#endif  // DROVER_SIDECAR_PROXY_LOOP_THREAD_H_
