// The route a session key issued by the app carries, HAProxy's `cookie NAME prefix`: where the
// app issued the key (member, slot) is prepended to the key's value the client keeps, and taken
// off again before the app sees it, so the app reads exactly the value it set.
//
//   std::string routed = absl::StrCat(EncodeRoute(codec, member, slot, now), "~", app_value);
//   RoutedValue v = SplitRoutedValue(routed);     // v.route, v.app_value; v.has_prefix
//   absl::StatusOr<SessionCookie> where = codec.Decode(v.route);   // forged: not ok
//
// The route is the inserted cookie's own value (cookie.h: base64url, "." and a MAC when a
// secret is set), so it is a valid cookie-octet and query-string text, and it is signed and
// checked the same way. The separator is '~' (HAProxy's default delimiter), which base64url
// never uses. A value counts as prefixed when what precedes its first '~' is made only of route
// characters and is no longer than a route; then the prefix is taken off whether or not it
// verifies (a forged or truncated route is dropped, the app still gets its own value).
#ifndef DROVER_SIDECAR_STICKY_ROUTE_PREFIX_H_
#define DROVER_SIDECAR_STICKY_ROUTE_PREFIX_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/sticky/cookie.h"

namespace drover::sticky {

inline constexpr char kRouteSeparator = '~';

// The route text naming `slot` of `member`: CookieCodec's value, issued and last seen `now_s`.
std::string EncodeRoute(const CookieCodec& codec, uint32_t member, int slot, uint32_t now_s);

struct RoutedValue {
  bool has_prefix = false;
  std::string_view route;      // without the separator; empty unless has_prefix
  std::string_view prefix;     // route and separator: what is taken off before the app
  std::string_view app_value;  // the value the app set (all of it without a prefix)
};

// Splits "ROUTE~VALUE" (see the header comment for what counts as a prefix). Views point into
// `value`.
RoutedValue SplitRoutedValue(std::string_view value);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_ROUTE_PREFIX_H_
