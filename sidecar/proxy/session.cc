#include "sidecar/proxy/session.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/http/rewrite.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/worker.h"

namespace drover::proxy {

using metrics::ErrorReason;

namespace {

uint32_t NowSeconds() { return static_cast<uint32_t>(time(nullptr)); }

// UpstreamConnection::backend_ of a connection to another member's sidecar: never pooled.
constexpr size_t kPeerBackend = ~size_t{0};

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Bytes at the front of `buffer` that belong to the body being streamed; for chunked bodies
// `validated` counts what the decoder has already accepted.
size_t Forwardable(http::BodyKind kind, const net::Buffer& buffer, uint64_t remaining,
                   size_t& validated, http::ChunkedDecoder& chunked, bool& error) {
  switch (kind) {
    case http::BodyKind::kLength:
      return remaining < buffer.size() ? static_cast<size_t>(remaining) : buffer.size();
    case http::BodyKind::kChunked: {
      if (!chunked.done() && validated < buffer.size()) {
        http::ChunkedDecoder::Result r = chunked.Feed(buffer.view().substr(validated));
        validated += r.consumed;
        if (r.error != http::ParseError::kNone) error = true;
      }
      return validated;
    }
    case http::BodyKind::kUntilClose:
    case http::BodyKind::kTunnel:
      return buffer.size();
    case http::BodyKind::kNone:
      break;
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// UpstreamConnection

UpstreamConnection::UpstreamConnection(Worker& worker, int fd, size_t backend, uint64_t target,
                                       bool connecting)
    : worker_(worker), fd_(fd), backend_(backend), target_(target), connecting_(connecting) {
  writable_ = !connecting;
}

UpstreamConnection::~UpstreamConnection() {
  if (fd_ >= 0) close(fd_);
  in_.Reset(worker_.buffers_);
}

void UpstreamConnection::Destroy() {
  timer_.Cancel();
  if (fd_ >= 0) {
    // Explicitly: a forked worker may briefly hold a copy of this socket, and epoll forgets a
    // registration only when every copy is closed; its events would reach a freed object.
    worker_.loop_->Remove(fd_);
    close(fd_);
    fd_ = -1;
  }
  in_.Reset(worker_.buffers_);
  owner_ = nullptr;
  worker_.loop_->DeleteLater(std::unique_ptr<net::EventHandler>(this));
}

void UpstreamConnection::OnEvents(uint32_t events) {
  if (fd_ < 0) return;
  if (owner_ != nullptr) {
    owner_->OnUpstreamEvents(events);
    return;
  }
  // Pooled and idle: anything but writability means the backend closed it or misbehaves.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    worker_.ForgetPooled(this);
    Destroy();
  }
}

void UpstreamConnection::OnTimeout() {
  if (owner_ != nullptr) {
    owner_->OnUpstreamTimeout();
    return;
  }
  worker_.ForgetPooled(this);
  Destroy();
}

// ---------------------------------------------------------------------------------------------
// Session: lifecycle

Session::Session(Worker& worker, int fd, std::string peer_ip, bool from_peer)
    : worker_(worker), fd_(fd), peer_ip_(std::move(peer_ip)), from_peer_(from_peer) {}

Session::~Session() {
  if (up_ != nullptr) up_->Destroy();
  if (fd_ >= 0) close(fd_);
  in_.Reset(worker_.buffers_);
}

void Session::Start() {
  worker_.stats_.ConnectionOpened();
  if (absl::Status s = worker_.loop_->Add(fd_, this); !s.ok()) {
    Close();
    return;
  }
  if (worker_.config_.mode == ProxyMode::kTcp) {
    phase_ = Phase::kTunnel;
    worker_.stats_.TunnelOpened();
    response_started_ = true;  // nothing to answer with in TCP mode: failures just close
    ArmClientTimer(ClientTimer::kTunnel);
    if (!ConnectBackend(-1)) {
      worker_.stats_.CountError(ErrorReason::kNoBackend);
      Close();
    }
    return;
  }
  ArmClientTimer(ClientTimer::kHeader);
}

void Session::Close() {
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kTunnel) worker_.stats_.TunnelClosed();
  phase_ = Phase::kClosed;
  timer_.Cancel();
  EndOutstanding();
  if (up_ != nullptr) {
    up_->Destroy();
    up_ = nullptr;
  }
  in_.Reset(worker_.buffers_);
  worker_.loop_->Remove(fd_);  // see UpstreamConnection::Destroy
  close(fd_);
  fd_ = -1;
  worker_.stats_.ConnectionClosed();
  worker_.open_connections_->fetch_sub(1, std::memory_order_relaxed);
  worker_.SessionClosed(this);
}

void Session::CloseIfIdle() {
  if (phase_ == Phase::kHead && in_.empty()) Close();
}

void Session::ArmClientTimer(ClientTimer kind) {
  timer_kind_ = kind;
  net::TimerList* list = nullptr;
  switch (kind) {
    case ClientTimer::kHeader:
      list = &worker_.header_timers_;
      break;
    case ClientTimer::kIdle:
      list = &worker_.idle_timers_;
      break;
    case ClientTimer::kTunnel:
      list = &worker_.tunnel_timers_;
      break;
    case ClientTimer::kLinger:
      list = &worker_.linger_timers_;
      break;
    case ClientTimer::kNone:
      timer_.Cancel();
      return;
  }
  list->Arm(timer_, worker_.loop_->now_ms());
}

void Session::OnTimeout() {
  switch (timer_kind_) {
    case ClientTimer::kHeader:
      // A client that has not sent a whole head in time (slowloris) gets 408.
      worker_.stats_.CountError(ErrorReason::kClientTimeout);
      FailRequest(408, "request head not received in time", ErrorReason::kClientTimeout);
      Pump();
      return;
    case ClientTimer::kIdle:
      worker_.stats_.CountError(ErrorReason::kIdleTimeout);
      Close();
      return;
    case ClientTimer::kTunnel:
    case ClientTimer::kLinger:
    case ClientTimer::kNone:
      Close();
      return;
  }
}

void Session::OnEvents(uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hangup_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  Pump();
}

void Session::OnUpstreamEvents(uint32_t events) {
  if (phase_ == Phase::kClosed || up_ == nullptr) return;
  if (up_->connecting_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (net::SocketError(up_->fd_) != 0) {
      OnUpstreamFailure(ErrorReason::kBackendRefused);
      Pump();
      return;
    }
    up_->connecting_ = false;
    up_->writable_ = true;
    if (phase_ == Phase::kTunnel) {
      up_->timer_.Cancel();
    } else {
      worker_.response_timers_.Arm(up_->timer_, worker_.loop_->now_ms());
    }
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->hangup_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) up_->writable_ = true;
  Pump();
}

void Session::OnUpstreamTimeout() {
  if (up_ == nullptr) return;
  OnUpstreamFailure(up_->connecting_ ? ErrorReason::kBackendConnectTimeout
                                     : ErrorReason::kBackendResponseTimeout);
  Pump();
}

// ---------------------------------------------------------------------------------------------
// Session: the pump. Every event lands here; each step moves bytes if it can, and the loop
// stops when a round moves nothing.

void Session::Pump() {
  for (int round = 0; round < 64; ++round) {
    if (phase_ == Phase::kClosed) return;
    bool progress = ReadClient();
    if (phase_ == Phase::kHead) progress |= ParseRequest();
    if (phase_ == Phase::kClosed) return;
    progress |= WriteUpstream();
    progress |= ReadUpstream();
    if (phase_ == Phase::kForward && response_state_ == Response::kAwaitingHead) {
      progress |= ParseResponse();
    }
    if (phase_ == Phase::kClosed) return;
    progress |= WriteClient();
    if (phase_ == Phase::kClosed) return;
    if (phase_ == Phase::kForward && ResponseComplete()) {
      FinishRequest();
      progress = true;
    }
    if (phase_ == Phase::kClosed) return;
    HandleEnds();
    if (!progress) return;
  }
  // Still busy after many rounds: yield to other connections and come back at once.
  worker_.loop_->Post([this, &worker = worker_] {
    if (worker.sessions_.contains(this)) Pump();
  });
}

bool Session::ReadClient() {
  if (!readable_ || eof_) return false;
  if (phase_ == Phase::kLinger) {
    char sink[4096];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = read(fd_, sink, sizeof(sink));
      if (n > 0) continue;
      if (n < 0 && WouldBlock(errno)) {
        readable_ = false;
        return false;
      }
      Close();  // EOF or error: the client has read our answer
      return true;
    }
    return false;
  }
  std::span<char> space = in_.Space(worker_.buffers_);
  if (space.empty()) return false;
  ssize_t n = read(fd_, space.data(), space.size());
  if (n > 0) {
    in_.Commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space.size() && !hangup_) readable_ = false;
    worker_.stats_.AddClientBytes(static_cast<uint64_t>(n), 0);
    if (phase_ == Phase::kTunnel) ArmClientTimer(ClientTimer::kTunnel);
    if (phase_ == Phase::kHead && timer_kind_ == ClientTimer::kIdle) {
      ArmClientTimer(ClientTimer::kHeader);  // a new request started: slowloris clock on
    }
    if (phase_ == Phase::kForward && up_ != nullptr && !up_->connecting_) {
      worker_.response_timers_.Arm(up_->timer_, worker_.loop_->now_ms());
    }
    return true;
  }
  if (in_.empty()) in_.Reset(worker_.buffers_);
  if (n < 0 && WouldBlock(errno)) {
    readable_ = false;
    return false;
  }
  readable_ = false;
  eof_ = true;
  if (n < 0) {
    worker_.stats_.CountError(ErrorReason::kClientReset);
    Close();
  }
  return true;
}

