// Session: the connection's life cycle, its events and timers, and the pump that moves bytes
// between the client and the backend (session.h lists the files of Session by job).

#include "sidecar/proxy/session.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "sidecar/http/rewrite.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session_internal.h"
#include "sidecar/sticky/engineio.h"

namespace drover::proxy {

using metrics::ErrorReason;

Session::Session(LoopThread& thread, int fd, std::string peer_ip, bool from_peer)
    : thread_(thread), fd_(fd), peer_ip_(std::move(peer_ip)), from_peer_(from_peer) {}

Session::~Session() {
  if (up_ != nullptr) up_->Destroy();
  if (fd_ >= 0) close(fd_);
  in_.Reset(thread_.buffers_);
}

void Session::Start() {
  thread_.stats_.ConnectionOpened();
  if (absl::Status s = thread_.loop_->Add(fd_, this); !s.ok()) {
    Close();
    return;
  }
  if (thread_.config_.mode == ProxyMode::kTcp) {
    StartTcp();
    return;
  }
  ArmClientTimer(ClientTimer::kHeader);
}

void Session::Close() {
  if (phase_ == Phase::kClosed) return;
  // A request cut short (the client went away, or the backend died mid-response) still gets its
  // line, as nginx logs it: 499 when no response had started, else the status that was sent,
  // with the bytes that were.
  if (thread_.access_log_ != nullptr && phase_ == Phase::kForward && !log_request_.empty()) {
    if (!response_started_) status_ = kClientClosedRequest;
    LogRequest();
  }
  if (phase_ == Phase::kTunnel) thread_.stats_.TunnelClosed();
  phase_ = Phase::kClosed;
  timer_.Cancel();
  if (queue_ticket_ != 0) LeaveQueue();
  EndOutstanding();
  if (up_ != nullptr) {
    up_->Destroy();
    up_ = nullptr;
  }
  in_.Reset(thread_.buffers_);
  thread_.loop_->Remove(fd_);  // see UpstreamConnection::Destroy
  close(fd_);
  fd_ = -1;
  thread_.stats_.ConnectionClosed();
  thread_.open_connections_->fetch_sub(1, std::memory_order_relaxed);
  thread_.SessionClosed(this);
}

void Session::CloseIfIdle() {
  if (phase_ == Phase::kHead && in_.empty()) Close();
}

void Session::ArmClientTimer(ClientTimer kind) {
  timer_kind_ = kind;
  net::TimerList* list = nullptr;
  switch (kind) {
    case ClientTimer::kHeader:
      list = &thread_.header_timers_;
      break;
    case ClientTimer::kBody:
      list = &thread_.body_timers_;
      break;
    case ClientTimer::kIdle:
      list = &thread_.idle_timers_;
      break;
    case ClientTimer::kTunnel:
      list = &thread_.tunnel_timers_;
      break;
    case ClientTimer::kLinger:
      list = &thread_.linger_timers_;
      break;
    case ClientTimer::kQueue:
      list = &thread_.queue_timers_;
      break;
    case ClientTimer::kNone:
      timer_.Cancel();
      return;
  }
  list->Arm(timer_, thread_.loop_->now_ms());
}

void Session::OnTimeout() {
  switch (timer_kind_) {
    case ClientTimer::kHeader:
      // A client that has not sent a whole head in time (slowloris) gets 408.
      thread_.stats_.CountError(ErrorReason::kClientTimeout);
      FailRequest(408, "request head not received in time", ErrorReason::kClientTimeout);
      Pump();
      return;
    case ClientTimer::kBody:
      OnBodyTimeout();
      return;
    case ClientTimer::kIdle:
      thread_.stats_.CountError(ErrorReason::kIdleTimeout);
      Close();
      return;
    case ClientTimer::kQueue:
      OnQueueTimeout();
      return;
    case ClientTimer::kTunnel:
    case ClientTimer::kLinger:
    case ClientTimer::kNone:
      Close();
      return;
  }
}

bool Session::BodyAwaitsClient() {
  if (phase_ != Phase::kForward || request_body_state_ != RequestBody::kStreaming) return false;
  if (up_ == nullptr || up_->connecting_ || request_head_sent_ < request_head_.size()) return false;
  if (expect_continue_ && request_body_forwarded_ == 0 && in_.empty() && !response_started_) {
    return false;  // the client waits for the backend's 100 Continue
  }
  bool error = false;
  return ForwardableRequestBody(error) == 0 && !error;
}

void Session::OnBodyTimeout() {
  if (phase_ != Phase::kForward || request_body_state_ != RequestBody::kStreaming) return;
  // Body bytes (or the head) still waiting for the backend mean the backend holds the body up,
  // and the response timer covers that.
  if (!BodyAwaitsClient()) {
    ArmClientTimer(ClientTimer::kBody);
    Pump();
    return;
  }
  thread_.stats_.CountError(ErrorReason::kClientBodyTimeout);
  if (response_started_) {
    Close();  // an early response is under way: it cannot become a 408
    return;
  }
  // FailRequest closes the backend connection: the backend request is aborted.
  FailRequest(408, "request body not received in time", ErrorReason::kClientBodyTimeout);
  Pump();
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
    if (thread_.access_log_ != nullptr) connected_ns_ = MonotonicNs();
    if (phase_ == Phase::kTunnel) {
      up_->timer_.Cancel();
    } else {
      thread_.response_timers_.Arm(up_->timer_, thread_.loop_->now_ms());
    }
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->hangup_ = true;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_->readable_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) up_->writable_ = true;
  Pump();
}

