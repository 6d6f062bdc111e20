// Session: relaying a request to the sidecar of the member its session lives on (over that
// member's peer listener, once: the receiver never forwards it again), and serving it here
// when that sidecar cannot be reached.

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"

namespace drover::proxy {

using metrics::ErrorReason;

void Session::ConnectPeer(const sticky::Member& member) {
  peer_table_ = thread_.members_;  // keeps `member` alive while the request is relayed
  peer_ = &member;
  backend_ = -1;
  bool in_progress = false;
  absl::StatusOr<int> fd = net::ConnectNonBlocking(member.peer_address, in_progress);
  UpstreamConnection* connection = nullptr;
  if (fd.ok()) {
    connection = new UpstreamConnection(thread_, *fd, kPeerBackend, 0, in_progress);
    if (!thread_.loop_->Add(*fd, connection).ok()) {
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
    thread_.connect_timers_.Arm(connection->timer_, thread_.loop_->now_ms());
  } else {
    thread_.response_timers_.Arm(connection->timer_, thread_.loop_->now_ms());
  }
}

void Session::AddPeerCookie(std::string_view cookie) {
  // The next sidecar needs the cookie to find the session: it goes in a field of its own, so
  // that falling back to serving here can take it out again.
  peer_cookie_at_ = request_head_.size() - 2;
  request_head_.insert(
      peer_cookie_at_,
      absl::StrCat("Cookie: ", thread_.router_->config().cookie_name, "=", AsAbsl(cookie), "\r\n"));
  peer_cookie_size_ = request_head_.size() - 2 - peer_cookie_at_;
}

void Session::FallBackFromPeer(ErrorReason reason) {
  // Another member's sidecar is unreachable: its sessions are lost anyway, so this one is
  // re-homed here (a new cookie) rather than failed.
  std::fprintf(stderr, "drover-sidecar: peer %s unreachable (%s); serving here\n",
               peer_->id.c_str(), std::string(metrics::ErrorReasonName(reason)).c_str());
  thread_.stats_.CountError(ErrorReason::kPeerFailed);
  ReleaseUpstream(false);
  peer_ = nullptr;
  peer_table_.reset();
  request_head_sent_ = 0;
  if (peer_cookie_size_ > 0) {
    request_head_.erase(peer_cookie_at_, peer_cookie_size_);
    peer_cookie_size_ = 0;
  }
  StripRoutePrefix();  // an app key's route: the app here must see its own value
  if (request_body_forwarded_ == 0 && ConnectBackend(-1)) return;
  FailRequest(502, "the session's sidecar is unreachable", reason);
}

}  // namespace drover::proxy
