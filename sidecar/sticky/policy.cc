#include "sidecar/sticky/policy.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/strings.h"
#include "sidecar/sticky/engineio.h"
#include "sidecar/sticky/route_prefix.h"

namespace drover::sticky {

namespace {

bool ParseIp(std::string_view text, int& family, unsigned char* bytes) {
  std::string z(text);
  if (inet_pton(AF_INET, z.c_str(), bytes) == 1) {
    family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, z.c_str(), bytes) == 1) {
    family = AF_INET6;
    return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Path segment `n` (1-based) of an origin-form target: /a/b/c -> 1:"a", 2:"b".
std::optional<std::string_view> PathSegment(std::string_view target, int n) {
  size_t end = target.find_first_of("?#");
  std::string_view path = target.substr(0, end);
  int index = 0;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    ++index;
    if (index == n) return path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  Cidr cidr;
  text = Trim(text);
  size_t slash = text.find('/');
  std::string_view ip = text.substr(0, slash);
  if (!ParseIp(ip, cidr.family, cidr.bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address in '", AsAbsl(text), "'"));
  }
  const int max = cidr.family == AF_INET ? 32 : 128;
  cidr.prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    if (!absl::SimpleAtoi(AsAbsl(bits), &cidr.prefix) || cidr.prefix < 0 || cidr.prefix > max ||
        bits.empty() || bits.front() == '+' || bits.front() == '-') {
      return absl::InvalidArgumentError(absl::StrCat("bad prefix length in '", AsAbsl(text), "'"));
    }
  }
  return cidr;
}

bool Cidr::Contains(std::string_view ip) const {
  int ip_family = 0;
  unsigned char ip_bytes[16] = {0};
  if (!ParseIp(ip, ip_family, ip_bytes) || ip_family != family) return false;
  int full = prefix / 8;
  if (std::memcmp(ip_bytes, bytes, static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (ip_bytes[full] & mask) == (bytes[full] & mask);
}

absl::StatusOr<std::vector<Cidr>> ParseCidrs(std::string_view list) {
  std::vector<Cidr> out;
  for (absl::string_view item : absl::StrSplit(AsAbsl(list), ',', absl::SkipWhitespace())) {
    absl::StatusOr<Cidr> cidr = Cidr::Parse(AsStd(item));
    if (!cidr.ok()) return cidr.status();
    out.push_back(*cidr);
  }
  return out;
}

absl::StatusOr<StickyConfig> ParseStickyMode(std::string_view text) {
  StickyConfig config;
  size_t colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view arg = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  auto need_arg = [&](StickyKind k) -> absl::Status {
    if (arg.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", AsAbsl(kind), "' needs a name, e.g. ", AsAbsl(kind), ":sid"));
    }
    config.kind = k;
    config.key_name = std::string(arg);
    return absl::OkStatus();
  };
  absl::Status status = absl::OkStatus();
  if (kind == "cookie" && arg.empty()) {
    config.kind = StickyKind::kCookie;
  } else if (kind == "app-cookie") {
    status = need_arg(StickyKind::kAppCookie);
  } else if (kind == "header") {
    status = need_arg(StickyKind::kHeader);
  } else if (kind == "query") {
    status = need_arg(StickyKind::kQuery);
  } else if (kind == "path") {
    config.kind = StickyKind::kPath;
    if (!absl::SimpleAtoi(AsAbsl(arg), &config.path_segment) || config.path_segment < 1 ||
        config.path_segment > 64) {
      return absl::InvalidArgumentError("path:N needs a segment number from 1 to 64");
    }
  } else if (kind == "source-ip" && arg.empty()) {
    config.kind = StickyKind::kSourceIp;
  } else if (kind == "socketio" && arg.empty()) {
    config.kind = StickyKind::kSocketIo;
    config.key_name = "sid";
  } else if (kind == "none" && arg.empty()) {
    config.kind = StickyKind::kNone;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown mode '", AsAbsl(text),
        "': want cookie, app-cookie:NAME, header:NAME, query:NAME, path:N, source-ip, socketio or "
        "none"));
  }
  if (!status.ok()) return status;
  return config;
}

std::string_view StickyResultName(StickyResult result) {
  switch (result) {
    case StickyResult::kHit:
      return "hit";
    case StickyResult::kNew:
      return "new";
    case StickyResult::kRemapped:
      return "remapped";
    case StickyResult::kForwarded:
      return "forwarded";
    case StickyResult::kInvalid:
      return "invalid";
    case StickyResult::kNoKey:
      return "no_key";
    case StickyResult::kCount:
      break;
  }
  return "unknown";
}

std::string_view EffectiveClientIp(const http::RequestHead& head, std::string_view peer_ip,
                                   const std::vector<Cidr>& trusted, bool from_peer) {
  auto is_trusted = [&](std::string_view ip) {
    for (const Cidr& c : trusted) {
      if (c.Contains(ip)) return true;
    }
    return false;
  };
  if (!from_peer && (trusted.empty() || !is_trusted(peer_ip))) return peer_ip;
  // Walk X-Forwarded-For from the right (the nearest hop) past trusted proxies.
  for (size_t i = head.header_count; i-- > 0;) {
    const http::Header& h = head.headers[i];
    if (!EqualsIgnoreCase(h.name, "x-forwarded-for")) continue;
    std::string_view list = h.value;
    while (!list.empty()) {
      size_t comma = list.rfind(',');
      std::string_view entry =
          Trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      if (!entry.empty() && !is_trusted(entry)) return entry;
      if (comma == std::string_view::npos) break;
      list = list.substr(0, comma);
    }
  }
  return peer_ip;
}

StickyRouter::StickyRouter(const StickyConfig& config, const balance::BackendSet& backends)
    : config_(config), backends_(backends) {
  RebuildTargets();
}

void StickyRouter::SetMembers(std::shared_ptr<const MemberTable> members) {
  members_ = std::move(members);
  RebuildTargets();
  RebuildReadyPeers();
}

void StickyRouter::RebuildReadyPeers() {
  ready_peers_.clear();
  ready_slots_ = 0;
  const Member* self = members_ != nullptr ? members_->Find(config_.member_hash) : nullptr;
  self_draining_ = self != nullptr && self->state == MemberState::kDraining;
  if (!self_draining_) return;
  for (const Member& m : members_->members()) {
    if (m.state != MemberState::kReady || m.hash == config_.member_hash) continue;
    ready_peers_.push_back({.member = &m, .current = 0});
    ready_slots_ += m.slots;
  }
}

StickyRoute StickyRouter::PlaceNewSession(StickyRoute route, bool from_peer) const {
  // A forwarded request is placed where it lands (one hop, even on a draining member); with no
  // ready member anywhere the session stays here rather than failing.
  const bool new_session = route.result == StickyResult::kNew ||
                           route.result == StickyResult::kInvalid ||
                           route.result == StickyResult::kRemapped;
  if (!new_session || from_peer || !self_draining_ || ready_peers_.empty()) return route;
  ReadyPeer* best = nullptr;
  for (ReadyPeer& p : ready_peers_) {
    p.current += p.member->slots;
    if (best == nullptr || p.current > best->current) best = &p;
  }
  best->current -= ready_slots_;
  route.result = StickyResult::kForwarded;
  route.peer = best->member;
  route.slot = -1;
  route.set_cookie = false;  // the receiving member sets its own
  route.cookie_issued = 0;
  route.cookie = {};  // no session cookie to pass on: it is new there
  return route;
}

void StickyRouter::RebuildTargets() {
  maglev_.reset();
  if (config_.kind == StickyKind::kCookie || config_.kind == StickyKind::kSocketIo ||
      config_.kind == StickyKind::kNone) {
    return;
  }
  // When the table lists this member with the slots it runs (the usual case), the targets are
  // exactly the table's: take its table, built once and shared by every thread.
  const Member* self = members_ != nullptr ? members_->Find(config_.member_hash) : nullptr;
  if (self != nullptr && self->slots == config_.slots) {
    maglev_ = members_->maglev();
    return;
  }
  // Otherwise (no table yet, or it does not know us as we are): our slots and the others'.
  std::vector<Target> targets;
  targets.reserve(static_cast<size_t>(config_.slots));
  for (int s = 0; s < config_.slots; ++s) {
    targets.push_back({config_.member_hash, static_cast<uint16_t>(s)});
  }
  if (members_ != nullptr) {
    for (const Member& m : members_->members()) {
      if (m.hash == config_.member_hash) continue;
      for (int s = 0; s < m.slots; ++s) targets.push_back({m.hash, static_cast<uint16_t>(s)});
    }
  }
  maglev_ = std::make_shared<const MaglevTable>(MaglevTable::Build(targets));
}

bool StickyRouter::SlotUsable(int slot) const {
  return slot >= 0 && static_cast<size_t>(slot) < backends_.size() &&
         backends_[static_cast<size_t>(slot)].up.load(std::memory_order_relaxed);
}

bool StickyRouter::SecureRequest(const http::RequestHead& head, std::string_view client_ip,
                                 bool from_peer) const {
  bool trusted = from_peer;
  for (const Cidr& c : config_.trusted_proxies) trusted = trusted || c.Contains(client_ip);
  if (!trusted) return false;
  for (size_t i = 0; i < head.header_count; ++i) {
    const http::Header& h = head.headers[i];
    if (EqualsIgnoreCase(h.name, "x-forwarded-proto")) return EqualsIgnoreCase(h.value, "https");
  }
  return false;
}

std::string StickyRouter::CookieFor(int slot, uint32_t issued, uint32_t now_s, bool secure) const {
  SessionCookie cookie{config_.member_hash, static_cast<uint16_t>(slot),
                       issued != 0 ? issued : now_s, now_s};
  return SetCookieValue(config_.cookie_name, config_.codec->Encode(cookie), secure,
                        config_.cookie_max_age_s);
}

StickyRoute StickyRouter::DecideCookie(const http::RequestHead& head, bool from_peer,
                                       uint32_t now_s) const {
  StickyRoute route;
  std::string_view fields[16];
  size_t count = 0;
  for (size_t i = 0; i < head.header_count && count < 16; ++i) {
    if (EqualsIgnoreCase(head.headers[i].name, "cookie")) fields[count++] = head.headers[i].value;
  }
  std::optional<std::string_view> value =
      FindCookie(std::span<const std::string_view>(fields, count), config_.cookie_name);
  route.set_cookie = true;
  if (!value) {
    route.result = StickyResult::kNew;
    return route;
  }
  absl::StatusOr<SessionCookie> cookie = config_.codec->Decode(*value);
  if (!cookie.ok() ||
      config_.codec->Expired(*cookie, now_s, config_.cookie_max_age_s, config_.cookie_max_idle_s)) {
    route.result = StickyResult::kInvalid;
    return route;
  }
  if (cookie->member == config_.member_hash) {
    if (!SlotUsable(cookie->slot)) {
      route.result = StickyResult::kRemapped;
      return route;
    }
    route.result = StickyResult::kHit;
    route.slot = cookie->slot;
    route.cookie_issued = cookie->issued;
    // Idle expiry is enforced from last_seen, so refresh it well before it runs out.
    route.set_cookie =
        config_.cookie_max_idle_s > 0 && now_s - cookie->last_seen >= config_.cookie_max_idle_s / 4;
    return route;
  }
  const Member* member = members_ != nullptr ? members_->Find(cookie->member) : nullptr;
  if (member == nullptr || from_peer) {
    // Its member is gone (or this request was already forwarded once): re-home it here.
    route.result = StickyResult::kRemapped;
    return route;
  }
  route.result = StickyResult::kForwarded;
  route.peer = member;
  route.set_cookie = false;
  route.cookie = *value;
  return route;
}

StickyRoute StickyRouter::DecideHash(uint64_t key, bool from_peer) const {
  StickyRoute route;
  int index = maglev_ != nullptr ? maglev_->Pick(key) : -1;
  if (index < 0) return route;
  const Target target = maglev_->targets()[static_cast<size_t>(index)];
  if (target.member != config_.member_hash) {
    const Member* member = members_ != nullptr ? members_->Find(target.member) : nullptr;
    if (member != nullptr && !from_peer) {
      route.result = StickyResult::kForwarded;
      route.peer = member;
      return route;
    }
  } else if (SlotUsable(target.slot)) {
    route.result = StickyResult::kHit;
    route.slot = target.slot;
    return route;
  }
  // The target is down here, or not ours after a hop: the key's best usable local slot by
  // rendezvous (O(slots), not O(cluster)), so that every request with this key still lands
  // together.
  Target local[1024];
  size_t n = 0;
  for (int s = 0; s < config_.slots && n < 1024; ++s) {
    if (SlotUsable(s)) local[n++] = {config_.member_hash, static_cast<uint16_t>(s)};
  }
  index = RendezvousPick(key, std::span<const Target>(local, n));
  route.result = StickyResult::kRemapped;
  if (index >= 0) route.slot = local[index].slot;
  return route;
}

StickyRoute StickyRouter::DecideRoute(std::string_view route_text, bool from_peer) const {
  StickyRoute route;
  route.result = StickyResult::kInvalid;
  // Routes do not expire: the app decides how long its sessions live.
  absl::StatusOr<SessionCookie> where = config_.codec->Decode(route_text);
  if (!where.ok()) return route;
  route.result = StickyResult::kRemapped;
  if (where->member == config_.member_hash) {
    if (!SlotUsable(where->slot)) return route;
    route.result = StickyResult::kHit;
    route.slot = where->slot;
    return route;
  }
  const Member* member = members_ != nullptr ? members_->Find(where->member) : nullptr;
  if (member == nullptr || from_peer) return route;  // gone, or already forwarded once
  route.result = StickyResult::kForwarded;
  route.peer = member;
  return route;
}

StickyRoute StickyRouter::DecideAppCookie(std::string_view value, bool from_peer) const {
  const RoutedValue routed = SplitRoutedValue(value);
  if (!routed.has_prefix) {
    // Set before the sidecar prefixed it (or by the client): hashed, as a client-chosen key.
    return value.empty() ? StickyRoute{} : DecideHash(StableHash(value), from_peer);
  }
  StickyRoute route = DecideRoute(routed.route, from_peer);
  if (route.result != StickyResult::kHit && route.result != StickyResult::kForwarded &&
      !routed.app_value.empty()) {
    // No valid route: the app's own value is hashed, so the session still lands in one place.
    const StickyResult why = route.result;
    route = DecideHash(StableHash(routed.app_value), from_peer);
    if (route.result != StickyResult::kForwarded) route.result = why;
  }
  route.route_prefix = routed.prefix;
  return route;
}

StickyRoute StickyRouter::DecideSocketIo(const http::RequestHead& head, bool from_peer,
                                         uint32_t now_s) const {
  std::optional<std::string_view> sid = QueryParameter(head.target, "sid");
  const RoutedValue routed = sid ? SplitRoutedValue(*sid) : RoutedValue{};
  if (routed.has_prefix) {
    StickyRoute route = DecideRoute(routed.route, from_peer);
    route.route_prefix = routed.prefix;
    if (route.result == StickyResult::kHit || route.result == StickyResult::kForwarded) {
      return route;  // the sid names its worker; no cookie needed
    }
    // A forged or stale route: the cookie decides, as for any other request.
    StickyRoute by_cookie = PlaceNewSession(DecideCookie(head, from_peer, now_s), from_peer);
    by_cookie.route_prefix = routed.prefix;
    if (by_cookie.result != StickyResult::kHit && by_cookie.result != StickyResult::kForwarded) {
      by_cookie.result = route.result;
    }
    return by_cookie;
  }
  return PlaceNewSession(DecideCookie(head, from_peer, now_s), from_peer);
}

StickyRoute StickyRouter::Decide(const http::RequestHead& head, std::string_view client_ip,
                                 bool from_peer, uint32_t now_s) const {
  std::optional<std::string_view> key;
  switch (config_.kind) {
    case StickyKind::kNone:
      return {};
    case StickyKind::kCookie:
      return PlaceNewSession(DecideCookie(head, from_peer, now_s), from_peer);
    case StickyKind::kSocketIo:
      return DecideSocketIo(head, from_peer, now_s);
    case StickyKind::kAppCookie: {
      std::string_view fields[16];
      size_t count = 0;
      for (size_t i = 0; i < head.header_count && count < 16; ++i) {
        if (EqualsIgnoreCase(head.headers[i].name, "cookie")) {
          fields[count++] = head.headers[i].value;
        }
      }
      key = FindCookie(std::span<const std::string_view>(fields, count), config_.key_name);
      if (!key) return {};
      return DecideAppCookie(*key, from_peer);
    }
    case StickyKind::kHeader:
      for (size_t i = 0; i < head.header_count; ++i) {
        if (EqualsIgnoreCase(head.headers[i].name, config_.key_name)) {
          key = head.headers[i].value;
          break;
        }
      }
      break;
    case StickyKind::kQuery:
      key = QueryParameter(head.target, config_.key_name);
      break;
    case StickyKind::kPath:
      key = PathSegment(head.target, config_.path_segment);
      break;
    case StickyKind::kSourceIp:
      key = EffectiveClientIp(head, client_ip, config_.trusted_proxies, from_peer);
      break;
  }
  if (!key || key->empty()) return {};
  return DecideHash(StableHash(*key), from_peer);
}

}  // namespace drover::sticky
