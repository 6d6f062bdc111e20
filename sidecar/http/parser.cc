#include "sidecar/http/parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"

namespace drover::http {
namespace {

// ---------------------------------------------------------------------------------------------
// Byte classes. One table lookup replaces the chains of comparisons the grammar would need.

constexpr uint8_t kTchar = 1;   // RFC 9110 5.6.2 token character
constexpr uint8_t kValue = 2;   // field-value / reason-phrase byte: VCHAR, obs-text, SP, HTAB
constexpr uint8_t kTarget = 4;  // request-target byte: anything above SP except DEL
constexpr uint8_t kHexDig = 8;
constexpr uint8_t kQdtext = 16;  // RFC 9110 5.6.4 qdtext

constexpr std::array<uint8_t, 256> kByteClass = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    uint8_t bits = 0;
    if (alpha || digit ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      bits |= kTchar;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) bits |= kValue;
    if (c > 0x20 && c != 0x7f) bits |= kTarget;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) bits |= kHexDig;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80) {
      bits |= kQdtext;
    }
    table[c] = bits;
  }
  return table;
}();

inline bool Is(char c, uint8_t bits) { return (kByteClass[static_cast<unsigned char>(c)] & bits); }
inline bool IsWs(char c) { return c == ' ' || c == '\t'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ASCII case-insensitive equality. absl::EqualsIgnoreCase would do, but Debian's Abseil is built
// with its own absl::string_view, which std::string_view does not convert to.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Returns the first byte in [p, end) that is below `kBelow` or is DEL, or `end`. Field values
// and targets are the bulk of a head, so they are checked eight bytes at a time: a word is
// looked at byte by byte only when it may hold a stop byte. The SWAR tests are exact for "some
// byte matches" (Bit Twiddling Hacks hasless/haszero, valid for kBelow <= 128), and bytes
// >= 0x80 never match, so obs-text passes through the fast path.
template <unsigned char kBelow>
inline const char* FindStop(const char* p, const char* end) {
  static_assert(kBelow <= 128);
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const auto is_stop = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < kBelow || u == 0x7f;
  };
  while (end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    const uint64_t below = (word - kOnes * kBelow) & ~word & kHigh;
    const uint64_t del = word ^ (kOnes * 0x7f);
    const uint64_t is_del = (del - kOnes) & ~del & kHigh;
    if ((below | is_del) != 0) {
      for (int i = 0; i < 8; ++i) {
        if (is_stop(p[i])) return p + i;
      }
    }
    p += 8;
  }
  while (p < end && !is_stop(*p)) ++p;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Results. Inside the parser kComplete means "this step succeeded, go on".

constexpr ParseResult kOk{ParseStatus::kComplete, ParseError::kNone};
constexpr ParseResult kNeedMore{ParseStatus::kIncomplete, ParseError::kNone};
constexpr ParseResult Error(ParseError error) { return {ParseStatus::kError, error}; }
inline bool Failed(const ParseResult& r) { return r.status != ParseStatus::kComplete; }

// `p` points at a CR or LF that must start a CRLF. Advances past it on success.
inline ParseResult ExpectCrlf(const char*& p, const char* end) {
  if (*p == '\n') return Error(ParseError::kBareLf);
  if (p + 1 == end) return kNeedMore;
  if (p[1] != '\n') return Error(ParseError::kBareCr);
  p += 2;
  return kOk;
}

// Classifies an unexpected byte at `p`: line-ending misuse is reported as such, a proper CRLF
// in the wrong place as `on_crlf`, anything else as `otherwise`.
inline ParseResult StopError(const char* p, const char* end, ParseError otherwise,
                             ParseError on_crlf) {
  if (*p == '\n') return Error(ParseError::kBareLf);
  if (*p == '\r') {
    if (p + 1 == end) return kNeedMore;
    return Error(p[1] == '\n' ? on_crlf : ParseError::kBareCr);
  }
  return Error(otherwise);
}

// Parses "HTTP/" DIGIT "." DIGIT. Checks every byte as it arrives so a wrong protocol name is
// rejected before the line ends.
ParseResult ParseVersion(const char*& p, const char* end, int& major, int& minor) {
  static constexpr std::string_view kHttp = "HTTP/";
  for (size_t i = 0; i < 8; ++i) {
    if (p + i == end) return kNeedMore;
    const char c = p[i];
    const bool ok = i < kHttp.size() ? c == kHttp[i] : (i == 6 ? c == '.' : IsDigit(c));
    if (!ok) return StopError(p + i, end, ParseError::kBadVersion, ParseError::kBadVersion);
  }
  major = p[5] - '0';
  minor = p[7] - '0';
  p += 8;
  return kOk;
}

Method MethodFromToken(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 5:
      if (m == "PATCH") return Method::kPatch;
      if (m == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "CONNECT") return Method::kConnect;
      if (m == "OPTIONS") return Method::kOptions;
      break;
    default:
      break;
  }
  return Method::kOther;
}