void Session::OnUpstreamTimeout() {
  if (up_ == nullptr) return;
  if (timer_kind_ == ClientTimer::kBody && BodyAwaitsClient()) {
    // The backend has all of the body there is: the silence is the client's, for
    // --client-body-timeout to judge (408), not a 504 blaming the backend.
    thread_.response_timers_.Arm(up_->timer_, thread_.loop_->now_ms());
    return;
  }
  OnUpstreamFailure(up_->connecting_ ? ErrorReason::kBackendConnectTimeout
                                     : ErrorReason::kBackendResponseTimeout);
  Pump();
}

// Every event lands here; each step moves bytes if it can, and the loop stops when a round
// moves nothing.
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
    progress |= HandleEnds();
    if (!progress) return;
  }
  // Still busy after many rounds: yield to other connections and come back at once.
  thread_.loop_->Post([this, &thread = thread_] {
    if (thread.sessions_.contains(this)) Pump();
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
  std::span<char> space = in_.Space(thread_.buffers_);
  if (space.empty()) return false;
  ssize_t n = read(fd_, space.data(), space.size());
  if (n > 0) {
    in_.Commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space.size() && !hangup_) readable_ = false;
    thread_.stats_.AddClientBytes(static_cast<uint64_t>(n), 0);
    if (phase_ == Phase::kTunnel) ArmClientTimer(ClientTimer::kTunnel);
    if (phase_ == Phase::kHead && timer_kind_ == ClientTimer::kIdle) {
      ArmClientTimer(ClientTimer::kHeader);  // a new request started: slowloris clock on
    }
    if (phase_ == Phase::kForward && up_ != nullptr && !up_->connecting_) {
      thread_.response_timers_.Arm(up_->timer_, thread_.loop_->now_ms());
    }
    // Not while queued: --queue-timeout runs then, and the body waits for a worker, not the
    // client.
    if (phase_ == Phase::kForward && request_body_state_ == RequestBody::kStreaming &&
        response_state_ != Response::kLocal && queue_ticket_ == 0) {
      ArmClientTimer(ClientTimer::kBody);
    }
    return true;
  }
  if (in_.empty()) in_.Reset(thread_.buffers_);
  if (n < 0 && WouldBlock(errno)) {
    readable_ = false;
    return false;
  }
  readable_ = false;
  eof_ = true;
  if (n < 0) {
    thread_.stats_.CountError(ErrorReason::kClientReset);
    Close();
  }
  return true;
}

