#include "sidecar/http/rewrite.h"

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
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

std::string_view StatusReason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
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
