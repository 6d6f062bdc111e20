// Where a request goes under --sticky: to one of this member's slots, to another member's
// sidecar, or to the balancer (a new session), and whether its response sets the cookie.
//
//   absl::StatusOr<StickyConfig> config = ParseStickyConfig("query:sid", ...);
//   StickyRouter router(*config, backends);
//   router.SetMembers(table);                  // on the worker's thread
//   StickyRoute route = router.Decide(head, client_ip, /*from_peer=*/false, now);
//
// Cookie mode (default) follows HAProxy's `cookie NAME insert indirect nocache`: the cookie
// names (member, slot), is stripped before the app sees the request, and a response that sets
// it is marked private. Hash modes map a key (application cookie, header, query parameter,
// path segment, client address) onto (member, slot) targets with a Maglev table (maglev.h): O(1)
// per request, every sidecar with the same member table agrees, and one target's coming or going
// moves ~1/N keys at small N (~10/N at 40,000 targets).
//
// Keys the app issues cannot be hashed (the first request is balanced before the key exists):
// app-cookie:NAME prefixes the app's cookie value with the route of the slot that set it, and
// socketio does the same to the Engine.IO sid of the handshake (route_prefix.h, engineio.h); the
// route decides, and the prefix is taken off before the app sees the request. socketio also
// inserts and honours the cookie, for clients that keep it.
//
// Draining members (MemberState::kDraining) keep their sessions: cookies naming them are
// forwarded to them from any sidecar, and hash keys keep mapping onto their slots until they
// leave the table. In cookie mode a new session arriving at a draining member's public listener
// is forwarded to a ready member (weighted by slots), which places it and issues the cookie.
#ifndef DROVER_SIDECAR_STICKY_POLICY_H_
#define DROVER_SIDECAR_STICKY_POLICY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/http/parser.h"
#include "sidecar/sticky/cookie.h"
#include "sidecar/sticky/hash.h"
#include "sidecar/sticky/maglev.h"
#include "sidecar/sticky/members.h"

namespace drover::sticky {

enum class StickyKind : uint8_t {
  kCookie,
  kAppCookie,
  kHeader,
  kQuery,
  kPath,
  kSourceIp,
  kSocketIo,
  kNone,
};

// An IPv4 or IPv6 network, for --trusted-proxies.
struct Cidr {
  static absl::StatusOr<Cidr> Parse(std::string_view text);
  bool Contains(std::string_view ip) const;
  int family = 0;
  unsigned char bytes[16] = {0};
  int prefix = 0;
};
absl::StatusOr<std::vector<Cidr>> ParseCidrs(std::string_view list);

struct StickyConfig {
  StickyKind kind = StickyKind::kCookie;
  std::string key_name;  // the cookie, header or query parameter a hash mode reads
  int path_segment = 0;  // path:N, 1-based
  std::string cookie_name = "DROVERID";
  std::shared_ptr<const CookieCodec> codec;
  uint32_t cookie_max_age_s = 0;   // 0: a session cookie
  uint32_t cookie_max_idle_s = 0;  // 0: no idle expiry
  std::vector<Cidr> trusted_proxies;
  std::string member_id;
  uint32_t member_hash = 0;
  int slots = 0;  // this member's slot count