bool Session::ReadUpstream() {
  if (up_ == nullptr || up_->connecting_ || !up_->readable_ || up_->eof_) return false;
  std::span<char> space = up_->in_.Space(worker_.buffers_);
  if (space.empty()) return false;
  ssize_t n = read(up_->fd_, space.data(), space.size());
  if (n > 0) {
    up_->in_.Commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space.size() && !up_->hangup_) up_->readable_ = false;
    worker_.stats_.AddBackendBytes(static_cast<uint64_t>(n), 0);
    if (phase_ == Phase::kTunnel) {
      ArmClientTimer(ClientTimer::kTunnel);
    } else {
      worker_.response_timers_.Arm(up_->timer_, worker_.loop_->now_ms());
    }
    return true;
  }
  if (up_->in_.empty()) up_->in_.Reset(worker_.buffers_);
  if (n < 0 && WouldBlock(errno)) {
    up_->readable_ = false;
    return false;
  }
  up_->readable_ = false;
  up_->eof_ = true;
  return true;
}

size_t Session::ForwardableRequestBody(bool& error) {
  if (phase_ == Phase::kTunnel) return in_.size();
  if (request_body_state_ != RequestBody::kStreaming) return 0;
  return Forwardable(request_body_, in_, request_remaining_, request_validated_, request_chunked_,
                     error);
}

