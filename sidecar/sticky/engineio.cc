#include "sidecar/sticky/engineio.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/sticky/route_prefix.h"

namespace drover::sticky {
namespace {

// An open packet ("0" then its JSON) with `route~` put in front of its sid; nullopt if it is not
// one.
std::optional<std::string> RoutePacket(std::string_view packet, std::string_view route) {
  constexpr std::string_view kSid = "\"sid\":\"";
  if (packet.size() < 2 || packet[0] != '0' || packet[1] != '{') return std::nullopt;
  const size_t at = packet.find(kSid);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t value_at = at + kSid.size();
  std::string out;
  out.reserve(packet.size() + route.size() + 1);
  out.append(packet.substr(0, value_at));
  out.append(route);
  out += kRouteSeparator;
  out.append(packet.substr(value_at));
  return out;
}

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::string_view> QueryParameter(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool IsEngineIoHandshake(std::string_view target) {
  return QueryParameter(target, "EIO").has_value() && !QueryParameter(target, "sid").has_value() &&
         QueryParameter(target, "transport") == std::string_view("polling");
}

std::optional<std::string> RouteOpenPacket(std::string_view body, std::string_view route) {
  if (body.empty()) return std::nullopt;
  // EIO 4: the packets of one payload are separated by a record separator; the open packet is
  // first and has no length to fix.
  if (body[0] == '0') return RoutePacket(body, route);
  const size_t added = route.size() + 1;
  // EIO 3 binary: 0x00 (a string packet), its length as one byte per decimal digit, 0xff.
  if (body[0] == '\0') {
    uint64_t length = 0;
    size_t i = 1;
    for (; i < body.size() && i < 12 && static_cast<unsigned char>(body[i]) <= 9; ++i) {
      length = length * 10 + static_cast<unsigned char>(body[i]);
    }
    if (i == 1 || i >= body.size() || static_cast<unsigned char>(body[i]) != 0xff ||
        length > body.size() - i - 1) {
      return std::nullopt;
    }
    std::optional<std::string> packet = RoutePacket(body.substr(i + 1, length), route);
    if (!packet) return std::nullopt;
    std::string out(1, '\0');
    for (char digit : std::to_string(length + added)) out += static_cast<char>(digit - '0');
    out += static_cast<char>(0xff);
    out += *packet;
    out.append(body.substr(i + 1 + length));
    return out;
  }
  // EIO 3 text: "LENGTH:PACKET", more packets may follow. The length counts UTF-16 code units;
  // the open packet is ASCII, so bytes.
  size_t i = 0;
  uint64_t length = 0;
  for (; i < body.size() && i < 12 && IsDigit(body[i]); ++i) length = length * 10 + (body[i] - '0');
  if (i == 0 || i >= body.size() || body[i] != ':' || length > body.size() - i - 1) {
    return std::nullopt;
  }
  std::optional<std::string> packet = RoutePacket(body.substr(i + 1, length), route);
  if (!packet) return std::nullopt;
  return absl::StrCat(length + added, ":", *packet, AsAbsl(body.substr(i + 1 + length)));
}

}  // namespace drover::sticky