bool Session::ReadUpstream() {
  if (up_ == nullptr || up_->connecting_ || !up_->readable_ || up_->eof_) return false;
  std::span<char> space = up_->in_.Space(thread_.buffers_);
  if (space.empty()) return false;
  ssize_t n = read(up_->fd_, space.data(), space.size());
  if (n > 0) {
    up_->in_.Commit(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < space.size() && !up_->hangup_) up_->readable_ = false;
    thread_.stats_.AddBackendBytes(static_cast<uint64_t>(n), 0);
    if (phase_ == Phase::kTunnel) {
      ArmClientTimer(ClientTimer::kTunnel);
    } else {
      thread_.response_timers_.Arm(up_->timer_, thread_.loop_->now_ms());
    }
    return true;
  }
  if (up_->in_.empty()) up_->in_.Reset(thread_.buffers_);
  if (n < 0 && WouldBlock(errno)) {
    up_->readable_ = false;
    return false;
  }
  up_->readable_ = false;
  up_->eof_ = true;
  return true;
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
    thread_.stats_.CountError(ErrorReason::kBadRequest);
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
  thread_.stats_.AddBackendBytes(0, written);
  size_t from_head = written < head_left ? written : head_left;
  request_head_sent_ += from_head;
  size_t from_body = written - from_head;
  if (from_body > 0) {
    in_.Consume(from_body, thread_.buffers_);
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
    if (timer_kind_ == ClientTimer::kBody) ArmClientTimer(ClientTimer::kNone);
  }
  if (phase_ == Phase::kForward) {
    thread_.response_timers_.Arm(up_->timer_, thread_.loop_->now_ms());
  } else {
    ArmClientTimer(ClientTimer::kTunnel);
  }
  return true;
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
    thread_.stats_.CountError(ErrorReason::kBadResponse);
    if (response_head_sent_ == 0) {
      // Nothing of the response reached the client yet: it can still be told the truth.
      FailRequest(502, absl::StrCat(BackendName(), " sent an invalid chunked body"),
                  ErrorReason::kBadResponse);
      return true;
    }
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
    thread_.stats_.CountError(ErrorReason::kClientReset);
    Close();
    return true;
  }
  size_t written = static_cast<size_t>(n);
  if (written < head_left + body) writable_ = false;
  thread_.stats_.AddClientBytes(0, written);
  response_bytes_ += written;
  size_t from_head = written < head_left ? written : head_left;
  response_head_sent_ += from_head;
  size_t from_body = written - from_head;
  if (from_body > 0) {
    up_->in_.Consume(from_body, thread_.buffers_);
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

void Session::StartRequest(const http::RequestHead& head) {
  start_ns_ = MonotonicNs();
  method_ = head.method;
  version_minor_ = head.version_minor;
  request_keep_alive_ = head.KeepAlive();
  upgrade_ = head.connection_upgrade && !head.upgrade.empty();
  expect_continue_ = head.expect_continue;
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
  interim_responses_ = 0;
  retried_ = false;
  phase_ = Phase::kForward;
  head_scan_.Reset();
  ArmClientTimer(request_body_state_ == RequestBody::kStreaming ? ClientTimer::kBody
                                                                : ClientTimer::kNone);
  if (thread_.access_log_ != nullptr) NoteRequestForLog(head);

  if (head.method == http::Method::kConnect) {
    in_.Consume(head.head_bytes, thread_.buffers_);
    FailRequest(405, "CONNECT is not supported by this reverse proxy", ErrorReason::kBadRequest);
    return;
  }
  const HopTrust trust = CheckHop(head);
  if (trust == HopTrust::kRejected) {
    in_.Consume(head.head_bytes, thread_.buffers_);
    thread_.stats_.CountError(ErrorReason::kBadHop);
    FailRequest(403, "bad Drover-Hop token (MAC, member or time)", ErrorReason::kBadHop);
    return;
  }
  trusted_hop_ = trust == HopTrust::kMember;
  const sticky::StickyRouter& router = *thread_.router_;
  const bool cookie_mode = router.config().InsertsCookie();
  const bool https = router.SecureRequest(head, peer_ip_, trusted_hop_);
  const sticky::StickyRoute route = ChooseRoute(head, https);
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
       .keep_proto = trusted_hop_},
      request_head_);
  request_head_sent_ = 0;
  peer_fields_size_ = 0;
  TakeRoutePrefix(route, router.config().kind == sticky::StickyKind::kSocketIo &&
                             sticky::IsEngineIoHandshake(head.target));
  // A new session sent on by a draining member has no cookie yet: the next sidecar issues it.
  if (route.peer != nullptr) {
    AddPeerFields(*route.peer, cookie_mode ? route.cookie : std::string_view());
  }
  in_.Consume(head.head_bytes, thread_.buffers_);
  if (route.peer != nullptr) {
    ConnectPeer(*route.peer);
    return;
  }
  if (!ConnectBackend(-1, route.slot)) {
    FailRequest(503, "no backend is up", ErrorReason::kNoBackend);
  }
}