// Parses field lines up to and including the empty line that ends the head (RFC 9112 5).
ParseResult ParseFields(const char*& cursor, const char* end, size_t max_fields,
                        MessageHead& head) {
  const char* p = cursor;
  for (;;) {
    if (p == end) return kNeedMore;
    if (*p == '\r' || *p == '\n') {
      ParseResult r = ExpectCrlf(p, end);
      if (Failed(r)) return r;
      cursor = p;
      return kOk;
    }
    // A line starting with whitespace is obs-fold after a field (RFC 9112 5.2) and a smuggling
    // device before the first one (RFC 9112 2.2); either way it is rejected.
    if (IsWs(*p)) return Error(ParseError::kObsFold);
    if (head.header_count >= max_fields) return Error(ParseError::kTooManyHeaders);

    const char* name_begin = p;
    while (p < end && Is(*p, kTchar)) ++p;
    if (p == end) return kNeedMore;
    if (*p != ':') {
      if (p != name_begin && IsWs(*p)) {
        // Tell "Name : v" (a classic smuggling variant) from "Na me: v" by what follows.
        const char* q = p;
        while (q < end && IsWs(*q)) ++q;
        if (q == end) return kNeedMore;
        if (*q == ':') return Error(ParseError::kSpaceBeforeColon);
        return StopError(q, end, ParseError::kBadHeaderName, ParseError::kBadHeaderName);
      }
      return StopError(p, end, ParseError::kBadHeaderName, ParseError::kBadHeaderName);
    }
    if (p == name_begin) return Error(ParseError::kBadHeaderName);
    const std::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    ++p;

    while (p < end && IsWs(*p)) ++p;
    const char* value_begin = p;
    for (;;) {
      p = FindStop<0x20>(p, end);
      if (p == end) return kNeedMore;
      if (*p != '\t') break;
      ++p;
    }
    const char* value_end = p;
    if (*p != '\r' && *p != '\n') return Error(ParseError::kBadHeaderValue);
    ParseResult r = ExpectCrlf(p, end);
    if (Failed(r)) return r;
    while (value_end > value_begin && IsWs(value_end[-1])) --value_end;
    head.headers[head.header_count++] =
        Header{name, std::string_view(value_begin, static_cast<size_t>(value_end - value_begin))};
  }
}

void ResetMessage(MessageHead& head) {
  head.version_minor = 1;
  head.head_bytes = 0;
  head.header_count = 0;
  head.body = BodyKind::kNone;
  head.content_length = 0;
  head.connection_close = false;
  head.connection_keep_alive = false;
  head.connection_upgrade = false;
  head.upgrade = {};
  head.connection_field_count = 0;
  head.first_connection_field = 0;
}

size_t MaxFields(const ParseLimits& limits) {
  return std::min(limits.max_headers, kMaxHeaderFields);
}

// ---------------------------------------------------------------------------------------------
// Framing: what the fields mean once the head is complete.

enum class KnownField : uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kUpgrade,
  kExpect,
};

