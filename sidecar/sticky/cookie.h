// The inserted session cookie: an opaque value naming a member (its 32-bit MemberHash) and a
// worker slot, with the times it was issued and last seen, MACed when a secret is configured.
//
//   absl::StatusOr<CookieCodec> codec = CookieCodec::FromSecretFile("/etc/drover/secret");
//   std::optional<std::string_view> value = FindCookie(cookie_fields, kDefaultCookieName);
//   absl::StatusOr<SessionCookie> session =
//       value ? codec->DecodeFresh(*value, now, /*max_age_s=*/0, /*max_idle_s=*/3600)
//             : absl::NotFoundError("no cookie");
//   if (!session.ok()) {
//     // Treated as no cookie, never as an error page: balance, then issue a new one.
//     stats.CookieInvalid(CookieCodec::ReasonName(CookieCodec::ReasonOf(session.status())));
//   }
//   response.Add("Set-Cookie", SetCookieValue(kDefaultCookieName, codec->Encode(c), true, 0));
//
// Wire format: the 14 bytes member(4) slot(2) issued(4) last_seen(4), big-endian, in base64url
// without padding (19 characters); with a secret, "." and the base64url of the first 10 bytes of
// HMAC-SHA256(secret, those 14 bytes) follow (14 more characters). 80 bits of MAC are plenty
// for a value that only selects one of a few hundred targets and is checked online.
//
// Secrets and rotation: a codec holds a current and optionally a previous secret; it signs with
// the current one and accepts either, so secrets rotate without breaking sessions (deploy
// [new, old], then [new] once cookies have been re-issued).
//
// Without a member table (no --peers, no --controller) no other sidecar reads this one's cookies,
// so with no secret configured the codec signs with a random key made for this process
// (PerProcess): a hand-made cookie cannot pick a slot, and sessions start over when the process
// does. With a member table every member must verify every other's cookies: that needs the shared
// secret file, and without one cookies stay unsigned (the sidecar warns; docs/security.md).
//
// Reloading: the secret file is re-read when it changes (Kubernetes swaps a mounted Secret's
// symlink). AfterReload keeps the key that was current as the previous one when the new file
// names only its current key, so rewriting the file with just the new secret keeps old sessions.
//
// Turning secrets on or off: with no key at all, a cookie that carries a MAC is accepted
// and its MAC ignored, so switching secrets off (or a rollout where some members have none yet)
// keeps every session; nothing is lost, since without a secret anyone can forge a cookie anyway.
// The other direction is deliberately strict: with a secret configured, a cookie without a MAC is
// rejected (reason `bad_mac`), because accepting it would let anyone bypass the MAC by dropping
// it. Turning secrets on therefore re-homes each session once, on its next request, to the least
// loaded target, where it gets a signed cookie; sessions are never turned away.
#ifndef DROVER_SIDECAR_STICKY_COOKIE_H_
#define DROVER_SIDECAR_STICKY_COOKIE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/sticky/hmac.h"

namespace drover::sticky {

inline constexpr std::string_view kDefaultCookieName = "DROVERID";

struct SessionCookie {
  uint32_t member = 0;     // MemberHash of the member's id
  uint16_t slot = 0;       // worker slot within the member
  uint32_t issued = 0;     // unix seconds, for max-age expiry
  uint32_t last_seen = 0;  // unix seconds, for idle expiry

  friend bool operator==(const SessionCookie&, const SessionCookie&) = default;
};

class CookieCodec {
 public:
  // Secrets shorter than this are refused: a MAC is only as strong as its key.
  static constexpr size_t kMinKeyBytes = 16;
  // A cookie issued or last seen more than this far in the future counts as expired when a
  // limit is set; less is tolerated as clock skew between members.
  static constexpr uint32_t kMaxClockSkewS = 300;

  // keys: 0, 1 or 2 secrets (current first, previous second), each at least kMinKeyBytes.
  static absl::StatusOr<CookieCodec> Create(std::vector<std::string> keys);
  // A secret file: the first non-empty line is the current key, an optional second non-empty
  // line the previous one; surrounding whitespace is trimmed. Errors name the file and line, and
  // never quote a key.
  static absl::StatusOr<CookieCodec> FromSecretFile(const std::string& path);

