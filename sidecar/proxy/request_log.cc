// Session with --access-log: what a request's line says (log/access_log.h formats and writes
// it). Nothing here runs without the flag.

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"

namespace drover::proxy {

namespace {
int64_t Micros(int64_t from_ns, int64_t to_ns) {
  return from_ns == 0 || to_ns == 0 ? -1 : (to_ns - from_ns) / 1000;
}
}  // namespace

void Session::NoteRequestForLog(const http::RequestHead& head) {
  log_unix_ms_ = absl::ToUnixMillis(absl::Now());
  log_request_.assign(head.method_text);
  log_request_.push_back(' ');
  log_request_.append(head.target);
  request_head_bytes_ = head.head_bytes;
}

void Session::LogRequest() {
  const int64_t now = MonotonicNs();
  const size_t space = log_request_.find(' ');
  const std::string_view request = log_request_;
  log::AccessLogEntry entry;
  // A head that failed to parse never reached StartRequest: the line says what is known.
  entry.unix_ms =
      start_ns_ != 0 && !log_request_.empty() ? log_unix_ms_ : absl::ToUnixMillis(absl::Now());
  entry.client = peer_ip_;
  entry.method = space == std::string_view::npos ? std::string_view("-") : request.substr(0, space);
  entry.path = space == std::string_view::npos ? std::string_view("-") : request.substr(space + 1);
  entry.status = status_;
  entry.bytes_in = request_head_bytes_ + request_body_forwarded_;
  entry.bytes_out = response_bytes_;
  entry.member = peer_ != nullptr ? std::string_view(peer_->id)
                                  : std::string_view(thread_.config_.sticky.member_id);
  entry.slot = peer_ != nullptr ? -1 : backend_;
  entry.sticky = sticky_result_ < 0
                     ? std::string_view("-")
                     : sticky::StickyResultName(static_cast<sticky::StickyResult>(sticky_result_));
  entry.queue_us = queue_wait_ns_ < 0 ? -1 : queue_wait_ns_ / 1000;
  entry.connect_us = Micros(connect_start_ns_, connected_ns_);
  entry.response_us = Micros(start_ns_, response_head_ns_);
  entry.total_us = start_ns_ == 0 ? 0 : (now - start_ns_) / 1000;
  if (!thread_.access_log_->Append(thread_.config_.access_log, entry)) {
    thread_.stats_.CountAccessLogDropped();
  }
  // Ready for the next request, which may never reach StartRequest (a head that fails to parse).
  log_request_.clear();
  request_head_bytes_ = 0;
  response_bytes_ = 0;
  sticky_result_ = -1;
  queue_wait_ns_ = -1;
  connect_start_ns_ = 0;
  connected_ns_ = 0;
  response_head_ns_ = 0;
}

}  // namespace drover::proxy
