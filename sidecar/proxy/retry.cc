// Session: what a failed backend connection becomes. A request that no byte of its body has
// left yet is retried once on another backend when that is safe; otherwise the client gets a
// 502 or 504 naming the backend, or, once its response started, a cut connection.

#include "absl/strings/str_cat.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"

namespace drover::proxy {

using metrics::ErrorReason;

void Session::OnUpstreamFailure(ErrorReason reason) {
  if (peer_ != nullptr && !response_started_) {
    FallBackFromPeer(reason);
    return;
  }
  const bool connect_failed = reason == ErrorReason::kBackendRefused ||
                              reason == ErrorReason::kBackendConnectTimeout ||
                              reason == ErrorReason::kBackendBusy;
  const bool was_reused = up_ != nullptr && up_->reused_;
  thread_.stats_.CountError(reason);
  if (reason == ErrorReason::kBackendRefused && backend_ >= 0 &&
      thread_.backends_.passive_health()) {
    // Passive health: a refused connect takes the backend out until a check passes again.
    thread_.backends_[static_cast<size_t>(backend_)].up.store(false, std::memory_order_relaxed);
  }
  ReleaseUpstream(false);
  if (thread_.config_.mode == ProxyMode::kTcp) {
    RetryTcpConnect(connect_failed);
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
      thread_.stats_.CountError(ErrorReason::kRetried);
      return;
    }
    backend_ = failed;
  }
  switch (reason) {
    case ErrorReason::kBackendRefused:
      FailRequest(502, absl::StrCat(BackendName(), " refused the connection"), reason);
      break;
    case ErrorReason::kBackendBusy:
      FailRetryLater(absl::StrCat(BackendName(), " is busy: its listen queue is full"), reason);
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

std::string Session::BackendName() const {
  if (backend_ < 0) return "backend";
  return absl::StrCat("backend ", thread_.backends_[static_cast<size_t>(backend_)].name);
}

}  // namespace drover::proxy