  // A codec signing with a random key from the kernel, for a sidecar without a member table.
  static absl::StatusOr<CookieCodec> PerProcess();
  // The codec after the secret file was read again: `loaded` (its keys), except that when the
  // file names only a current key, the key current in `before` stays accepted as the previous one
  // (and when that key is unchanged, `before` stays as it is).
  static CookieCodec AfterReload(const CookieCodec& before, CookieCodec loaded);

  // The number of secrets configured (0, 1 or 2); 0 means cookies carry no MAC.
  size_t key_count() const { return keys_.size(); }
  // Where the keys come from: none, a random per-process key, or secrets shared by every member
  // (the secret file, or Create with keys). Only shared secrets can prove anything to a peer.
  enum class KeyOrigin : uint8_t { kNone, kPerProcess, kShared };
  KeyOrigin origin() const { return origin_; }

  // HMAC-SHA256 of `data` under the current key (32 bytes; empty without a key), and whether
  // `mac` is that of `data` under the current or the previous key (constant time): for other
  // values signed with the same secrets (hop_token.h).
  std::string MacOf(std::string_view data) const;
  bool VerifyMacOf(std::string_view data, std::string_view mac) const;

  std::string Encode(const SessionCookie& cookie) const;

  // Why a value was rejected, for the `invalid` metric and debug logs.
  enum class Invalid { kMalformed, kBadMac, kExpired };
  // Strict: exact lengths, canonical base64url, MAC checked in constant time against the current
  // then the previous key. Malformed values are InvalidArgument, missing or wrong MACs
  // Unauthenticated; the message starts with ReasonName of the reason ("malformed: ...").
  absl::StatusOr<SessionCookie> Decode(std::string_view value) const;
  // Decode, then Expired; an expired cookie is DeadlineExceeded ("expired: ...").
  absl::StatusOr<SessionCookie> DecodeFresh(std::string_view value, uint32_t now,
                                            uint32_t max_age_s, uint32_t max_idle_s) const;
  // True when the cookie is more than max_age_s seconds past `issued` or more than max_idle_s
  // seconds past `last_seen` (0 = no limit), or, for a set limit, its time is more than
  // kMaxClockSkewS in the future.
  bool Expired(const SessionCookie& c, uint32_t now, uint32_t max_age_s, uint32_t max_idle_s) const;

  // The reason a Decode or DecodeFresh status stands for (kMalformed for any other status).
  static Invalid ReasonOf(const absl::Status& status);
  // "malformed", "bad_mac" or "expired": metric label values.
  static std::string_view ReasonName(Invalid reason);

 private:
  // A secret and the same prepared for MACs (hmac.h).
  struct Key {
    std::string secret;
    HmacSha256 mac;
  };
  CookieCodec(std::vector<Key> keys, KeyOrigin origin) : keys_(std::move(keys)), origin_(origin) {}
  // The codec for these secrets, each prepared for signing.
  static absl::StatusOr<CookieCodec> Prepare(std::vector<std::string> secrets, KeyOrigin origin);

  std::vector<Key> keys_;  // current first
  KeyOrigin origin_ = KeyOrigin::kNone;
};

// Finds `name` (case-sensitive) among the Cookie header field values (RFC 6265 "a=b; c=d";
// several Cookie fields possible) and returns its value from the first occurrence, without
// surrounding whitespace and without surrounding double quotes, or nullopt. The view points
// into `cookie_fields`.
std::optional<std::string_view> FindCookie(std::span<const std::string_view> cookie_fields,
                                           std::string_view name);

// Rewrites one Cookie field value without `name` (every occurrence), keeping the other pairs in
// order, joined by "; "; returns "" if nothing is left (then drop the field).
std::string RemoveCookie(std::string_view cookie_field, std::string_view name);

// The Set-Cookie field value: "NAME=VALUE; Path=/; HttpOnly; SameSite=Lax", then "; Secure"
// when `secure` and "; Max-Age=N" when max_age_s > 0 (otherwise a session cookie).
std::string SetCookieValue(std::string_view name, std::string_view value, bool secure,
                           uint32_t max_age_s);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_COOKIE_H_
