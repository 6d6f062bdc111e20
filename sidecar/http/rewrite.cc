#include "sidecar/http/rewrite.h"

#include <optional>

#include "absl/container/inlined_vector.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "sidecar/sticky/cookie.h"

namespace drover::http {

bool IsHopByHopField(std::string_view name) {
  switch (name.size()) {
    case 2:
      return EqualsIgnoreCase(name, "te");
    case 7:
      return EqualsIgnoreCase(name, "upgrade") || EqualsIgnoreCase(name, "trailer");
    case 10:
      return EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive");
    case 16:
      return EqualsIgnoreCase(name, "proxy-connection");
    case 17:
      return EqualsIgnoreCase(name, "transfer-encoding");
    default:
      return false;
  }
}

namespace {

bool Dropped(const MessageHead& head, std::string_view name) {
  return IsHopByHopField(name) || (head.ConnectionNames(name));
}

void AppendField(std::string_view name, std::string_view value, std::string& out) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void AppendForwardedFor(std::string_view ip, std::string& out) {
  // RFC 7239: IPv6 addresses are quoted and bracketed.
  if (ip.find(':') != std::string_view::npos) {
    absl::StrAppend(&out, "for=\"[", AsAbsl(ip), "]\"");
  } else {
    absl::StrAppend(&out, "for=", AsAbsl(ip));
  }
}

}  // namespace

void AppendRequestHead(const RequestHead& head, const ForwardingInfo& forwarding,
                       std::string& out) {
  const bool upgrade = head.connection_upgrade && !head.upgrade.empty();
  absl::StrAppend(&out, AsAbsl(head.method_text), " ", AsAbsl(head.target),
                  head.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  // Repeated X-Forwarded-For or Forwarded fields form one list (RFC 9110 5.3); the new hop is
  // appended to the whole list, in order.
  std::string_view proto = forwarding.proto;
  absl::InlinedVector<std::string_view, 2> xff;
  absl::InlinedVector<std::string_view, 2> forwarded;
  for (size_t i = 0; i < head.header_count; ++i) {
    const Header& h = head.headers[i];
    if (Dropped(head, h.name)) continue;
    if (EqualsIgnoreCase(h.name, "x-forwarded-for")) {
      if (!h.value.empty()) xff.push_back(h.value);
      continue;
    }
    if (EqualsIgnoreCase(h.name, "forwarded")) {
      if (!h.value.empty()) forwarded.push_back(h.value);
      continue;
    }
    // A sidecar's proof that it forwarded the request (sticky/hop_token.h) never reaches the
    // app, from whichever listener; a forwarding sidecar adds its own after this head.
    if (EqualsIgnoreCase(h.name, "drover-hop")) continue;
    if (EqualsIgnoreCase(h.name, "x-forwarded-proto")) {
      if (forwarding.keep_proto) proto = h.value;
      continue;
    }
    if (!forwarding.strip_cookie.empty() && EqualsIgnoreCase(h.name, "cookie") &&
        h.value.find(forwarding.strip_cookie) != std::string_view::npos) {
      std::string rest = sticky::RemoveCookie(h.value, forwarding.strip_cookie);
      if (!rest.empty()) AppendField(h.name, rest, out);
      continue;
    }
    AppendField(h.name, h.value, out);
  }
  out.append("X-Forwarded-For: ");
  for (std::string_view v : xff) absl::StrAppend(&out, AsAbsl(v), ", ");
  absl::StrAppend(&out, AsAbsl(forwarding.client_ip), "\r\n");
  absl::StrAppend(&out, "X-Forwarded-Proto: ", AsAbsl(proto), "\r\n");
  out.append("Forwarded: ");
  for (std::string_view v : forwarded) absl::StrAppend(&out, AsAbsl(v), ", ");
  AppendForwardedFor(forwarding.client_ip, out);
  absl::StrAppend(&out, ";proto=", AsAbsl(proto), "\r\n");
  if (head.body == BodyKind::kChunked) out.append("Transfer-Encoding: chunked\r\n");
  if (upgrade) {
    absl::StrAppend(&out, "Connection: upgrade\r\nUpgrade: ", AsAbsl(head.upgrade), "\r\n");
  } else if (head.version_minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void AppendResponseHead(const ResponseHead& head, bool keep_alive, int client_version_minor,
                        std::string& out, std::string_view extra_fields) {
  absl::StrAppend(&out, client_version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ", head.status, " ",
                  AsAbsl(head.reason), "\r\n");
  for (size_t i = 0; i < head.header_count; ++i) {
    const Header& h = head.headers[i];
    if (Dropped(head, h.name)) continue;
    AppendField(h.name, h.value, out);
  }
  out.append(extra_fields);
  // An HTTP/1.0 client gets the payload of a chunked response without the coding, ended by the
  // connection's close (the proxy removes the chunks).
  if (head.body == BodyKind::kChunked && client_version_minor == 1) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (head.status == 101) {
    absl::StrAppend(&out, "Connection: upgrade\r\nUpgrade: ", AsAbsl(head.upgrade), "\r\n");
  } else if (head.status >= 200) {
    if (!keep_alive) {
      out.append("Connection: close\r\n");
    } else if (client_version_minor == 0) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
}

namespace {

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(line_begin, line_end) (offsets into `out`, without CRLF) for each field line of the
// head at `head_start`, after its status line, until the blank line; fn returns how many bytes
// it inserted (or, negative, removed) at or after line_begin.
template <typename Fn>
void ForEachFieldLine(std::string& out, size_t head_start, Fn fn) {
  size_t at = out.find("\r\n", head_start);
  if (at == std::string::npos) return;
  at += 2;
  while (at < out.size()) {
    const size_t end = out.find("\r\n", at);
    if (end == std::string::npos || end == at) return;
    const ptrdiff_t delta = fn(at, end);
    at = static_cast<size_t>(static_cast<ptrdiff_t>(end) + delta) + 2;
  }
}

// RFC 6265 5.2.1's cookie dates, in the spellings servers send: IMF-fixdate (RFC 9110), the
// dashed RFC 850 forms, and asctime.
std::optional<absl::Time> ParseCookieDate(std::string_view text) {
  text = TrimSpaces(text);
  for (std::string_view zone : {" GMT", " UTC"}) {
    if (text.size() > zone.size() &&
        EqualsIgnoreCase(text.substr(text.size() - zone.size()), zone)) {
      text.remove_suffix(zone.size());
    }
  }
  for (const char* format : {"%a, %d %b %Y %H:%M:%S", "%a, %d-%b-%Y %H:%M:%S",
                             "%A, %d-%b-%y %H:%M:%S", "%a %b %e %H:%M:%S %Y"}) {
    absl::Time t;
    std::string error;
    if (absl::ParseTime(format, AsAbsl(text), absl::UTCTimeZone(), &t, &error)) return t;
  }
  return std::nullopt;
}

// Whether a Set-Cookie field's attributes (after its first ';') delete the cookie.
bool DeletesCookie(std::string_view attributes, int64_t now_unix) {
  std::optional<bool> by_max_age;
  bool expired = false;
  while (!attributes.empty()) {
    const size_t semi = attributes.find(';');
    std::string_view attribute = TrimSpaces(attributes.substr(0, semi));
    attributes = semi == std::string_view::npos ? std::string_view() : attributes.substr(semi + 1);
    const size_t eq = attribute.find('=');
    const std::string_view key = TrimSpaces(attribute.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : TrimSpaces(attribute.substr(eq + 1));
    if (EqualsIgnoreCase(key, "max-age")) {
      int64_t seconds = 0;
      // RFC 6265 5.2.2: a value that is not a number is ignored.
      if (absl::SimpleAtoi(AsAbsl(value), &seconds)) by_max_age = seconds <= 0;
    } else if (EqualsIgnoreCase(key, "expires")) {
      std::optional<absl::Time> when = ParseCookieDate(value);
      expired = when.has_value() && absl::ToUnixSeconds(*when) < now_unix;
    }
  }
  // Max-Age wins over Expires (RFC 6265 5.3 step 3).
  return by_max_age.value_or(expired);
}

}  // namespace

int PrefixSetCookies(std::string& out, size_t head_start, std::string_view name,
                     std::string_view prefix, int64_t now_unix) {
  int changed = 0;
  ForEachFieldLine(out, head_start, [&](size_t begin, size_t end) -> ptrdiff_t {
    const std::string_view line(out.data() + begin, end - begin);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !EqualsIgnoreCase(line.substr(0, colon), "set-cookie")) {
      return 0;
    }
    std::string_view field = line.substr(colon + 1);
    const size_t semi = field.find(';');
    const std::string_view pair = field.substr(0, semi);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || TrimSpaces(pair.substr(0, eq)) != name) return 0;
    std::string_view value = TrimSpaces(pair.substr(eq + 1));
    const bool quoted = value.size() >= 2 && value.front() == '"' && value.back() == '"';
    if (quoted) value = value.substr(1, value.size() - 2);
    if (value.empty() ||
        (semi != std::string_view::npos && DeletesCookie(field.substr(semi + 1), now_unix))) {
      return 0;
    }
    out.insert(static_cast<size_t>(value.data() - out.data()), prefix);
    ++changed;
    return static_cast<ptrdiff_t>(prefix.size());
  });
  return changed;
}

void SetContentLength(std::string& out, size_t head_start, uint64_t length) {
  ForEachFieldLine(out, head_start, [&](size_t begin, size_t end) -> ptrdiff_t {
    const std::string_view line(out.data() + begin, end - begin);
    const std::string_view name = TrimSpaces(line.substr(0, line.find(':')));
    if (!EqualsIgnoreCase(name, "content-length") && !EqualsIgnoreCase(name, "transfer-encoding")) {
      return 0;
    }
    out.erase(begin, end - begin + 2);
    return -static_cast<ptrdiff_t>(end - begin + 2);
  });
  const size_t blank = out.find("\r\n\r\n", head_start);
  if (blank == std::string::npos) return;
  out.insert(blank + 2, absl::StrCat("Content-Length: ", length, "\r\n"));
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

void AppendErrorResponse(int status, std::string_view reason_text, bool keep_alive,
                         std::string& out) {
  absl::StrAppend(&out, "HTTP/1.1 ", status, " ", AsAbsl(StatusReason(status)),
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ",
                  reason_text.size() + 1, "\r\nCache-Control: no-store\r\n",
                  keep_alive ? "" : "Connection: close\r\n", "\r\n", AsAbsl(reason_text), "\n");
}

}  // namespace drover::http
