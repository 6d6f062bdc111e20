// Session: HTTP/1 framing. Request and response heads (parsed, then re-serialized), how much
// of each body may be forwarded (Content-Length, chunked, until close), dechunking for
// HTTP/1.0 clients, and the answers the proxy makes itself.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/http/rewrite.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"

namespace drover::proxy {

using metrics::ErrorReason;

namespace {

// Interim (1xx) responses relayed per request; a backend sending more gets a 502, so that
// what waits for the client stays bounded.
constexpr int kMaxInterimResponses = 10;

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

bool Session::ParseRequest() {
  if (in_.empty()) return false;
  http::RequestHead& head = thread_.request_head_;
  const http::ParseLimits& limits = thread_.config_.limits;
  // Parsed again only when new bytes may change the outcome: not once per byte of a trickle.
  http::ParseResult r;
  if (head_scan_.ShouldParse(in_.view(), limits.max_head_bytes)) {
    r = http::ParseRequestHead(in_.view(), limits, head);
  }
  if (r.status == http::ParseStatus::kIncomplete) {
    in_.Space(thread_.buffers_);  // compact, so `full` means the head really does not fit
    if (in_.full()) {
      thread_.stats_.CountError(ErrorReason::kHeadTooLarge);
      const bool uri = http::RequestHeadTooLarge(in_.view()) == http::ParseError::kUriTooLong;
      FailRequest(uri ? 414 : 431, uri ? "request URI too long" : "request head too large",
                  ErrorReason::kHeadTooLarge);
      return true;
    }
    return false;
  }
  if (r.status == http::ParseStatus::kError) {
    int status = http::ParseErrorStatus(r.error);
    ErrorReason reason =
        status == 431 || status == 414 ? ErrorReason::kHeadTooLarge : ErrorReason::kBadRequest;
    thread_.stats_.CountError(reason);
    FailRequest(status, absl::StrCat("bad request: ", AsAbsl(http::ParseErrorName(r.error))),
                reason);
    client_keep_alive_ = false;
    return true;
  }
  StartRequest(head);
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
      thread_.stats_.CountError(ErrorReason::kBadResponse);
      Close();  // the head went out already: all we can do is cut the response short
      return true;
    }
    if (ahead > 0) response_head_.append(bytes.substr(used, r.consumed));
    used += r.consumed;
    if (r.consumed == 0) break;
  }
  up_->in_.Consume(used, thread_.buffers_);
  return used > 0;
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
    http::ResponseHead& head = thread_.response_head_;
    http::ParseResult r =
        http::ParseResponseHead(up_->in_.view(), thread_.config_.limits, method_, head);
    if (r.status == http::ParseStatus::kIncomplete) {
      up_->in_.Space(thread_.buffers_);
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
      if (++interim_responses_ > kMaxInterimResponses) {
        thread_.stats_.CountError(ErrorReason::kBadResponse);
        if (response_head_sent_ != 0 && response_head_sent_ != response_head_.size()) {
          Close();  // the client has part of an interim head: no room for a 502 after it
          return true;
        }
        // What was relayed stays relayed; the final answer is ours, and the backend's
        // connection goes.
        FailRequest(502, absl::StrCat(BackendName(), " sent too many interim (1xx) responses"),
                    ErrorReason::kBadResponse);
        return true;
      }
      // Interim responses (100 Continue, 103 Early Hints) are relayed to HTTP/1.1 clients.
      if (version_minor_ == 1) {
        http::AppendResponseHead(head, true, version_minor_, response_head_);
        response_started_ = true;
      }
      up_->in_.Consume(head.head_bytes, thread_.buffers_);
      continue;
    }
    status_ = head.status;
    response_started_ = true;
    if (thread_.access_log_ != nullptr) response_head_ns_ = MonotonicNs();
    if (head.status == 101) {
      http::AppendResponseHead(head, true, version_minor_, response_head_,
                               StickyResponseFields(head));
      up_->in_.Consume(head.head_bytes, thread_.buffers_);
      thread_.stats_.CountRequest(101, MonotonicNs() - start_ns_);
      if (thread_.access_log_ != nullptr) LogRequest();
      EndOutstanding();
      up_->timer_.Cancel();
      phase_ = Phase::kTunnel;
      thread_.stats_.TunnelOpened();
      ArmClientTimer(ClientTimer::kTunnel);
      return true;
    }
    if (!StickyBodyReady(head)) return false;  // an Engine.IO handshake: its body first
    response_body_ = head.body;
    response_remaining_ = head.content_length;
    response_validated_ = 0;
    response_chunked_.Reset();
    dechunk_ = version_minor_ == 0 && response_body_ == http::BodyKind::kChunked;
    // After a client FIN only the requests already received are answered.
    client_keep_alive_ = request_keep_alive_ && !(eof_ && in_.empty()) && !thread_.draining_ &&
                         !dechunk_ && response_body_ != http::BodyKind::kUntilClose &&
                         request_body_state_ == RequestBody::kDone;
    upstream_keep_alive_ = head.KeepAlive() && response_body_ != http::BodyKind::kUntilClose;
    const size_t head_start = response_head_.size();
    http::AppendResponseHead(head, client_keep_alive_, version_minor_, response_head_,
                             StickyResponseFields(head));
    up_->in_.Consume(head.head_bytes, thread_.buffers_);
    response_state_ = Response::kBody;
    RouteStickyResponse(head_start);
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

void Session::FailRequest(int status, std::string_view text, ErrorReason reason) {
  ReleaseUpstream(false);
  if (thread_.config_.mode == ProxyMode::kTcp) {
    Close();
    return;
  }
  // The connection stays usable only if the whole request was read.
  client_keep_alive_ = phase_ == Phase::kForward && request_body_state_ == RequestBody::kDone &&
                       request_keep_alive_ && !(eof_ && in_.empty()) && !thread_.draining_ &&
                       reason != ErrorReason::kClientTimeout;
  if (start_ns_ == 0 || phase_ == Phase::kHead) start_ns_ = MonotonicNs();
  head_scan_.Reset();
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

}  // namespace drover::proxy