size_t Session::ForwardableResponseBody(bool& error) {
  if (up_ == nullptr) return 0;
  if (phase_ == Phase::kTunnel) return up_->in_.size();
  if (response_state_ != Response::kBody || dechunk_) return 0;
  return Forwardable(response_body_, up_->in_, response_remaining_, response_validated_,
                     response_chunked_, error);
}

bool Session::WriteUpstream() {
  if (up_ == nullptr || up_->connecting_ || !up_->writable_ || up_->shut_write_) return false;
  if (phase_ != Phase::kForward && phase_ != Phase::kTunnel) return false;
  bool error = false;
  iovec iov[2];
  int count = 0;
  size_t head_left = request_head_.size() - request_head_sent_;
  if (head_left > 0) iov[count++] = {request_head_.data() + request_head_sent_, head_left};
  size_t body = ForwardableRequestBody(error);
  if (error) {
    // A malformed chunked body: the backend has a partial request it cannot finish.
    worker_.stats_.CountError(ErrorReason::kBadRequest);
    if (!response_started_) {
      ReleaseUpstream(false);
      FailRequest(400, "malformed chunked request body", ErrorReason::kBadRequest);
      client_keep_alive_ = false;
    } else {
      Close();
    }
    return true;
  }
  if (body > 0) iov[count++] = {const_cast<char*>(in_.view().data()), body};
  if (count == 0) return false;
  ssize_t n = writev(up_->fd_, iov, count);
  if (n < 0) {
    if (WouldBlock(errno)) {
      up_->writable_ = false;
      return false;
    }
    OnUpstreamFailure(ErrorReason::kBackendReset);
    return true;
  }
  size_t written = static_cast<size_t>(n);
  if (written < head_left + body) up_->writable_ = false;
  worker_.stats_.AddBackendBytes(0, written);
  size_t from_head = written < head_left ? written : head_left;
  request_head_sent_ += from_head;
  size_t from_body = written - from_head;
  if (from_body > 0) {
    in_.Consume(from_body, worker_.buffers_);
    request_body_forwarded_ += from_body;
    if (phase_ == Phase::kForward) {
      if (request_body_ == http::BodyKind::kLength) {
        request_remaining_ -= from_body;
      } else {
        request_validated_ -= from_body;
      }
    }
  }
  if (phase_ == Phase::kForward && request_body_state_ == RequestBody::kStreaming &&
      request_head_sent_ == request_head_.size() &&
      ((request_body_ == http::BodyKind::kLength && request_remaining_ == 0) ||
       (request_body_ == http::BodyKind::kChunked && request_chunked_.done() &&
        request_validated_ == 0))) {
    request_body_state_ = RequestBody::kDone;
  }
  if (phase_ == Phase::kForward) {
    worker_.response_timers_.Arm(up_->timer_, worker_.loop_->now_ms());
  } else {
    ArmClientTimer(ClientTimer::kTunnel);
  }
  return true;
}

