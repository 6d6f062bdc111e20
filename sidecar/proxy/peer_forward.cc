// Session: relaying a request to the sidecar of the member its session lives on (over that
// member's peer listener, once: the receiver never forwards it again), serving it here when that
// sidecar cannot be reached, and deciding whether a request on this sidecar's peer listener
// really comes from a member (docs/security.md).

#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"
#include "sidecar/sticky/hop_token.h"

namespace drover::proxy {

using metrics::ErrorReason;

namespace {

// An IPv4 peer seen through a dual-stack IPv6 listener reads "::ffff:10.0.0.5".
std::string_view WithoutMappedPrefix(std::string_view ip) {
  constexpr std::string_view kMapped = "::ffff:";
  if (ip.size() > kMapped.size() && EqualsIgnoreCase(ip.substr(0, kMapped.size()), kMapped) &&
      ip.find('.') != std::string_view::npos) {
    return ip.substr(kMapped.size());
  }
  return ip;
}

}  // namespace

Session::HopTrust Session::CheckHop(const http::RequestHead& head) {
  if (!from_peer_) return HopTrust::kPublic;
  const sticky::StickyConfig& config = thread_.router_->config();
  if (config.codec->origin() != sticky::CookieCodec::KeyOrigin::kShared) {
    // No shared secret: the connection's source address must be a member's (members bind their
    // outgoing peer connections to their own peer address).
    return thread_.member_hosts_.contains(AsAbsl(WithoutMappedPrefix(peer_ip_)))
               ? HopTrust::kMember
               : HopTrust::kPublic;
  }
  std::string_view token;
  for (size_t i = 0; i < head.header_count; ++i) {
    const http::Header& h = head.headers[i];
    if (!EqualsIgnoreCase(h.name, sticky::kHopField)) continue;
    if (!token.empty() || h.value.empty()) return HopTrust::kRejected;  // one token, not empty
    token = h.value;
  }
  // No token: a plain client, or a sidecar of a version before tokens (rolling upgrades).
  if (token.empty()) return HopTrust::kPublic;
  absl::StatusOr<uint32_t> from =
      sticky::CheckHopToken(*config.codec, token, config.member_hash, NowSeconds());
  if (!from.ok()) return HopTrust::kRejected;
  const bool known = thread_.members_ != nullptr && thread_.members_->Find(*from) != nullptr &&
                     *from != config.member_hash;
  return known ? HopTrust::kMember : HopTrust::kRejected;
}

void Session::ConnectPeer(const sticky::Member& member) {
  peer_table_ = thread_.members_;  // keeps `member` alive while the request is relayed
  peer_ = &member;
  backend_ = -1;
  bool in_progress = false;
  // From this sidecar's own peer address when it listens on a specific one, so that without a
  // shared secret the receiver recognises a member by the source address.
  net::SocketAddress source;
  const std::optional<net::SocketAddress>& own = thread_.config_.peer_listen;
  if (own && !own->IsUnspecified() && own->family() == member.peer_address.family()) {
    source = *own;
  }
  absl::StatusOr<int> fd = net::ConnectNonBlockingFrom(source, member.peer_address, in_progress);
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

void Session::AddPeerFields(const sticky::Member& member, std::string_view cookie) {
  // The next sidecar needs the cookie to find the session, and the token to trust the request:
  // they go in fields of their own, so that falling back to serving here can take them out.
  const sticky::StickyConfig& config = thread_.router_->config();
  std::string fields;
  if (!cookie.empty()) {
    absl::StrAppend(&fields, "Cookie: ", config.cookie_name, "=", AsAbsl(cookie), "\r\n");
  }
  std::string token =
      sticky::MakeHopToken(*config.codec, config.member_hash, member.hash, NowSeconds());
  if (!token.empty()) absl::StrAppend(&fields, AsAbsl(sticky::kHopField), ": ", token, "\r\n");
  peer_fields_at_ = request_head_.size() - 2;
  request_head_.insert(peer_fields_at_, fields);
  peer_fields_size_ = fields.size();
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
  if (peer_fields_size_ > 0) {
    request_head_.erase(peer_fields_at_, peer_fields_size_);
    peer_fields_size_ = 0;
  }
  StripRoutePrefix();  // an app key's route: the app here must see its own value
  if (request_body_forwarded_ == 0 && ConnectBackend(-1)) return;
  FailRequest(502, "the session's sidecar is unreachable", reason);
}

}  // namespace drover::proxy