KnownField ClassifyField(std::string_view name) {
  // The length picks the single candidate, so most fields cost one switch.
  switch (name.size()) {
    case 4:
      return EqualsIgnoreCase(name, "host") ? KnownField::kHost : KnownField::kOther;
    case 6:
      return EqualsIgnoreCase(name, "expect") ? KnownField::kExpect : KnownField::kOther;
    case 7:
      return EqualsIgnoreCase(name, "upgrade") ? KnownField::kUpgrade : KnownField::kOther;
    case 10:
      return EqualsIgnoreCase(name, "connection") ? KnownField::kConnection : KnownField::kOther;
    case 14:
      return EqualsIgnoreCase(name, "content-length") ? KnownField::kContentLength
                                                      : KnownField::kOther;
    case 17:
      return EqualsIgnoreCase(name, "transfer-encoding") ? KnownField::kTransferEncoding
                                                         : KnownField::kOther;
    default:
      return KnownField::kOther;
  }
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsWs(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWs(s.back())) s.remove_suffix(1);
  return s;
}

// Calls `fn` on each comma-separated element of `value`, OWS-trimmed, empty ones included so
// callers can reject them; stops early when `fn` returns false.
template <typename Fn>
bool ForEachElement(std::string_view value, Fn fn) {
  for (;;) {
    const size_t comma = value.find(',');
    if (!fn(TrimOws(value.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// 1*DIGIT that fits in int64_t, so the proxy can do signed arithmetic on it.
bool ParseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (kMax - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = v;
  return true;
}

// Facts gathered from the fields in one pass; shared by requests and responses.
struct FieldScan {
  size_t content_length_fields = 0;
  std::string_view first_content_length;
  size_t host_fields = 0;
  std::string_view host;
  size_t te_fields = 0;
  size_t te_codings = 0;
  bool te_empty_coding = false;
  bool te_last_is_chunked = false;
  bool expect_continue = false;
};

void NoteConnection(MessageHead& head, size_t index) {
  if (head.connection_field_count == 0) head.first_connection_field = static_cast<uint16_t>(index);
  ++head.connection_field_count;
  ForEachElement(head.headers[index].value, [&head](std::string_view token) {
    if (EqualsIgnoreCase(token, "close")) {
      head.connection_close = true;
    } else if (EqualsIgnoreCase(token, "keep-alive")) {
      head.connection_keep_alive = true;
    } else if (EqualsIgnoreCase(token, "upgrade")) {
      head.connection_upgrade = true;
    }
    return true;
  });
}

void ScanFields(MessageHead& head, FieldScan& scan) {
  for (size_t i = 0; i < head.header_count; ++i) {
    const Header& field = head.headers[i];
    switch (ClassifyField(field.name)) {
      case KnownField::kOther:
        break;
      case KnownField::kHost:
        if (scan.host_fields++ == 0) scan.host = field.value;
        break;
      case KnownField::kContentLength:
        if (scan.content_length_fields++ == 0) scan.first_content_length = field.value;
        break;
      case KnownField::kTransferEncoding:
        ++scan.te_fields;
        ForEachElement(field.value, [&scan](std::string_view coding) {
          ++scan.te_codings;
          if (coding.empty()) scan.te_empty_coding = true;
          scan.te_last_is_chunked = EqualsIgnoreCase(coding, "chunked");
          return true;
        });
        break;
      case KnownField::kConnection:
        NoteConnection(head, i);
        break;
      case KnownField::kUpgrade:
        if (head.upgrade.empty()) head.upgrade = field.value;
        break;
      case KnownField::kExpect:
        if (EqualsIgnoreCase(field.value, "100-continue")) scan.expect_continue = true;
        break;
    }
  }
}

ParseResult FinishRequest(RequestHead& head) {
  FieldScan scan;
  ScanFields(head, scan);
  if (scan.host_fields > 1) return Error(ParseError::kDuplicateHost);
  if (scan.host_fields == 0 && head.version_minor == 1) return Error(ParseError::kMissingHost);
  head.host = scan.host;
  // RFC 9112 3.2.2: with an absolute-form target the Host field must name the same authority;
  // a proxy that forwarded both would let the app and the next hop read different hosts.
  if (!head.target.empty() && head.target.front() != '/' && head.target != "*" &&
      scan.host_fields > 0) {
    std::string_view target = head.target;
    const size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      std::string_view authority = target.substr(scheme_end + 3);
      authority = authority.substr(0, authority.find_first_of("/?#"));
      if (!EqualsIgnoreCase(authority, head.host)) return Error(ParseError::kHostMismatch);
    }
  }
  // RFC 9110 10.1.1: a 1.0 client cannot wait for 100 Continue, so its Expect is ignored.
  head.expect_continue = scan.expect_continue && head.version_minor == 1;
  // A request has one length or none: every alternative reading is someone's smuggling bug.
  if (scan.content_length_fields > 1) return Error(ParseError::kDuplicateContentLength);
  if (scan.te_fields > 0) {
    if (head.version_minor == 0) return Error(ParseError::kTransferEncodingOnHttp10);
    if (scan.content_length_fields > 0) {
      return Error(ParseError::kContentLengthWithTransferEncoding);
    }
    if (scan.te_codings != 1 || !scan.te_last_is_chunked) {
      return Error(ParseError::kUnknownTransferCoding);
    }
    head.body = BodyKind::kChunked;
  } else if (scan.content_length_fields == 1) {
    if (!ParseDecimal(scan.first_content_length, head.content_length)) {
      return Error(ParseError::kBadContentLength);
    }
    head.body = BodyKind::kLength;
  }
  return kOk;
}

// RFC 9112 6.3 item 5: a response may repeat one Content-Length value, as fields or as a list.
ParseResult ResponseContentLength(const MessageHead& head, uint64_t& length) {
  bool seen = false;
  bool bad = false;
  bool differ = false;
  for (size_t i = 0; i < head.header_count && !bad; ++i) {
    if (ClassifyField(head.headers[i].name) != KnownField::kContentLength) continue;
    ForEachElement(head.headers[i].value, [&](std::string_view element) {
      uint64_t v = 0;
      if (!ParseDecimal(element, v)) {
        bad = true;
        return false;
      }
      if (seen && v != length) differ = true;
      length = v;
      seen = true;
      return true;
    });
  }
  if (bad) return Error(ParseError::kBadContentLength);
  if (differ) return Error(ParseError::kDuplicateContentLength);
  return kOk;
}

ParseResult FinishResponse(Method request_method, ResponseHead& head) {
  FieldScan scan;
  ScanFields(head, scan);
  uint64_t length = 0;
  if (scan.content_length_fields > 0) {
    ParseResult r = ResponseContentLength(head, length);
    if (Failed(r)) return r;
  }
  if (scan.te_fields > 0) {
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (head.version_minor == 0) return Error(ParseError::kTransferEncodingOnHttp10);
    if (scan.content_length_fields > 0) {
      return Error(ParseError::kContentLengthWithTransferEncoding);
    }
    // "chunked, " ends in an empty coding: one reader sees chunked last, another does not.
    if (scan.te_empty_coding) return Error(ParseError::kUnknownTransferCoding);
  }
  const int status = head.status;
  // Any 2xx to CONNECT, 204 included, starts the tunnel right after the head (RFC 9110 9.3.6).
  const bool connect_ok = request_method == Method::kConnect && status >= 200 && status < 300;
  if (status == 101 || connect_ok) {
    head.body = BodyKind::kTunnel;
  } else if (request_method == Method::kHead || status < 200 || status == 204 || status == 304) {
    head.body = BodyKind::kNone;
  } else if (scan.te_fields > 0) {
    head.body = scan.te_last_is_chunked ? BodyKind::kChunked : BodyKind::kUntilClose;
  } else if (scan.content_length_fields > 0) {
    head.body = BodyKind::kLength;
    head.content_length = length;
  } else {
    head.body = BodyKind::kUntilClose;
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// Start lines.

ParseResult ParseRequestLine(const char*& cursor, const char* end, RequestHead& head) {
  const char* p = cursor;
  // RFC 9112 2.2: a server SHOULD ignore empty lines received before the request line (old
  // clients send a CRLF after a POST body).
  for (;;) {
    if (p == end) return kNeedMore;
    if (*p != '\r' && *p != '\n') break;
    ParseResult r = ExpectCrlf(p, end);
    if (Failed(r)) return r;
  }

  const char* method_begin = p;
  while (p < end && Is(*p, kTchar)) ++p;
  if (p == end) return kNeedMore;
  if (*p != ' ' || p == method_begin) {
    return StopError(p, end, ParseError::kBadMethod, ParseError::kBadRequestLine);
  }
  head.method_text = std::string_view(method_begin, static_cast<size_t>(p - method_begin));
  head.method = MethodFromToken(head.method_text);
  ++p;

  const char* target_begin = p;
  p = FindStop<0x21>(p, end);
  if (p == end) return kNeedMore;
  if (*p != ' ' || p == target_begin) {
    const ParseError otherwise = *p == ' ' ? ParseError::kBadRequestLine : ParseError::kBadTarget;
    return StopError(p, end, otherwise, ParseError::kBadRequestLine);
  }
  head.target = std::string_view(target_begin, static_cast<size_t>(p - target_begin));
  ++p;

  int major = 0;
  int minor = 0;
  ParseResult r = ParseVersion(p, end, major, minor);
  if (Failed(r)) return r;
  if (p == end) return kNeedMore;
  if (*p != '\r' && *p != '\n') {
    return Error(*p == ' ' ? ParseError::kBadRequestLine : ParseError::kBadVersion);
  }
  r = ExpectCrlf(p, end);
  if (Failed(r)) return r;
  if (major != 1 || minor > 1) return Error(ParseError::kUnsupportedVersion);
  head.version_minor = minor;
  cursor = p;
  return kOk;
}

ParseResult ParseStatusLine(const char*& cursor, const char* end, ResponseHead& head) {
  const char* p = cursor;
  int major = 0;
  int minor = 0;
  ParseResult r = ParseVersion(p, end, major, minor);
  if (Failed(r)) return r;
  if (p == end) return kNeedMore;
  if (*p != ' ') {
    const ParseError otherwise = IsDigit(*p) ? ParseError::kBadVersion : ParseError::kBadStatusLine;
    return StopError(p, end, otherwise, ParseError::kBadStatusLine);
  }
  ++p;
  int status = 0;
  for (int i = 0; i < 3; ++i, ++p) {
    if (p == end) return kNeedMore;
    if (!IsDigit(*p)) {
      return StopError(p, end, ParseError::kBadStatusLine, ParseError::kBadStatusLine);
    }
    status = status * 10 + (*p - '0');
  }
  if (status < 100) return Error(ParseError::kBadStatusLine);
  if (p == end) return kNeedMore;
  const char* reason_begin = p;
  const char* reason_end = p;
  if (*p == ' ') {
    reason_begin = ++p;
    for (;;) {
      p = FindStop<0x20>(p, end);
      if (p == end) return kNeedMore;
      if (*p != '\t') break;
      ++p;
    }
    reason_end = p;
  }
  // "HTTP/1.1 200\r\n" (no SP, no reason) is accepted: real servers send it.
  if (*p != '\r' && *p != '\n') return Error(ParseError::kBadStatusLine);
  r = ExpectCrlf(p, end);
  if (Failed(r)) return r;
  if (major != 1 || minor > 1) return Error(ParseError::kUnsupportedVersion);
  head.version_minor = minor;
  head.status = status;
  head.reason = std::string_view(reason_begin, static_cast<size_t>(reason_end - reason_begin));
  cursor = p;
  return kOk;
}

// Parses only the first max_head_bytes: running out inside that window is kIncomplete, running
// out at its edge while more data is waiting is a head too large.
// `start_line_too_long(data)` names the error when the limit is reached inside the start line.
template <typename Head, typename StartLine, typename Finish, typename StartLineTooLong>
ParseResult ParseHead(std::string_view data, const ParseLimits& limits, Head& head,
                      StartLine start_line, Finish finish, StartLineTooLong start_line_too_long) {
  const char* const begin = data.data();
  const char* const end = begin + std::min(data.size(), limits.max_head_bytes);
  const char* p = begin;
  ParseResult r = start_line(p, end, head);
  const bool start_line_done = !Failed(r);
  if (start_line_done) r = ParseFields(p, end, MaxFields(limits), head);
  if (r.status == ParseStatus::kIncomplete) {
    if (data.size() <= limits.max_head_bytes) return r;
    return Error(start_line_done ? ParseError::kHeadTooLarge
                                 : start_line_too_long(data.substr(0, limits.max_head_bytes)));
  }
  if (Failed(r)) return r;
  r = finish(head);
  if (Failed(r)) return r;
  head.head_bytes = static_cast<size_t>(p - begin);
  return r;
}

}  // namespace

std::string_view ParseErrorName(ParseError error) {
  switch (error) {
    case ParseError::kNone:
      return "none";
    case ParseError::kBadRequestLine:
      return "bad_request_line";
    case ParseError::kBadMethod:
      return "bad_method";
    case ParseError::kBadTarget:
      return "bad_target";
    case ParseError::kBadVersion:
      return "bad_version";
    case ParseError::kUnsupportedVersion:
      return "unsupported_version";
    case ParseError::kBadStatusLine:
      return "bad_status_line";
    case ParseError::kBadHeaderName:
      return "bad_header_name";
    case ParseError::kBadHeaderValue:
      return "bad_header_value";
    case ParseError::kSpaceBeforeColon:
      return "space_before_colon";
    case ParseError::kObsFold:
      return "obs_fold";
    case ParseError::kBareCr:
      return "bare_cr";
    case ParseError::kBareLf:
      return "bare_lf";
    case ParseError::kHeadTooLarge:
      return "head_too_large";
    case ParseError::kTooManyHeaders:
      return "too_many_headers";
    case ParseError::kMissingHost:
      return "missing_host";
    case ParseError::kDuplicateHost:
      return "duplicate_host";
    case ParseError::kHostMismatch:
      return "host_mismatch";
    case ParseError::kBadContentLength:
      return "bad_content_length";
    case ParseError::kDuplicateContentLength:
      return "duplicate_content_length";
    case ParseError::kContentLengthWithTransferEncoding:
      return "content_length_with_transfer_encoding";
    case ParseError::kUnknownTransferCoding:
      return "unknown_transfer_coding";
    case ParseError::kTransferEncodingOnHttp10:
      return "transfer_encoding_on_http10";
    case ParseError::kBadChunkSize:
      return "bad_chunk_size";
    case ParseError::kBadChunkExtension:
      return "bad_chunk_extension";
    case ParseError::kBadChunkTerminator:
      return "bad_chunk_terminator";
    case ParseError::kBadTrailer:
      return "bad_trailer";
    case ParseError::kTrailerTooLarge:
      return "trailer_too_large";
    case ParseError::kUriTooLong:
      return "uri_too_long";
  }
  return "unknown";
}

int ParseErrorStatus(ParseError error) {
  switch (error) {
    case ParseError::kHeadTooLarge:
    case ParseError::kTooManyHeaders:
      return 431;
    case ParseError::kUriTooLong:
      return 414;
    case ParseError::kUnsupportedVersion:
      return 505;
    default:
      return 400;
  }
}

bool IsIdempotent(Method method) {
  switch (method) {
    case Method::kGet:
    case Method::kHead:
    case Method::kOptions:
    case Method::kTrace:
    case Method::kPut:
    case Method::kDelete:
      return true;
    default:
      return false;
  }
}

bool MessageHead::KeepAlive() const {
  if (connection_close) return false;
  return version_minor >= 1 || connection_keep_alive;
}

bool MessageHead::ConnectionNames(std::string_view name) const {
  size_t remaining = connection_field_count;
  for (size_t i = first_connection_field; remaining > 0 && i < header_count; ++i) {
    if (ClassifyField(headers[i].name) != KnownField::kConnection) continue;
    --remaining;
    const bool listed = !ForEachElement(headers[i].value, [name](std::string_view token) {
      return !EqualsIgnoreCase(token, name);
    });
    if (listed) return true;
  }
  return false;
}

ParseResult ParseRequestHead(std::string_view data, const ParseLimits& limits, RequestHead& head) {
  ResetMessage(head);
  head.method = Method::kGet;
  head.method_text = {};
  head.target = {};
  head.host = {};
  head.expect_continue = false;
  return ParseHead(data, limits, head, ParseRequestLine, FinishRequest, RequestHeadTooLarge);
}

ParseError RequestHeadTooLarge(std::string_view data) {
  // Empty lines before the request line are skipped, as ParseRequestLine does.
  const size_t line = data.find_first_not_of("\r\n");
  if (line == std::string_view::npos) return ParseError::kHeadTooLarge;
  const std::string_view rest = data.substr(line);
  const bool line_ended = rest.find('\n') != std::string_view::npos;
  const bool method_ended = rest.find(' ') != std::string_view::npos;
  return !line_ended && method_ended ? ParseError::kUriTooLong : ParseError::kHeadTooLarge;
}

bool HeadScanner::ShouldParse(std::string_view data, size_t max_head_bytes) {
  const size_t from = scanned_;
  scanned_ = data.size();
  if (from == 0 || data.size() > max_head_bytes) return true;
  if (from >= data.size()) return false;
  return std::memchr(data.data() + from, '\n', data.size() - from) != nullptr;
}

ParseResult ParseResponseHead(std::string_view data, const ParseLimits& limits,
                              Method request_method, ResponseHead& head) {
  ResetMessage(head);
  head.status = 0;
  head.reason = {};
  return ParseHead(
      data, limits, head, ParseStatusLine,
      [request_method](ResponseHead& h) { return FinishResponse(request_method, h); },
      [](std::string_view /*data*/) { return ParseError::kHeadTooLarge; });
}

// ---------------------------------------------------------------------------------------------
// ChunkedDecoder

ChunkedDecoder::ChunkedDecoder(size_t max_line_bytes, size_t max_trailer_bytes)
    : max_line_bytes_(max_line_bytes), max_trailer_bytes_(max_trailer_bytes) {}

void ChunkedDecoder::Reset() {
  state_ = State::kSizeStart;
  error_ = ParseError::kNone;
  chunk_remaining_ = 0;
  payload_bytes_ = 0;
  line_bytes_ = 0;
  size_digits_ = 0;
  trailer_bytes_ = 0;
}

ParseError ChunkedDecoder::Step(unsigned char c) {
  const bool in_size_line = state_ <= State::kSizeLf;
  if (in_size_line && ++line_bytes_ > max_line_bytes_) {
    return state_ <= State::kSize ? ParseError::kBadChunkSize : ParseError::kBadChunkExtension;
  }
  if (state_ >= State::kTrailerLineStart && ++trailer_bytes_ > max_trailer_bytes_) {
    return ParseError::kTrailerTooLarge;
  }
  const char ch = static_cast<char>(c);
  const bool ws = IsWs(ch);
  switch (state_) {
    case State::kSizeStart:
    case State::kSize:
      if (Is(ch, kHexDig)) {
        // 16 hex digits fill a uint64_t; a 17th is an overflow however small its value.
        if (++size_digits_ > 16) return ParseError::kBadChunkSize;
        const uint64_t digit = IsDigit(ch) ? c - '0' : (c | 0x20) - 'a' + 10;
        chunk_remaining_ = (chunk_remaining_ << 4) | digit;
        state_ = State::kSize;
        return ParseError::kNone;
      }
      if (state_ == State::kSizeStart) return ParseError::kBadChunkSize;
      if (c == '\r') {
        state_ = State::kSizeLf;
      } else if (ws) {
        state_ = State::kExtBws;
      } else if (c == ';') {
        state_ = State::kExtNameStart;
      } else {
        return ParseError::kBadChunkSize;
      }
      return ParseError::kNone;
    case State::kExtBws:
      if (c == ';') {
        state_ = State::kExtNameStart;
      } else if (!ws) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtNameStart:
      if (Is(ch, kTchar)) {
        state_ = State::kExtName;
      } else if (!ws) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtName:
      if (Is(ch, kTchar)) return ParseError::kNone;
      if (ws) {
        state_ = State::kExtAfterName;
      } else if (c == '=') {
        state_ = State::kExtValueStart;
      } else if (c == ';') {
        state_ = State::kExtNameStart;
      } else if (c == '\r') {
        state_ = State::kSizeLf;
      } else {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtAfterName:
      if (c == '=') {
        state_ = State::kExtValueStart;
      } else if (c == ';') {
        state_ = State::kExtNameStart;
      } else if (!ws) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtValueStart:
      if (c == '"') {
        state_ = State::kExtQuoted;
      } else if (Is(ch, kTchar)) {
        state_ = State::kExtToken;
      } else if (!ws) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtToken:
    case State::kExtAfterQuoted:
      if (state_ == State::kExtToken && Is(ch, kTchar)) return ParseError::kNone;
      if (ws) {
        state_ = State::kExtBws;
      } else if (c == ';') {
        state_ = State::kExtNameStart;
      } else if (c == '\r') {
        state_ = State::kSizeLf;
      } else {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtQuoted:
      if (c == '"') {
        state_ = State::kExtAfterQuoted;
      } else if (c == '\\') {
        state_ = State::kExtQuotedEscape;
      } else if (!Is(ch, kQdtext)) {
        return ParseError::kBadChunkExtension;
      }
      return ParseError::kNone;
    case State::kExtQuotedEscape:
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (!Is(ch, kValue)) return ParseError::kBadChunkExtension;
      state_ = State::kExtQuoted;
      return ParseError::kNone;
    case State::kSizeLf:
      if (c != '\n') return ParseError::kBadChunkSize;
      line_bytes_ = 0;
      size_digits_ = 0;
      state_ = chunk_remaining_ == 0 ? State::kTrailerLineStart : State::kData;
      return ParseError::kNone;
    case State::kDataCr:
      if (c != '\r') return ParseError::kBadChunkTerminator;
      state_ = State::kDataLf;
      return ParseError::kNone;
    case State::kDataLf:
      if (c != '\n') return ParseError::kBadChunkTerminator;
      state_ = State::kSizeStart;
      return ParseError::kNone;
    case State::kTrailerLineStart:
      if (c == '\r') {
        state_ = State::kFinalLf;
      } else if (Is(ch, kTchar)) {
        state_ = State::kTrailerName;
      } else {
        return ParseError::kBadTrailer;
      }
      return ParseError::kNone;
    case State::kTrailerName:
      if (c == ':') {
        state_ = State::kTrailerValue;
      } else if (!Is(ch, kTchar)) {
        return ParseError::kBadTrailer;
      }
      return ParseError::kNone;
    case State::kTrailerValue:
      if (c == '\r') {
        state_ = State::kTrailerLf;
      } else if (!Is(ch, kValue)) {
        return ParseError::kBadTrailer;
      }
      return ParseError::kNone;
    case State::kTrailerLf:
      if (c != '\n') return ParseError::kBadTrailer;
      state_ = State::kTrailerLineStart;
      return ParseError::kNone;
    case State::kFinalLf:
      if (c != '\n') return ParseError::kBadTrailer;
      state_ = State::kDone;
      return ParseError::kNone;
    case State::kData:
    case State::kDone:
    case State::kError:
      break;
  }
  return ParseError::kBadChunkSize;  // unreachable: Feed() handles these states itself
}

ChunkedDecoder::Result ChunkedDecoder::Feed(std::string_view data) {
  Result result;
  if (state_ == State::kDone) {
    result.done = true;
    return result;
  }
  if (state_ == State::kError) {
    result.error = error_;
    return result;
  }
  const char* const begin = data.data();
  const char* const end = begin + data.size();
  const char* p = begin;
  while (p < end) {
    if (state_ == State::kData) {
      // Chunk data is opaque: skip it without looking at it.
      const uint64_t take = std::min<uint64_t>(chunk_remaining_, static_cast<uint64_t>(end - p));
      p += take;
      chunk_remaining_ -= take;
      payload_bytes_ += take;
      if (chunk_remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    const ParseError error = Step(static_cast<unsigned char>(*p));
    if (error != ParseError::kNone) {
      state_ = State::kError;
      error_ = error;
      result.consumed = static_cast<size_t>(p - begin);
      result.error = error;
      return result;
    }
    ++p;
    if (state_ == State::kDone) break;
  }
  result.consumed = static_cast<size_t>(p - begin);
  result.done = state_ == State::kDone;
  return result;
}

}  // namespace drover::http