  // The modes that insert the DROVERID cookie (cookie, and socketio for clients that keep it).
  bool InsertsCookie() const {
    return kind == StickyKind::kCookie || kind == StickyKind::kSocketIo;
  }
};

// Parses --sticky: cookie, app-cookie:NAME, header:NAME, query:NAME, path:N, source-ip,
// socketio, none.
absl::StatusOr<StickyConfig> ParseStickyMode(std::string_view text);

enum class StickyResult : uint8_t {
  kHit,        // the session's slot here
  kNew,        // no session yet: balanced, cookie issued
  kRemapped,   // its slot or member is gone: balanced here, new cookie
  kForwarded,  // its member is another sidecar: sent there
  kInvalid,    // malformed, forged or expired cookie: treated as none
  kNoKey,      // hash mode, no key in the request: balanced
  kCount,
};
std::string_view StickyResultName(StickyResult result);

struct StickyRoute {
  StickyResult result = StickyResult::kNoKey;
  int slot = -1;                 // a local slot, or -1 to let the balancer pick
  const Member* peer = nullptr;  // forward to this member's sidecar
  bool set_cookie = false;       // cookie mode: the response sets a fresh cookie
  uint32_t cookie_issued = 0;    // kept when an idle-refresh re-sets an existing session
  // kForwarded in cookie mode: the session cookie value to pass on; empty when a new session
  // is sent from a draining member to a ready one (which issues the cookie).
  std::string_view cookie;
  // app-cookie and socketio: the route prefix ("ROUTE~") the request's key carries, to take off
  // before the app sees it (a view into the head; `key_name` says where: the cookie or `sid`).
  std::string_view route_prefix;
};

class StickyRouter {
 public:
  StickyRouter(const StickyConfig& config, const balance::BackendSet& backends);

  // A new member table (peers); called on the router's own thread.
  void SetMembers(std::shared_ptr<const MemberTable> members);

  // `client_ip` is the TCP peer; X-Forwarded-For is believed only from trusted proxies.
  StickyRoute Decide(const http::RequestHead& head, std::string_view client_ip, bool from_peer,
                     uint32_t now_s) const;

  // The Set-Cookie value for a session on `slot` of this member.
  std::string CookieFor(int slot, uint32_t issued, uint32_t now_s, bool secure) const;
  // Whether the request came over https according to a trusted proxy (or, `from_peer`, to the
  // sidecar that forwarded it).
  bool SecureRequest(const http::RequestHead& head, std::string_view client_ip,
                     bool from_peer) const;
  const StickyConfig& config() const { return config_; }

 private:
  StickyRoute DecideCookie(const http::RequestHead& head, bool from_peer, uint32_t now_s) const;
  StickyRoute DecideHash(uint64_t key, bool from_peer) const;
  // A route prefix (route_prefix.h) decoded: a hit or a forward, or kInvalid (not a valid route)
  // or kRemapped (its slot or member is gone) with slot -1 for the caller to place the request.
  StickyRoute DecideRoute(std::string_view route_text, bool from_peer) const;
  StickyRoute DecideAppCookie(std::string_view value, bool from_peer) const;
  StickyRoute DecideSocketIo(const http::RequestHead& head, bool from_peer, uint32_t now_s) const;
  // Cookie mode: a new session (no cookie, an invalid one, or re-homed) arriving at a draining
  // member's public listener is forwarded to a ready member, which places it and sets the cookie.
  StickyRoute PlaceNewSession(StickyRoute route, bool from_peer) const;
  bool SlotUsable(int slot) const;
  void RebuildTargets();
  void RebuildReadyPeers();

  const StickyConfig& config_;
  const balance::BackendSet& backends_;
  std::shared_ptr<const MemberTable> members_;
  // Hash modes: every (member, slot), this member's included; usually the member table's own,
  // shared with the other threads. Null in cookie and none modes.
  std::shared_ptr<const MaglevTable> maglev_;
  // This member is DRAINING in the table: new sessions go to ready_peers_ (cookie mode), chosen
  // by smooth weighted round robin (nginx's), weighted by slots: even, and deterministic per
  // thread. Mutable: the pick advances the weights; the router belongs to one thread.
  struct ReadyPeer {
    const Member* member;  // in members_
    int64_t current;
  };
  bool self_draining_ = false;
  int64_t ready_slots_ = 0;
  mutable std::vector<ReadyPeer> ready_peers_;
};

// The client address a request stands for: the TCP peer, or, when that peer is a trusted
// proxy (or another member's sidecar, `from_peer`), the right-most X-Forwarded-For entry not
// itself trusted.
std::string_view EffectiveClientIp(const http::RequestHead& head, std::string_view peer_ip,
                                   const std::vector<Cidr>& trusted, bool from_peer = false);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_POLICY_H_