// An HTTP/1.0 client cannot read chunked coding: the payload is copied out of the chunks into
// the output queue and the response ends with the connection (its head said so).
bool Session::Dechunk() {
  if (up_ == nullptr || response_head_sent_ != response_head_.size()) return false;
  response_head_.clear();
  response_head_sent_ = 0;
  std::string_view bytes = up_->in_.view();
  size_t used = 0;
  while (used < bytes.size() && !response_chunked_.done() && response_head_.size() < 16384) {
    uint64_t ahead = response_chunked_.data_ahead();
    size_t n = ahead > 0 ? std::min<size_t>(static_cast<size_t>(ahead), bytes.size() - used) : 1;
    http::ChunkedDecoder::Result r = response_chunked_.Feed(bytes.substr(used, n));
    if (r.error != http::ParseError::kNone) {
      worker_.stats_.CountError(ErrorReason::kBadResponse);
      Close();  // the head went out already: all we can do is cut the response short
      return true;
    }
    if (ahead > 0) response_head_.append(bytes.substr(used, r.consumed));
    used += r.consumed;
    if (r.consumed == 0) break;
  }
  up_->in_.Consume(used, worker_.buffers_);
  return used > 0;
}

bool Session::WriteClient() {
  if (!writable_ || shut_write_) return false;
  if (dechunk_ && phase_ == Phase::kForward && response_state_ == Response::kBody) {
    Dechunk();
    if (phase_ == Phase::kClosed) return true;
  }
  bool error = false;
  iovec iov[2];
  int count = 0;
  size_t head_left = response_head_.size() - response_head_sent_;
  if (head_left > 0) iov[count++] = {response_head_.data() + response_head_sent_, head_left};
  size_t body = ForwardableResponseBody(error);
  if (error) {
    worker_.stats_.CountError(ErrorReason::kBadResponse);
    Close();  // the head went out already: all we can do is cut the response short
    return true;
  }
  if (body > 0) iov[count++] = {const_cast<char*>(up_->in_.view().data()), body};
  if (count == 0) return false;
  ssize_t n = writev(fd_, iov, count);
  if (n < 0) {
    if (WouldBlock(errno)) {
      writable_ = false;
      return false;
    }
    worker_.stats_.CountError(ErrorReason::kClientReset);
    Close();
    return true;
  }
  size_t written = static_cast<size_t>(n);
  if (written < head_left + body) writable_ = false;
  worker_.stats_.AddClientBytes(0, written);
  size_t from_head = written < head_left ? written : head_left;
  response_head_sent_ += from_head;
  size_t from_body = written - from_head;
  if (from_body > 0) {
    up_->in_.Consume(from_body, worker_.buffers_);
    if (phase_ == Phase::kForward) {
      if (response_body_ == http::BodyKind::kLength) {
        response_remaining_ -= from_body;
      } else if (response_body_ == http::BodyKind::kChunked) {
        response_validated_ -= from_body;
      }
    }
  }
  if (phase_ == Phase::kTunnel) ArmClientTimer(ClientTimer::kTunnel);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Session: requests

bool Session::ParseRequest() {
  if (in_.empty()) return false;
  http::RequestHead& head = worker_.request_head_;
  http::ParseResult r = http::ParseRequestHead(in_.view(), worker_.config_.limits, head);
  if (r.status == http::ParseStatus::kIncomplete) {
    in_.Space(worker_.buffers_);  // compact, so `full` means the head really does not fit
    if (in_.full()) {
      worker_.stats_.CountError(ErrorReason::kHeadTooLarge);
      FailRequest(431, "request head too large", ErrorReason::kHeadTooLarge);
      return true;
    }
    return false;
  }
  if (r.status == http::ParseStatus::kError) {
    int status = http::ParseErrorStatus(r.error);
    ErrorReason reason = status == 431 ? ErrorReason::kHeadTooLarge : ErrorReason::kBadRequest;
    worker_.stats_.CountError(reason);
    FailRequest(status, absl::StrCat("bad request: ", AsAbsl(http::ParseErrorName(r.error))),
                reason);
    client_keep_alive_ = false;
    return true;
  }
  StartRequest(head);
  return true;
}

void Session::StartRequest(const http::RequestHead& head) {
  start_ns_ = MonotonicNs();
  method_ = head.method;
  version_minor_ = head.version_minor;
  request_keep_alive_ = head.KeepAlive();
  upgrade_ = head.connection_upgrade && !head.upgrade.empty();
  request_body_ = head.body;
  request_remaining_ = head.content_length;
  request_validated_ = 0;
  request_body_forwarded_ = 0;
  request_chunked_.Reset();
  request_body_state_ = (head.body == http::BodyKind::kNone ||
                         (head.body == http::BodyKind::kLength && head.content_length == 0))
                            ? RequestBody::kDone
                            : RequestBody::kStreaming;
  response_state_ = Response::kAwaitingHead;
  response_started_ = false;
  response_head_.clear();
  response_head_sent_ = 0;
  status_ = 0;
  retried_ = false;
  phase_ = Phase::kForward;
  ArmClientTimer(ClientTimer::kNone);

  if (head.method == http::Method::kConnect) {
    in_.Consume(head.head_bytes, worker_.buffers_);
    FailRequest(405, "CONNECT is not supported by this reverse proxy", ErrorReason::kBadRequest);
    return;
  }
  const sticky::StickyRouter& router = *worker_.router_;
  const bool cookie_mode = router.config().kind == sticky::StickyKind::kCookie;
  sticky::StickyRoute route;
  if (router.config().kind != sticky::StickyKind::kNone) {
    route = router.Decide(head, peer_ip_, from_peer_, NowSeconds());
    worker_.stats_.CountSticky(static_cast<size_t>(route.result));
  }
  set_cookie_ = cookie_mode && route.set_cookie;
  cookie_issued_ = route.cookie_issued;
  // Kept for every request: a session may be re-homed later (a refused connect, a peer gone).
  const bool https = router.SecureRequest(head, peer_ip_, from_peer_);
  cookie_secure_ = cookie_mode && https;
  peer_ = nullptr;
  peer_table_.reset();
  request_head_.clear();
  http::AppendRequestHead(
      head,
      {.client_ip = peer_ip_,
       .proto = https ? "https" : "http",
       // The app never sees the sticky cookie.
       .strip_cookie =
           cookie_mode ? std::string_view(router.config().cookie_name) : std::string_view(),
       .keep_proto = from_peer_},
      request_head_);
  request_head_sent_ = 0;
  peer_cookie_size_ = 0;
  // A new session sent on by a draining member has no cookie yet: the next sidecar issues it.
  if (route.peer != nullptr && cookie_mode && !route.cookie.empty()) {
    // The next sidecar needs the cookie to find the session: it goes in a field of its own, so
    // that falling back to serving here can take it out again.
    peer_cookie_at_ = request_head_.size() - 2;
    request_head_.insert(peer_cookie_at_, absl::StrCat("Cookie: ", router.config().cookie_name, "=",
                                                       AsAbsl(route.cookie), "\r\n"));
    peer_cookie_size_ = request_head_.size() - 2 - peer_cookie_at_;
  }
  in_.Consume(head.head_bytes, worker_.buffers_);
  if (route.peer != nullptr) {
    peer_table_ = worker_.members_;
    ConnectPeer(*route.peer);
    return;
  }
  if (!ConnectBackend(-1, route.slot)) {
    FailRequest(503, "no backend is up", ErrorReason::kNoBackend);
  }
}

void Session::ConnectPeer(const sticky::Member& member) {
  peer_ = &member;
  backend_ = -1;
  bool in_progress = false;
  absl::StatusOr<int> fd = net::ConnectNonBlocking(member.peer_address, in_progress);
  UpstreamConnection* connection = nullptr;
  if (fd.ok()) {
    connection = new UpstreamConnection(worker_, *fd, kPeerBackend, 0, in_progress);
    if (!worker_.loop_->Add(*fd, connection).ok()) {
      connection->Destroy();
      connection = nullptr;
    }
  }
  if (connection == nullptr) {
    OnUpstreamFailure(ErrorReason::kBackendRefused);
    return;
  }
  connection->owner_ = this;
  up_ = connection;
  if (connection->connecting_) {
    worker_.connect_timers_.Arm(connection->timer_, worker_.loop_->now_ms());
  } else {
    worker_.response_timers_.Arm(connection->timer_, worker_.loop_->now_ms());
  }
}

std::string Session::StickyResponseFields(const http::ResponseHead& head) {
  if (!set_cookie_ || backend_ < 0) return {};
  const sticky::StickyRouter& router = *worker_.router_;
  std::string fields = absl::StrCat(
      "Set-Cookie: ", router.CookieFor(backend_, cookie_issued_, NowSeconds(), cookie_secure_),
      "\r\n");
  // HAProxy's `nocache`: a response that hands out a session must not be cached and shared,
  // unless the app already said so.
  for (size_t i = 0; i < head.header_count; ++i) {
    const http::Header& h = head.headers[i];
    if (!EqualsIgnoreCase(h.name, "cache-control")) continue;
    for (std::string_view directive : {"no-cache", "no-store", "private"}) {
      for (size_t at = 0; at + directive.size() <= h.value.size(); ++at) {
        if (EqualsIgnoreCase(h.value.substr(at, directive.size()), directive)) return fields;
      }
    }
  }
  fields.append("Cache-Control: private\r\n");
  return fields;
}

bool Session::ConnectBackend(int exclude, int slot) {
  int b = slot >= 0 && slot != exclude &&
                  worker_.backends_[static_cast<size_t>(slot)].up.load(std::memory_order_relaxed)
              ? slot
              : worker_.balancer_->Pick(exclude);
  if (b < 0) return false;
  // Balanced somewhere other than the session's slot: the response re-homes the session.
  if (b != slot && worker_.router_->config().kind == sticky::StickyKind::kCookie) {
    set_cookie_ = true;
  }
  backend_ = b;
  const balance::Backend& backend = worker_.backends_[static_cast<size_t>(b)];
  const uint64_t target = backend.target.load(std::memory_order_acquire);
  backend_parity_ = balance::Backend::ParityOf(target);
  worker_.stats_.RequestStarted(static_cast<size_t>(b), backend_parity_);
  outstanding_ = true;
  UpstreamConnection* connection = worker_.TakePooled(static_cast<size_t>(b), target);
  if (connection == nullptr) {
    bool in_progress = false;
    absl::StatusOr<int> fd = net::ConnectNonBlocking(backend.AddressOf(target), in_progress);
    if (!fd.ok()) {
      OnUpstreamFailure(ErrorReason::kBackendRefused);
      return true;  // answered (retried or failed) by OnUpstreamFailure
    }
    connection = new UpstreamConnection(worker_, *fd, static_cast<size_t>(b), target, in_progress);
    if (!worker_.loop_->Add(*fd, connection).ok()) {
      connection->Destroy();
      OnUpstreamFailure(ErrorReason::kBackendRefused);
      return true;
    }
  }
  connection->owner_ = this;
  up_ = connection;
  if (connection->connecting_) {
    worker_.connect_timers_.Arm(connection->timer_, worker_.loop_->now_ms());
  } else if (phase_ == Phase::kForward) {
    worker_.response_timers_.Arm(connection->timer_, worker_.loop_->now_ms());
  }
  return true;
}

void Session::EndOutstanding(bool answered) {
  if (outstanding_) {
    worker_.stats_.RequestFinished(static_cast<size_t>(backend_), backend_parity_, answered);
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
    worker_.ReturnToPool(connection);
  } else {
    connection->Destroy();
  }
}

std::string Session::BackendName() const {
  if (backend_ < 0) return "backend";
  return absl::StrCat("backend ", worker_.backends_[static_cast<size_t>(backend_)].name);
}

void Session::OnUpstreamFailure(ErrorReason reason) {
  if (peer_ != nullptr && !response_started_) {
    // Another member's sidecar is unreachable: its sessions are lost anyway, so this one is
    // re-homed here (a new cookie) rather than failed.
    std::fprintf(stderr, "drover-sidecar: peer %s unreachable (%s); serving here\n",
                 peer_->id.c_str(), std::string(metrics::ErrorReasonName(reason)).c_str());
    worker_.stats_.CountError(ErrorReason::kPeerFailed);
    ReleaseUpstream(false);
    peer_ = nullptr;
    peer_table_.reset();
    request_head_sent_ = 0;
    if (peer_cookie_size_ > 0) {
      request_head_.erase(peer_cookie_at_, peer_cookie_size_);
      peer_cookie_size_ = 0;
    }
    if (request_body_forwarded_ == 0 && ConnectBackend(-1)) return;
    FailRequest(502, "the session's sidecar is unreachable", reason);
    return;
  }
  const bool connect_failed =
      reason == ErrorReason::kBackendRefused || reason == ErrorReason::kBackendConnectTimeout;
  const bool was_reused = up_ != nullptr && up_->reused_;
  worker_.stats_.CountError(reason);
  if (reason == ErrorReason::kBackendRefused && backend_ >= 0 &&
      worker_.backends_.passive_health()) {
    // Passive health: a refused connect takes the backend out until a check passes again.
    worker_.backends_[static_cast<size_t>(backend_)].up.store(false, std::memory_order_relaxed);
  }
  ReleaseUpstream(false);
  if (worker_.config_.mode == ProxyMode::kTcp) {
    if (connect_failed && !retried_) {
      retried_ = true;
      worker_.stats_.CountError(ErrorReason::kRetried);
      if (ConnectBackend(backend_)) return;
    }
    Close();
    return;
  }
  if (response_started_) {
    Close();
    return;
  }
  // Retry once when no byte of the body was consumed and the request can safely run twice:
  // nothing reached the backend (connect failed), or the method is idempotent. A response
  // timeout is not retried: the backend may still be working on it.
  const bool safe = connect_failed || http::IsIdempotent(method_);
  if (!retried_ && request_body_forwarded_ == 0 && safe &&
      reason != ErrorReason::kBackendResponseTimeout) {
    retried_ = true;
    request_head_sent_ = 0;
    // Another backend first; a kept-alive connection the backend had just closed says nothing
    // about the backend, so with no other one up the same one gets a fresh connection.
    const int failed = backend_;
    if (ConnectBackend(failed) || (was_reused && ConnectBackend(-1))) {
      worker_.stats_.CountError(ErrorReason::kRetried);
      return;
    }
    backend_ = failed;
  }
  switch (reason) {
    case ErrorReason::kBackendRefused:
      FailRequest(502, absl::StrCat(BackendName(), " refused the connection"), reason);
      break;
    case ErrorReason::kBackendConnectTimeout:
      FailRequest(504, absl::StrCat(BackendName(), " did not accept the connection in time"),
                  reason);
      break;
    case ErrorReason::kBackendResponseTimeout:
      FailRequest(504, absl::StrCat(BackendName(), " did not answer in time"), reason);
      break;
    case ErrorReason::kBadResponse:
      FailRequest(502, absl::StrCat(BackendName(), " sent an invalid response"), reason);
      break;
    default:
      FailRequest(502, absl::StrCat(BackendName(), " closed the connection before answering"),
                  reason);
      break;
  }
}

void Session::FailRequest(int status, std::string_view text, ErrorReason reason) {
  ReleaseUpstream(false);
  if (worker_.config_.mode == ProxyMode::kTcp) {
    Close();
    return;
  }
  // The connection stays usable only if the whole request was read.
  client_keep_alive_ = phase_ == Phase::kForward && request_body_state_ == RequestBody::kDone &&
                       request_keep_alive_ && !eof_ && !worker_.draining_ &&
                       reason != ErrorReason::kClientTimeout;
  if (start_ns_ == 0 || phase_ == Phase::kHead) start_ns_ = MonotonicNs();
  phase_ = Phase::kForward;
  status_ = status;
  response_state_ = Response::kLocal;
  response_started_ = true;
  response_head_.clear();
  response_head_sent_ = 0;
  http::AppendErrorResponse(status, text, client_keep_alive_, response_head_);
  ArmClientTimer(ClientTimer::kNone);
  (void)reason;
}

bool Session::ParseResponse() {
  for (;;) {
    if (up_ == nullptr) return false;
    if (up_->in_.empty()) {
      if (up_->eof_) {
        OnUpstreamFailure(ErrorReason::kBackendReset);
        return true;
      }
      return false;
    }
    http::ResponseHead& head = worker_.response_head_;
    http::ParseResult r =
        http::ParseResponseHead(up_->in_.view(), worker_.config_.limits, method_, head);
    if (r.status == http::ParseStatus::kIncomplete) {
      up_->in_.Space(worker_.buffers_);
      if (up_->in_.full() || up_->eof_) {
        OnUpstreamFailure(up_->eof_ ? ErrorReason::kBackendReset : ErrorReason::kBadResponse);
        return true;
      }
      return false;
    }
    if (r.status == http::ParseStatus::kError || (head.status == 101 && !upgrade_)) {
      retried_ = true;  // a backend that answers garbage is not asked again
      OnUpstreamFailure(ErrorReason::kBadResponse);
      return true;
    }
    if (head.status < 200 && head.status != 101) {
      // Interim responses (100 Continue, 103 Early Hints) are relayed to HTTP/1.1 clients.
      if (version_minor_ == 1) {
        http::AppendResponseHead(head, true, version_minor_, response_head_);
        response_started_ = true;
      }
      up_->in_.Consume(head.head_bytes, worker_.buffers_);
      continue;
    }
    status_ = head.status;
    response_started_ = true;
    if (head.status == 101) {
      http::AppendResponseHead(head, true, version_minor_, response_head_,
                               StickyResponseFields(head));
      up_->in_.Consume(head.head_bytes, worker_.buffers_);
      worker_.stats_.CountRequest(101, MonotonicNs() - start_ns_);
      EndOutstanding();
      up_->timer_.Cancel();
      phase_ = Phase::kTunnel;
      worker_.stats_.TunnelOpened();
      ArmClientTimer(ClientTimer::kTunnel);
      return true;
    }
    response_body_ = head.body;
    response_remaining_ = head.content_length;
    response_validated_ = 0;
    response_chunked_.Reset();
    dechunk_ = version_minor_ == 0 && response_body_ == http::BodyKind::kChunked;
    client_keep_alive_ = request_keep_alive_ && !eof_ && !worker_.draining_ && !dechunk_ &&
                         response_body_ != http::BodyKind::kUntilClose &&
                         request_body_state_ == RequestBody::kDone;
    upstream_keep_alive_ = head.KeepAlive() && response_body_ != http::BodyKind::kUntilClose;
    http::AppendResponseHead(head, client_keep_alive_, version_minor_, response_head_,
                             StickyResponseFields(head));
    up_->in_.Consume(head.head_bytes, worker_.buffers_);
    response_state_ = Response::kBody;
    return true;
  }
}

bool Session::ResponseComplete() const {
  if (response_head_sent_ != response_head_.size()) return false;
  switch (response_state_) {
    case Response::kAwaitingHead:
      return false;
    case Response::kLocal:
      return true;
    case Response::kBody:
      break;
  }
  switch (response_body_) {
    case http::BodyKind::kNone:
      return true;
    case http::BodyKind::kLength:
      return response_remaining_ == 0;
    case http::BodyKind::kChunked:
      return response_chunked_.done() && (dechunk_ || response_validated_ == 0);
    case http::BodyKind::kUntilClose:
    case http::BodyKind::kTunnel:
      return up_ != nullptr && up_->eof_ && up_->in_.empty();
  }
  return false;
}

void Session::FinishRequest() {
  worker_.stats_.CountRequest(status_, MonotonicNs() - start_ns_);
  const bool reusable = response_state_ == Response::kBody && upstream_keep_alive_ &&
                        request_body_state_ == RequestBody::kDone;
  EndOutstanding(/*answered=*/response_state_ == Response::kBody);
  if (response_state_ == Response::kBody && request_body_state_ != RequestBody::kDone) {
    client_keep_alive_ = false;  // an early answer: the rest of the body cannot be framed
  }
  ReleaseUpstream(reusable);
  // An idle keep-alive connection keeps no head memory (a few hundred bytes each, which is
  // most of what 10k idle connections would otherwise cost); one allocation per request buys it.
  std::string().swap(response_head_);
  std::string().swap(request_head_);
  response_head_sent_ = 0;
  request_head_sent_ = 0;
  start_ns_ = 0;
  backend_ = -1;
  if (!client_keep_alive_ || (worker_.draining_ && in_.empty())) {
    StartLinger();
    return;
  }
  phase_ = Phase::kHead;
  ArmClientTimer(in_.empty() ? ClientTimer::kIdle : ClientTimer::kHeader);
}

void Session::StartLinger() {
  phase_ = Phase::kLinger;
  if (up_ != nullptr) ReleaseUpstream(false);
  in_.Reset(worker_.buffers_);
  if (eof_) {
    Close();
    return;
  }
  shutdown(fd_, SHUT_WR);
  shut_write_ = true;
  readable_ = true;  // drain whatever is already queued
  ArmClientTimer(ClientTimer::kLinger);
}

// What a closed side means depends on the phase; settled after each round of the pump.
void Session::HandleEnds() {
  switch (phase_) {
    case Phase::kHead:
      if (eof_) {
        if (!in_.empty()) worker_.stats_.CountError(ErrorReason::kClientReset);
        Close();
      }
      return;
    case Phase::kForward:
      if (eof_ && request_body_state_ == RequestBody::kStreaming && !response_started_) {
        worker_.stats_.CountError(ErrorReason::kClientReset);
        Close();  // the client gave up mid-body
      }
      if (phase_ == Phase::kForward && response_state_ == Response::kBody && up_ != nullptr &&
          up_->eof_ && up_->in_.empty() && response_body_ != http::BodyKind::kUntilClose &&
          response_body_ != http::BodyKind::kNone && !ResponseComplete()) {
        worker_.stats_.CountError(ErrorReason::kBackendReset);
        Close();  // the backend died mid-body: cut the client's response short
      }
      return;
    case Phase::kTunnel:
      if (up_ == nullptr) return;
      if (eof_ && in_.empty() && !up_->shut_write_ && !up_->connecting_) {
        shutdown(up_->fd_, SHUT_WR);
        up_->shut_write_ = true;
      }
      if (up_->eof_ && up_->in_.empty() && response_head_sent_ == response_head_.size() &&
          !shut_write_) {
        shutdown(fd_, SHUT_WR);
        shut_write_ = true;
      }
      if (shut_write_ && up_->shut_write_) Close();
      return;
    case Phase::kLinger:
    case Phase::kClosed:
      return;
  }
}

}  // namespace drover::proxy
