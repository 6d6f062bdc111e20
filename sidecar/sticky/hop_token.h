// The Drover-Hop token: the proof that a request arriving on a peer listener was forwarded by a
// member's sidecar, when the members share a cookie secret. Without one, a member is recognised
// by its source address instead (docs/security.md).
//
//   // The forwarding sidecar, for member `to`:
//   std::string token = MakeHopToken(codec, self_hash, to.hash, now);
//   request.Add(kHopField, token);
//   // The receiving sidecar:
//   absl::StatusOr<uint32_t> from = CheckHopToken(codec, value, self_hash, now);
//   if (!from.ok() || members.Find(*from) == nullptr) Answer(403);
//
// Format: "<from>.<time>.<mac>": the sender's MemberHash in 8 lower-case hex digits, the unix
// time in decimal, and HMAC-SHA256 (64 lower-case hex digits) under the current secret of
// "drover-hop-v1 <from> <to> <time>", where <to> is the receiver's MemberHash: a token is good
// for one receiver, for kHopWindowS seconds either side of its time (clock skew included), and is
// checked against the current and the previous secret like a cookie.
#ifndef DROVER_SIDECAR_STICKY_HOP_TOKEN_H_
#define DROVER_SIDECAR_STICKY_HOP_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "sidecar/sticky/cookie.h"

namespace drover::sticky {

inline constexpr std::string_view kHopField = "Drover-Hop";
// How far a token's time may be from the receiver's clock, either way.
inline constexpr uint32_t kHopWindowS = 30;

// The token `from` sends to `to` at `now_s`; empty when the codec has no shared secret.
std::string MakeHopToken(const CookieCodec& codec, uint32_t from, uint32_t to, uint32_t now_s);

// The sender's MemberHash when `token` is good for receiver `to` at `now_s`. Errors: malformed
// (InvalidArgument), a MAC no shared secret verifies (Unauthenticated; also without a shared
// secret), a time outside the window (DeadlineExceeded); each message says which.
absl::StatusOr<uint32_t> CheckHopToken(const CookieCodec& codec, std::string_view token,
                                       uint32_t to, uint32_t now_s);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_HOP_TOKEN_H_