void Session::FinishRequest() {
  thread_.stats_.CountRequest(status_, MonotonicNs() - start_ns_);
  if (thread_.access_log_ != nullptr) LogRequest();
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
  // A client that half-closed gets the answers to the requests it sent before; then the
  // connection ends (StartLinger closes it at once after a FIN).
  if (!client_keep_alive_ || (thread_.draining_ && in_.empty()) || (eof_ && in_.empty())) {
    StartLinger();
    return;
  }
  phase_ = Phase::kHead;
  ArmClientTimer(in_.empty() ? ClientTimer::kIdle : ClientTimer::kHeader);
}

void Session::StartLinger() {
  phase_ = Phase::kLinger;
  if (up_ != nullptr) ReleaseUpstream(false);
  in_.Reset(thread_.buffers_);
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
//
// A client FIN (eof_) aborts a request mid-body, and, with --abort-on-client-close (the
// default, as nginx), while its response is awaited or streaming: the client is gone, so is its
// backend request. A FIN that arrives behind more complete requests is a half-close instead: the
// client pipelined them and wants them answered, so every one is, then the connection closes. A
// reset or a failed write always aborts (ReadClient, WriteClient).
bool Session::HandleEnds() {
  if (eof_ && !in_.empty()) fin_behind_pipeline_ = true;
  switch (phase_) {
    case Phase::kHead:
      if (eof_) {
        // Requests pipelined before the FIN are answered first.
        if (!in_.empty() && ParseRequest()) return true;
        if (!in_.empty()) thread_.stats_.CountError(ErrorReason::kClientReset);
        Close();
        return true;
      }
      return false;
    case Phase::kForward:
      if (eof_ && request_body_state_ == RequestBody::kStreaming && !response_started_) {
        thread_.stats_.CountError(ErrorReason::kClientReset);
        Close();  // the client gave up mid-body
        return true;
      }
      // While the response is awaited, or streams (an idle long-poll or event stream would
      // otherwise hold its backend request until the backend next writes).
      if (eof_ && thread_.config_.abort_on_client_close && !fin_behind_pipeline_ &&
          response_state_ != Response::kLocal) {
        thread_.stats_.CountError(ErrorReason::kClientReset);
        Close();  // the client is gone: so is its backend request
        return true;
      }
      if (response_state_ == Response::kBody && up_ != nullptr && up_->eof_ && up_->in_.empty() &&
          response_body_ != http::BodyKind::kUntilClose &&
          response_body_ != http::BodyKind::kNone && !ResponseComplete()) {
        thread_.stats_.CountError(ErrorReason::kBackendReset);
        Close();  // the backend died mid-body: cut the client's response short
        return true;
      }
      return false;
    case Phase::kTunnel:
      if (up_ == nullptr) return false;
      if (eof_ && in_.empty() && !up_->shut_write_ && !up_->connecting_) {
        shutdown(up_->fd_, SHUT_WR);
        up_->shut_write_ = true;
      }
      if (up_->eof_ && up_->in_.empty() && response_head_sent_ == response_head_.size() &&
          !shut_write_) {
        shutdown(fd_, SHUT_WR);
        shut_write_ = true;
      }
      if (shut_write_ && up_->shut_write_) {
        Close();
        return true;
      }
      return false;
    case Phase::kLinger:
    case Phase::kClosed:
      return false;
  }
  return false;
}

}  // namespace drover::proxy
