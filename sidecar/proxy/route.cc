// Session: where a request goes. The sticky decision (this member's slot, another member's
// sidecar, or a new session), then the balancer for anything not pinned to an up slot, and the
// cookie a response sets when the session is new or re-homed.

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"

namespace drover::proxy {

using metrics::ErrorReason;

sticky::StickyRoute Session::ChooseRoute(const http::RequestHead& head, bool https) {
  const sticky::StickyRouter& router = *thread_.router_;
  const bool cookie_mode = router.config().InsertsCookie();
  sticky::StickyRoute route;
  if (router.config().kind != sticky::StickyKind::kNone) {
    route = router.Decide(head, peer_ip_, trusted_hop_, NowSeconds());
    if (route.peer != nullptr && from_peer_ && !trusted_hop_) {
      // On the peer listener without a proof: public, but never forwarded again (no loops with
      // sidecars of a version before proofs), so it is balanced among this member's slots.
      route.result = sticky::StickyResult::kRemapped;
      route.peer = nullptr;
      route.slot = -1;
      route.set_cookie = true;
      route.cookie_issued = 0;
      route.cookie = {};
    }
    thread_.stats_.CountSticky(static_cast<size_t>(route.result));
    sticky_result_ = static_cast<int>(route.result);
  } else {
    sticky_result_ = -1;
  }
  set_cookie_ = cookie_mode && route.set_cookie;
  cookie_issued_ = route.cookie_issued;
  // Kept for every request: a session may be re-homed later (a refused connect, a peer gone).
  cookie_secure_ = cookie_mode && https;
  return route;
}

int Session::PickBackend(int exclude, int slot) {
  int b = slot >= 0 && slot != exclude &&
                  thread_.backends_[static_cast<size_t>(slot)].up.load(std::memory_order_relaxed)
              ? slot
              : thread_.balancer_->Pick(exclude);
  if (b < 0) return b;
  // Balanced somewhere other than the session's slot: the response re-homes the session.
  if (b != slot && thread_.router_->config().InsertsCookie()) {
    set_cookie_ = true;
  }
  return b;
}

std::string Session::StickyResponseFields(const http::ResponseHead& head) {
  if (!set_cookie_ || backend_ < 0) return {};
  const sticky::StickyRouter& router = *thread_.router_;
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

}  // namespace drover::proxy
