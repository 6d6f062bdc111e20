#include "sidecar/sticky/route_prefix.h"

namespace drover::sticky {
namespace {

// base64url payload (19), ".", MAC (14): CookieCodec's longest value.
constexpr size_t kMaxRouteChars = 34;

constexpr bool IsRouteChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

}  // namespace

std::string EncodeRoute(const CookieCodec& codec, uint32_t member, int slot, uint32_t now_s) {
  return codec.Encode(SessionCookie{member, static_cast<uint16_t>(slot), now_s, now_s});
}

RoutedValue SplitRoutedValue(std::string_view value) {
  RoutedValue out;
  out.app_value = value;
  const size_t sep = value.find(kRouteSeparator);
  if (sep == 0 || sep == std::string_view::npos || sep > kMaxRouteChars) return out;
  for (size_t i = 0; i < sep; ++i) {
    if (!IsRouteChar(value[i])) return out;
  }
  out.has_prefix = true;
  out.route = value.substr(0, sep);
  out.prefix = value.substr(0, sep + 1);
  out.app_value = value.substr(sep + 1);
  return out;
}

}  // namespace drover::sticky
