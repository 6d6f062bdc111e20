#include "sidecar/proxy/loop_thread.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "sidecar/net/socket.h"
#include "sidecar/proxy/session.h"

namespace drover::proxy {

namespace {
size_t BlockSize(const ProxyConfig& config) {
  return std::max<size_t>(16 * 1024, config.limits.max_head_bytes);
}
}  // namespace

absl::StatusOr<std::unique_ptr<LoopThread>> LoopThread::Create(
    const ProxyConfig& config, const balance::BackendSet& backends,
    std::atomic<int64_t>* open_connections, int listen_fd, int peer_listen_fd, int index) {
  absl::StatusOr<std::unique_ptr<net::EventLoop>> loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<LoopThread> thread(new LoopThread(config, backends, open_connections, listen_fd,
                                                    peer_listen_fd, index, std::move(*loop)));
  if (absl::Status s = thread->loop_->AddListener(listen_fd, thread.get()); !s.ok()) return s;
  if (peer_listen_fd >= 0) {
    absl::Status s = thread->loop_->AddListener(peer_listen_fd, &thread->peer_listener_);
    if (!s.ok()) return s;
  }
  return thread;
}

LoopThread::LoopThread(const ProxyConfig& config, const balance::BackendSet& backends,
                       std::atomic<int64_t>* open_connections, int listen_fd, int peer_listen_fd,
                       int index, std::unique_ptr<net::EventLoop> loop)
    : config_(config),
      backends_(backends),
      open_connections_(open_connections),
      listen_fd_(listen_fd),
      peer_listen_fd_(peer_listen_fd),
      loop_(std::move(loop)),
      buffers_(BlockSize(config), /*max_free=*/1024),
      stats_(backends.size()),
      balancer_(balance::MakeBalancer(config.balance, backends, stats_,
                                      static_cast<uint64_t>(index) * 7919 + 1)),
      sticky_(config.sticky),
      router_(std::make_unique<sticky::StickyRouter>(sticky_, backends)),
      header_timers_(config.client_header_timeout_ms),
      idle_timers_(config.idle_timeout_ms),
      connect_timers_(config.connect_timeout_ms),
      response_timers_(config.response_timeout_ms),
      tunnel_timers_(config.tunnel_timeout_ms),
      pool_timers_(config.upstream_idle_timeout_ms),
      linger_timers_(config.linger_ms),
      body_timers_(config.client_body_timeout_ms),
      accept_pause_timers_(net::kAcceptPauseMs),
      queue_timers_(config.queue_timeout_ms),
      pools_(backends.size()) {
  for (net::TimerList* list :
       {&header_timers_, &idle_timers_, &connect_timers_, &response_timers_, &tunnel_timers_,
        &pool_timers_, &linger_timers_, &body_timers_, &accept_pause_timers_, &queue_timers_}) {
    loop_->AddTimerList(list);
  }
  if (config.access_logger != nullptr) access_log_ = &config.access_logger->buffer(index);
}

LoopThread::~LoopThread() {
  // Sessions and pooled connections close their sockets; the loop frees them.
  std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
  for (Session* s : sessions) s->Close();
  for (auto& pool : pools_) {
    for (UpstreamConnection* c : pool) c->Destroy();
    pool.clear();
  }
  loop_->FreeDeleted();
  for (int fd : {listen_fd_, peer_listen_fd_}) {
    if (fd < 0) continue;
    loop_->Remove(fd);
    close(fd);
  }
}

void LoopThread::OnEvents(uint32_t /*events*/) { Accept(listen_fd_, false); }

void LoopThread::SetMembers(std::shared_ptr<const sticky::MemberTable> members) {
  loop_->Post([this, members = std::move(members)]() mutable {
    member_hosts_.clear();
    if (members != nullptr) {
      for (const sticky::Member& m : members->members()) {
        member_hosts_.insert(m.peer_address.HostString());
      }
    }
    members_ = members;
    router_->SetMembers(std::move(members));
  });
}

void LoopThread::SetCookieCodec(std::shared_ptr<const sticky::CookieCodec> codec) {
  loop_->Post([this, codec = std::move(codec)]() mutable { sticky_.codec = std::move(codec); });
}

void LoopThread::Accept(int listen_fd, bool from_peer) {
  // Level-triggered listener: take a bounded batch, the rest wakes us again.
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EAGAIN: drained. Out of descriptors: pause, or the listener wakes us again at once.
      if (net::OutOfDescriptors(errno)) PauseAccepting();
      return;
    }
    if (open_connections_->fetch_add(1, std::memory_order_relaxed) >= config_.max_connections) {
      open_connections_->fetch_sub(1, std::memory_order_relaxed);
      stats_.CountError(metrics::ErrorReason::kMaxConnections);
      close(fd);
      continue;
    }
    net::SetNoDelay(fd);
    std::string ip =
        net::SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer), peer_len).HostString();
    auto* session = new Session(*this, fd, std::move(ip), from_peer);
    sessions_.insert(session);
    session->Start();
  }
}

void LoopThread::PauseAccepting() {
  if (accept_paused_) return;
  accept_paused_ = true;
  stats_.CountError(metrics::ErrorReason::kFdLimit);
  for (int fd : {listen_fd_, peer_listen_fd_}) {
    if (fd >= 0) loop_->Remove(fd);
  }
  accept_pause_timers_.Arm(accept_resume_timer_, loop_->now_ms());
}

void LoopThread::ResumeAccepting() {
  if (!accept_paused_) return;
  accept_paused_ = false;
  accept_resume_timer_.Cancel();
  // A listener closed by a drain meanwhile is -1 and stays out.
  bool added = listen_fd_ < 0 || loop_->AddListener(listen_fd_, this).ok();
  if (added && peer_listen_fd_ >= 0) {
    added = loop_->AddListener(peer_listen_fd_, &peer_listener_).ok();
  }
  if (!added) PauseAccepting();  // epoll itself is short of memory: try again later
}

void LoopThread::BeginDrain() {
  loop_->Post([this] {
    if (draining_) return;
    draining_ = true;
    loop_->Remove(listen_fd_);
    close(listen_fd_);
    listen_fd_ = -1;
    if (peer_listen_fd_ >= 0) {
      loop_->Remove(peer_listen_fd_);
      close(peer_listen_fd_);
      peer_listen_fd_ = -1;
    }
    std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
    for (Session* s : sessions) s->CloseIfIdle();
  });
}

void LoopThread::SessionClosed(Session* session) {
  sessions_.erase(session);
  ResumeAccepting();  // its descriptor is free
  loop_->DeleteLater(std::unique_ptr<net::EventHandler>(session));
}

}  // namespace drover::proxy
