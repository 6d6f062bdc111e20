#include "sidecar/http/parser.h"

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace drover::http {
namespace {

using namespace std::string_view_literals;

// Heads are ~8 KiB (256 field slots); tests reuse these rather than growing the stack.
RequestHead& Req() {
  static RequestHead head;
  return head;
}
ResponseHead& Resp() {
  static ResponseHead head;
  return head;
}

ParseResult ParseRequest(std::string_view raw, const ParseLimits& limits = {}) {
  return ParseRequestHead(raw, limits, Req());
}

ParseResult ParseResponse(std::string_view raw, Method method = Method::kGet,
                          const ParseLimits& limits = {}) {
  return ParseResponseHead(raw, limits, method, Resp());
}

std::string_view FieldValue(const MessageHead& head, std::string_view name) {
  for (size_t i = 0; i < head.header_count; ++i) {
    if (head.headers[i].name == name) return head.headers[i].value;
  }
  return "<absent>";
}

::testing::AssertionResult IsComplete(const ParseResult& r) {
  if (r.status == ParseStatus::kComplete && r.error == ParseError::kNone) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "status " << static_cast<int>(r.status) << " error " << ParseErrorName(r.error);
}

::testing::AssertionResult IsError(const ParseResult& r, ParseError expected) {
  if (r.status == ParseStatus::kError && r.error == expected) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "status " << static_cast<int>(r.status) << " error " << ParseErrorName(r.error)
         << ", expected " << ParseErrorName(expected);
}

// ----------------------------------------------------------------------------------------------
// Requests: valid shapes

// An origin-form GET yields its method, target, version, host and trimmed fields.
TEST(ParseRequestHeadTest, OriginForm) {
  const std::string_view raw =
      "GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: drover\r\n\r\n";
  ASSERT_TRUE(IsComplete(ParseRequest(raw)));
  const RequestHead& head = Req();
  EXPECT_EQ(head.method, Method::kGet);
  EXPECT_EQ(head.method_text, "GET");
  EXPECT_EQ(head.target, "/index.html?q=1&r=%20");
  EXPECT_EQ(head.version_minor, 1);
  EXPECT_EQ(head.host, "example.com");
  ASSERT_EQ(head.header_count, 2u);
  EXPECT_EQ(head.headers[1].name, "User-Agent");
  EXPECT_EQ(head.headers[1].value, "drover");
  EXPECT_EQ(head.head_bytes, raw.size());
  EXPECT_EQ(head.body, BodyKind::kNone);
  EXPECT_TRUE(head.KeepAlive());
}

// An absolute-form target is taken verbatim.
TEST(ParseRequestHeadTest, AbsoluteForm) {
  ASSERT_TRUE(IsComplete(ParseRequest(
      "GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")));
  EXPECT_EQ(Req().target, "http://example.com:8080/a/b?c");
  EXPECT_EQ(Req().host, "example.com:8080");
}

// CONNECT with an authority-form target parses as kConnect.
TEST(ParseRequestHeadTest, AuthorityForm) {
  ASSERT_TRUE(IsComplete(
      ParseRequest("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")));
  EXPECT_EQ(Req().method, Method::kConnect);
  EXPECT_EQ(Req().target, "example.com:443");
}

// OPTIONS with the asterisk-form target parses as kOptions.
TEST(ParseRequestHeadTest, AsteriskForm) {
  ASSERT_TRUE(IsComplete(ParseRequest("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_EQ(Req().method, Method::kOptions);
  EXPECT_EQ(Req().target, "*");
}

// Every known method maps to its enum; other tokens (and other cases) are kOther.
TEST(ParseRequestHeadTest, MethodTokens) {
  const std::pair<std::string_view, Method> cases[] = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},     {"POST", Method::kPost},
      {"PUT", Method::kPut},         {"DELETE", Method::kDelete}, {"CONNECT", Method::kConnect},
      {"OPTIONS", Method::kOptions}, {"TRACE", Method::kTrace},   {"PATCH", Method::kPatch},
      {"PURGE", Method::kOther},     {"get", Method::kOther},     {"M-SEARCH", Method::kOther},
  };
  for (const auto& [token, method] : cases) {
    const std::string raw = std::string(token) + " / HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_TRUE(IsComplete(ParseRequest(raw))) << token;
    EXPECT_EQ(Req().method, method) << token;
    EXPECT_EQ(Req().method_text, token);
  }
}

// Bytes 0x80-0xff are allowed in the target (raw UTF-8 paths exist in the wild).
TEST(ParseRequestHeadTest, TargetAllowsObsText) {
  ASSERT_TRUE(IsComplete(ParseRequest("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_EQ(Req().target, "/caf\xc3\xa9");
}

// HTTP/1.0 needs no Host and keeps the connection only with "keep-alive".
TEST(ParseRequestHeadTest, Http10KeepAlive) {
  ASSERT_TRUE(IsComplete(ParseRequest("GET / HTTP/1.0\r\n\r\n")));
  EXPECT_EQ(Req().version_minor, 0);
  EXPECT_EQ(Req().host, "");
  EXPECT_FALSE(Req().KeepAlive());
  ASSERT_TRUE(IsComplete(ParseRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")));
  EXPECT_TRUE(Req().KeepAlive());
  ASSERT_TRUE(IsComplete(
      ParseRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")));
  EXPECT_FALSE(Req().KeepAlive());
}

// Values lose leading/trailing SP/HTAB but keep inner whitespace, obs-text, and may be empty.
TEST(ParseRequestHeadTest, FieldValueTrimming) {
  ASSERT_TRUE(IsComplete(
      ParseRequest("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t a  b \t \r\nX-Empty:\r\nX-Spaces:   \r\n"
                   "X-Utf8: \xe2\x9c\x93\r\nX-Long: 0123456789abcdef0123456789abcdef\tz\r\n\r\n")));
  const RequestHead& head = Req();
  EXPECT_EQ(FieldValue(head, "Host"), "a");
  EXPECT_EQ(FieldValue(head, "X-A"), "a  b");
  EXPECT_EQ(FieldValue(head, "X-Empty"), "");
  EXPECT_EQ(FieldValue(head, "X-Spaces"), "");
  EXPECT_EQ(FieldValue(head, "X-Utf8"), "\xe2\x9c\x93");
  EXPECT_EQ(FieldValue(head, "X-Long"), "0123456789abcdef0123456789abcdef\tz");
}

// A Content-Length of digits (OWS around it is not part of the value) frames a kLength body.
TEST(ParseRequestHeadTest, ContentLength) {
  ASSERT_TRUE(IsComplete(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n")));
  EXPECT_EQ(Req().body, BodyKind::kLength);
  EXPECT_EQ(Req().content_length, 42u);
  ASSERT_TRUE(IsComplete(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:0\r\n\r\n")));
  EXPECT_EQ(Req().body, BodyKind::kLength);
  EXPECT_EQ(Req().content_length, 0u);
  ASSERT_TRUE(
      IsComplete(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 5 \t\r\n\r\n")));
  EXPECT_EQ(Req().content_length, 5u);
  ASSERT_TRUE(IsComplete(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n")));
  EXPECT_EQ(Req().content_length, 9223372036854775807u);
}

// "chunked" in any case with OWS frames a chunked body.
TEST(ParseRequestHeadTest, TransferEncodingChunked) {
  ASSERT_TRUE(IsComplete(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  ChunKed \r\n\r\n")));
  EXPECT_EQ(Req().body, BodyKind::kChunked);
}

// Connection tokens over several fields set the flags and name hop-by-hop fields.
TEST(ParseRequestHeadTest, ConnectionTokens) {
  ASSERT_TRUE(IsComplete(
      ParseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade , X-Foo\r\nX-Foo: 1\r\n"
                   "connection: close,,keep-alive\r\nUpgrade: websocket\r\n\r\n")));
  const RequestHead& head = Req();
  EXPECT_TRUE(head.connection_close);
  EXPECT_TRUE(head.connection_keep_alive);
  EXPECT_TRUE(head.connection_upgrade);
  EXPECT_EQ(head.upgrade, "websocket");
  EXPECT_TRUE(head.ConnectionNames("x-foo"));
  EXPECT_TRUE(head.ConnectionNames("Upgrade"));
  EXPECT_FALSE(head.ConnectionNames("X-Bar"));
  EXPECT_FALSE(head.ConnectionNames("X-Fo"));
  EXPECT_FALSE(head.KeepAlive());
}

// Without Connection fields nothing is hop-by-hop and HTTP/1.1 stays open.
TEST(ParseRequestHeadTest, NoConnectionField) {
  ASSERT_TRUE(IsComplete(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Foo: close\r\n\r\n")));
  EXPECT_FALSE(Req().ConnectionNames("x-foo"));
  EXPECT_FALSE(Req().ConnectionNames("close"));
  EXPECT_FALSE(Req().connection_close);
  EXPECT_TRUE(Req().KeepAlive());
}

// Expect: 100-continue is seen case-insensitively on HTTP/1.1 and ignored on HTTP/1.0.
TEST(ParseRequestHeadTest, ExpectContinue) {
  ASSERT_TRUE(IsComplete(ParseRequest(
      "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")));
  EXPECT_TRUE(Req().expect_continue);
  ASSERT_TRUE(IsComplete(ParseRequest("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n")));
  EXPECT_FALSE(Req().expect_continue);
  ASSERT_TRUE(IsComplete(ParseRequest("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")));
  EXPECT_FALSE(Req().expect_continue);
}

// Empty lines before the request line are skipped (RFC 9112 2.2) and counted in head_bytes.
TEST(ParseRequestHeadTest, LeadingEmptyLinesIgnored) {
  const std::string_view raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_TRUE(IsComplete(ParseRequest(raw)));
  EXPECT_EQ(Req().head_bytes, raw.size());
  EXPECT_EQ(Req().target, "/");
  EXPECT_TRUE(IsError(ParseRequest("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBareLf));
}

// Every strict prefix of a valid head is kIncomplete; the whole head gives the same result
// however it arrived.
TEST(ParseRequestHeadTest, EveryPrefixIsIncomplete) {
  const std::string_view raw =
      "POST /a/very/long/path/that/crosses/several/words?x=1 HTTP/1.1\r\n"
      "Host: example.com\r\nContent-Length: 11\r\nConnection: keep-alive, X-Trace\r\n"
      "X-Trace: abc\tdef\r\nX-Obs: \xff\xfe\r\nAccept:\r\n\r\n";
  for (size_t n = 0; n < raw.size(); ++n) {
    ASSERT_EQ(ParseRequest(raw.substr(0, n)).status, ParseStatus::kIncomplete) << "prefix " << n;
  }
  ASSERT_TRUE(IsComplete(ParseRequest(raw)));
  EXPECT_EQ(Req().head_bytes, raw.size());
  EXPECT_EQ(Req().header_count, 6u);
  EXPECT_EQ(Req().body, BodyKind::kLength);
  EXPECT_EQ(Req().content_length, 11u);
  EXPECT_TRUE(Req().ConnectionNames("x-trace"));
}

// Bytes after the head (body, next request) are neither consumed nor looked at.
TEST(ParseRequestHeadTest, PipelinedBytesLeftAlone) {
  const std::string_view head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const std::string raw = std::string(head) + "hello" + "GET / HTTP/1.1\n\x01garbage";
  ASSERT_TRUE(IsComplete(ParseRequest(raw)));
  EXPECT_EQ(Req().head_bytes, head.size());
  ASSERT_TRUE(IsComplete(ParseRequest(std::string(head) + "\n\n\r\r")));
  EXPECT_EQ(Req().head_bytes, head.size());
}

// A bare LF is reported as soon as it arrives, not when the head would have ended.
TEST(ParseRequestHeadTest, ErrorsReportedEarly) {
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1\n"), ParseError::kBareLf));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1\r\nHost: a\n"), ParseError::kBareLf));
  EXPECT_TRUE(IsError(ParseRequest("GET /\n"), ParseError::kBareLf));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1\rX"), ParseError::kBareCr));
  EXPECT_TRUE(IsError(ParseRequest("G@"), ParseError::kBadMethod));
  EXPECT_TRUE(IsError(ParseRequest("GET /\x01"), ParseError::kBadTarget));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTX"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1\r\nX:\x01"), ParseError::kBadHeaderValue));
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r").status, ParseStatus::kIncomplete);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost \t").status, ParseStatus::kIncomplete);
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1\r\nHost :"), ParseError::kSpaceBeforeColon));
}

// Only "HTTP/1.0" and "HTTP/1.1" are accepted; other well-formed versions are 505.
TEST(ParseRequestHeadTest, Versions) {
  EXPECT_TRUE(
      IsError(ParseRequest("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), ParseError::kUnsupportedVersion));
  EXPECT_TRUE(
      IsError(ParseRequest("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), ParseError::kUnsupportedVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/0.9\r\n\r\n"), ParseError::kUnsupportedVersion));
  EXPECT_EQ(ParseErrorStatus(ParseError::kUnsupportedVersion), 505);
  EXPECT_TRUE(IsError(ParseRequest("GET / http/1.1\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/11\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.10\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/2\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.x\r\n"), ParseError::kBadVersion));
}

// The request line has exactly three parts separated by single spaces.
TEST(ParseRequestHeadTest, RequestLineShape) {
  EXPECT_TRUE(IsError(ParseRequest("GET  / HTTP/1.1\r\n"), ParseError::kBadRequestLine));
  EXPECT_TRUE(IsError(ParseRequest("GET /  HTTP/1.1\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseRequest("GET / HTTP/1.1 \r\n"), ParseError::kBadRequestLine));
  EXPECT_TRUE(IsError(ParseRequest("GET /\r\n"), ParseError::kBadRequestLine));
  EXPECT_TRUE(IsError(ParseRequest("GET\r\n"), ParseError::kBadRequestLine));
  EXPECT_TRUE(IsError(ParseRequest(" GET / HTTP/1.1\r\n"), ParseError::kBadMethod));
  EXPECT_TRUE(IsError(ParseRequest("GET\t/ HTTP/1.1\r\n"), ParseError::kBadMethod));
  EXPECT_TRUE(IsError(ParseRequest("GET /a\tb HTTP/1.1\r\n"), ParseError::kBadTarget));
  EXPECT_TRUE(IsError(ParseRequest("GET /a\x7f HTTP/1.1\r\n"), ParseError::kBadTarget));
}

// A head of exactly max_head_bytes fits; one byte more, complete or not, is 431.
TEST(ParseRequestHeadTest, HeadSizeLimit) {
  const std::string start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  ParseLimits limits;
  limits.max_head_bytes = 200;
  const std::string exact = start + std::string(200 - start.size() - end.size(), 'p') + end;
  ASSERT_EQ(exact.size(), 200u);
  EXPECT_TRUE(IsComplete(ParseRequest(exact, limits)));
  const std::string over = start + std::string(201 - start.size() - end.size(), 'p') + end;
  EXPECT_TRUE(IsError(ParseRequest(over, limits), ParseError::kHeadTooLarge));
  // Still incomplete, but already past the limit.
  const std::string endless = start + std::string(300, 'p');
  EXPECT_TRUE(IsError(ParseRequest(endless.substr(0, 201), limits), ParseError::kHeadTooLarge));
  EXPECT_EQ(ParseRequest(endless.substr(0, 200), limits).status, ParseStatus::kIncomplete);
  EXPECT_EQ(ParseErrorStatus(ParseError::kHeadTooLarge), 431);
}

// Over the limit inside the request line, once the method has ended, is a URI too long (414);
// anywhere else it is a head too large (431).
TEST(ParseRequestHeadTest, UriTooLong) {
  ParseLimits limits;
  limits.max_head_bytes = 100;
  const std::string long_uri = "GET /" + std::string(200, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_TRUE(IsError(ParseRequest(long_uri, limits), ParseError::kUriTooLong));
  EXPECT_TRUE(IsError(ParseRequest(long_uri.substr(0, 101), limits), ParseError::kUriTooLong));
  // The request line ends just past the limit: still the URI's fault.
  const std::string edge = "GET /" + std::string(100 - 5 - 9, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_TRUE(IsError(ParseRequest(edge, limits), ParseError::kUriTooLong));
  const std::string long_method = std::string(200, 'G') + " / HTTP/1.1\r\n\r\n";
  EXPECT_TRUE(IsError(ParseRequest(long_method, limits), ParseError::kHeadTooLarge));
  const std::string long_field = "GET / HTTP/1.1\r\nX: " + std::string(200, 'x') + "\r\n\r\n";
  EXPECT_TRUE(IsError(ParseRequest(long_field, limits), ParseError::kHeadTooLarge));
  EXPECT_EQ(RequestHeadTooLarge("\r\nGET /uuuu"), ParseError::kUriTooLong);
  EXPECT_EQ(RequestHeadTooLarge("GET / HTTP/1.1\r\nX: y"), ParseError::kHeadTooLarge);
  EXPECT_EQ(ParseErrorStatus(ParseError::kUriTooLong), 414);
}

// A head that arrives one byte at a time is parsed about once per line, not once per byte
// (which made it quadratic), and the result is the same as parsing it whole.
TEST(HeadScannerTest, ParsesOncePerLine) {
  const std::string head = "GET /trickle HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(16000, 'p') +
                           "\r\nAccept: */*\r\n\r\n";
  HeadScanner scan;
  size_t parses = 0;
  size_t parsed_bytes = 0;
  ParseResult r;
  for (size_t n = 1; n <= head.size(); ++n) {
    if (!scan.ShouldParse(std::string_view(head).substr(0, n), 16384)) continue;
    ++parses;
    parsed_bytes += n;
    r = ParseRequest(std::string_view(head).substr(0, n));
    if (r.status != ParseStatus::kIncomplete) break;
  }
  EXPECT_TRUE(IsComplete(r));
  EXPECT_EQ(Req().head_bytes, head.size());
  // The first byte, then one parse per line end: 5 lines.
  EXPECT_EQ(parses, 6u);
  EXPECT_LT(parsed_bytes, 6 * head.size());
  // A wrong protocol in the first bytes is refused without waiting for a line end.
  scan.Reset();
  ASSERT_TRUE(scan.ShouldParse("\x16\x03\x01", 16384));
  EXPECT_EQ(ParseRequest("\x16\x03\x01").status, ParseStatus::kError);
  // Past the limit: parse (to refuse it) whatever the line ends.
  scan.Reset();
  EXPECT_TRUE(scan.ShouldParse("GET /a", 8));
  EXPECT_FALSE(scan.ShouldParse("GET /aa", 8));
  EXPECT_TRUE(scan.ShouldParse("GET /aaaa", 8));
}

// max_headers fields are fine; one more is 431.
TEST(ParseRequestHeadTest, FieldCountLimit) {
  ParseLimits limits;
  limits.max_headers = 5;
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 4; ++i) raw += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_TRUE(IsComplete(ParseRequest(raw + "\r\n", limits)));
  EXPECT_EQ(Req().header_count, 5u);
  EXPECT_TRUE(IsError(ParseRequest(raw + "X-5: v\r\n\r\n", limits), ParseError::kTooManyHeaders));
  EXPECT_EQ(ParseErrorStatus(ParseError::kTooManyHeaders), 431);
}

// A limit above kMaxHeaderFields is capped, so the fixed field array never overflows.
TEST(ParseRequestHeadTest, FieldCountCappedAtArraySize) {
  ParseLimits limits;
  limits.max_headers = 1000;
  limits.max_head_bytes = 1 << 20;
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 1; i < kMaxHeaderFields; ++i) raw += "X: v\r\n";
  EXPECT_TRUE(IsComplete(ParseRequest(raw + "\r\n", limits)));
  EXPECT_TRUE(IsError(ParseRequest(raw + "X: v\r\n\r\n", limits), ParseError::kTooManyHeaders));
}

// ----------------------------------------------------------------------------------------------
// Requests: the smuggling corpus. Each entry is a request two implementations could frame two
// ways, or a malformed head; all must be rejected with a specific error.

struct BadRequest {
  std::string_view name;
  std::string_view raw;
  ParseError error;
};

constexpr BadRequest kBadRequests[] = {
    {"cl_then_te",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kContentLengthWithTransferEncoding},
    {"te_then_cl",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
     ParseError::kContentLengthWithTransferEncoding},
    {"cl_zero_with_te",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kContentLengthWithTransferEncoding},
    {"duplicate_cl_equal",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
     ParseError::kDuplicateContentLength},
    {"duplicate_cl_different",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
     ParseError::kDuplicateContentLength},
    {"duplicate_cl_other_case",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-LENGTH: 5\r\n\r\n",
     ParseError::kDuplicateContentLength},
    {"cl_plus_sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_inner_space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_list_spaced", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_hex_digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_decimal_point", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_two_pow_63", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
     ParseError::kBadContentLength},
    {"cl_overflow_u64",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n",
     ParseError::kBadContentLength},
    {"te_chunked_identity",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_gzip_chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_chunked_twice",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_two_fields",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_chunked_then_identity_field",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"
     "\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked-x\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_chunked_param", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_trailing_comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_leading_comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
     ParseError::kUnknownTransferCoding},
    {"te_vertical_tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \vchunked\r\n\r\n",
     ParseError::kBadHeaderValue},
    {"te_form_feed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\f\r\n\r\n",
     ParseError::kBadHeaderValue},
    {"te_obs_fold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
     ParseError::kObsFold},
    {"te_obs_fold_empty_first",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n", ParseError::kObsFold},
    {"te_space_before_colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
     ParseError::kSpaceBeforeColon},
    {"te_tab_before_colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n",
     ParseError::kSpaceBeforeColon},
    {"te_leading_tab", "POST / HTTP/1.1\r\nHost: a\r\n\tTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kObsFold},
    {"te_leading_space_first_line",
     "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n", ParseError::kObsFold},
    {"te_underscore_name_is_other_field_but_cl_dup",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 1\r\n"
     "Content-Length: 1\r\n\r\n",
     ParseError::kDuplicateContentLength},
    {"nul_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"sv, ParseError::kBadHeaderValue},
    {"nul_in_name", "GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n"sv, ParseError::kBadHeaderName},
    {"del_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", ParseError::kBadHeaderValue},
    {"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", ParseError::kBareCr},
    {"bare_cr_line_end", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", ParseError::kBareCr},
    {"bare_cr_final_line", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", ParseError::kBareCr},
    {"bare_cr_request_line", "GET / HTTP/1.1\rHost: a\r\n\r\n", ParseError::kBareCr},
    {"bare_lf_field_line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", ParseError::kBareLf},
    {"bare_lf_final_line", "GET / HTTP/1.1\r\nHost: a\r\n\n", ParseError::kBareLf},
    {"bare_lf_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", ParseError::kBareLf},
    {"lf_only_head", "GET / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello", ParseError::kBareLf},
    {"name_with_at", "GET / HTTP/1.1\r\nHost: a\r\nX@Y: 1\r\n\r\n", ParseError::kBadHeaderName},
    {"name_with_space", "GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n", ParseError::kBadHeaderName},
    {"name_with_slash", "GET / HTTP/1.1\r\nHost: a\r\nX/Y: 1\r\n\r\n", ParseError::kBadHeaderName},
    {"name_non_ascii", "GET / HTTP/1.1\r\nHost: a\r\nH\xc3\xb4st: a\r\n\r\n",
     ParseError::kBadHeaderName},
    {"empty_name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", ParseError::kBadHeaderName},
    {"line_without_colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo\r\n\r\n",
     ParseError::kBadHeaderName},
    {"name_space_then_bare_lf", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo \n\r\n", ParseError::kBareLf},
    {"name_space_then_crlf", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo \r\n\r\n",
     ParseError::kBadHeaderName},
    {"name_space_then_text", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo bar\r\n\r\n",
     ParseError::kBadHeaderName},
    {"missing_host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", ParseError::kMissingHost},
    {"double_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ParseError::kDuplicateHost},
    {"double_host_same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
     ParseError::kDuplicateHost},
    {"double_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
     ParseError::kDuplicateHost},
    {"host_space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
     ParseError::kSpaceBeforeColon},
    {"te_on_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kTransferEncodingOnHttp10},
    {"te_on_http10_with_cl",
     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
     ParseError::kTransferEncodingOnHttp10},
    {"http09_request_line", "GET /\r\n\r\n", ParseError::kBadRequestLine},
    {"ctl_in_target", "GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kBadTarget},
    {"unsupported_version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ParseError::kUnsupportedVersion},
};

class SmugglingTest : public ::testing::TestWithParam<BadRequest> {};

// The request is rejected with the expected error, fed whole or one byte at a time, and no
// prefix of it is ever accepted or rejected for a different reason.
TEST_P(SmugglingTest, Rejected) {
  const BadRequest& c = GetParam();
  EXPECT_TRUE(IsError(ParseRequest(c.raw), c.error));
  for (size_t n = 0; n < c.raw.size(); ++n) {
    const ParseResult r = ParseRequest(c.raw.substr(0, n));
    ASSERT_NE(r.status, ParseStatus::kComplete) << "prefix " << n;
    if (r.status == ParseStatus::kError) {
      ASSERT_EQ(r.error, c.error) << "prefix " << n;
    }
  }
  EXPECT_NE(ParseErrorName(c.error), "");
}

INSTANTIATE_TEST_SUITE_P(Corpus, SmugglingTest, ::testing::ValuesIn(kBadRequests),
                         [](const ::testing::TestParamInfo<BadRequest>& param_info) {
                           return std::string(param_info.param.name);
                         });

// An oversize head and too many fields belong in the corpus too, but need built inputs.
TEST(SmugglingLimitsTest, OversizeHeadAndFieldFlood) {
  const std::string big =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n";
  EXPECT_TRUE(IsError(ParseRequest(big), ParseError::kHeadTooLarge));
  std::string flood = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 100; ++i) flood += "X: 1\r\n";
  EXPECT_TRUE(IsError(ParseRequest(flood + "\r\n"), ParseError::kTooManyHeaders));
}

// ----------------------------------------------------------------------------------------------
// Responses

// A plain 200 with Content-Length carries status, reason and a kLength body.
TEST(ParseResponseHeadTest, OkWithLength) {
  const std::string_view raw = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: x\r\n\r\nabc";
  ASSERT_TRUE(IsComplete(ParseResponse(raw)));
  const ResponseHead& head = Resp();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.reason, "OK");
  EXPECT_EQ(head.version_minor, 1);
  EXPECT_EQ(head.body, BodyKind::kLength);
  EXPECT_EQ(head.content_length, 3u);
  EXPECT_EQ(head.head_bytes, raw.size() - 3);
}

// Reason phrases may hold spaces, tabs and obs-text, may be empty, or be missing with its SP.
TEST(ParseResponseHeadTest, ReasonPhrase) {
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 404 Not\tFound \xe9\r\n\r\n")));
  EXPECT_EQ(Resp().reason, "Not\tFound \xe9");
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 200 \r\n\r\n")));
  EXPECT_EQ(Resp().reason, "");
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")));
  EXPECT_EQ(Resp().status, 200);
  EXPECT_EQ(Resp().reason, "");
}

// Malformed status lines are kBadStatusLine; a bad protocol is kBadVersion or 505.
TEST(ParseResponseHeadTest, BadStatusLines) {
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 20 OK\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 099 X\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 2000 X\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1  200 X\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 abc\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 O\x01K\r\n\r\n"), ParseError::kBadStatusLine));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\n"), ParseError::kBareLf));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\rX"), ParseError::kBareCr));
  EXPECT_TRUE(IsError(ParseResponse("ICY 200 OK\r\n\r\n"), ParseError::kBadVersion));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/2.0 200 OK\r\n\r\n"), ParseError::kUnsupportedVersion));
  EXPECT_TRUE(IsComplete(ParseResponse("HTTP/1.1 999 Odd\r\n\r\n")));
  EXPECT_TRUE(IsComplete(ParseResponse("HTTP/1.1 100 Continue\r\n\r\n")));
}

// Field syntax is as strict as for requests.
TEST(ParseResponseHeadTest, FieldSyntax) {
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"), ParseError::kObsFold));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n"),
                      ParseError::kSpaceBeforeColon));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n"), ParseError::kBareLf));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: b\rC: d\r\n\r\n"), ParseError::kBareCr));
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nA(: b\r\n\r\n"), ParseError::kBadHeaderName));
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: \x1b\r\n\r\n"sv), ParseError::kBadHeaderValue));
}

// 1xx (other than 101), 204 and 304 responses, and any response to HEAD, have no body.
TEST(ParseResponseHeadTest, NoBodyStatuses) {
  for (const std::string_view raw :
       {"HTTP/1.1 100 Continue\r\n\r\n"sv, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"sv,
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"sv,
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"sv,
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"sv}) {
    ASSERT_TRUE(IsComplete(ParseResponse(raw))) << raw;
    EXPECT_EQ(Resp().body, BodyKind::kNone) << raw;
  }
  ASSERT_TRUE(
      IsComplete(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", Method::kHead)));
  EXPECT_EQ(Resp().body, BodyKind::kNone);
  ASSERT_TRUE(IsComplete(
      ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kHead)));
  EXPECT_EQ(Resp().body, BodyKind::kNone);
}

// 101 and any 2xx to CONNECT (204 too) turn the connection into a tunnel; other answers do not.
TEST(ParseResponseHeadTest, Tunnels) {
  ASSERT_TRUE(IsComplete(ParseResponse(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")));
  EXPECT_EQ(Resp().body, BodyKind::kTunnel);
  EXPECT_EQ(Resp().upgrade, "websocket");
  EXPECT_TRUE(Resp().connection_upgrade);
  ASSERT_TRUE(
      IsComplete(ParseResponse("HTTP/1.1 200 Connection established\r\n\r\n", Method::kConnect)));
  EXPECT_EQ(Resp().body, BodyKind::kTunnel);
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 204 OK\r\n\r\n", Method::kConnect)));
  EXPECT_EQ(Resp().body, BodyKind::kTunnel);
  ASSERT_TRUE(IsComplete(
      ParseResponse("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 5\r\n\r\n", Method::kConnect)));
  EXPECT_EQ(Resp().body, BodyKind::kLength);
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 200 OK\r\n\r\n", Method::kGet)));
  EXPECT_EQ(Resp().body, BodyKind::kUntilClose);
}

// Transfer-Encoding ending in chunked is chunked; any other final coding reads until close.
TEST(ParseResponseHeadTest, TransferEncoding) {
  const std::pair<std::string_view, BodyKind> cases[] = {
      {"Transfer-Encoding: chunked\r\n", BodyKind::kChunked},
      {"Transfer-Encoding: gzip, CHUNKED\r\n", BodyKind::kChunked},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", BodyKind::kChunked},
      {"Transfer-Encoding: gzip\r\n", BodyKind::kUntilClose},
      {"Transfer-Encoding: chunked, gzip\r\n", BodyKind::kUntilClose},
      {"Transfer-Encoding: identity\r\n", BodyKind::kUntilClose},
      {"Transfer-Encoding: chunked;x=1\r\n", BodyKind::kUntilClose},
  };
  for (const auto& [fields, body] : cases) {
    const std::string raw = "HTTP/1.1 200 OK\r\n" + std::string(fields) + "\r\n";
    ASSERT_TRUE(IsComplete(ParseResponse(raw))) << fields;
    EXPECT_EQ(Resp().body, body) << fields;
  }
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n"),
                      ParseError::kUnknownTransferCoding));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
                      ParseError::kTransferEncodingOnHttp10));
}

// Content-Length with Transfer-Encoding is an error in responses too, either order.
TEST(ParseResponseHeadTest, ContentLengthWithTransferEncoding) {
  EXPECT_TRUE(IsError(
      ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
      ParseError::kContentLengthWithTransferEncoding));
  EXPECT_TRUE(IsError(
      ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"),
      ParseError::kContentLengthWithTransferEncoding));
}

// Repeated identical Content-Length values (fields or list) are one length; differing are not.
TEST(ParseResponseHeadTest, RepeatedContentLength) {
  ASSERT_TRUE(IsComplete(
      ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")));
  EXPECT_EQ(Resp().body, BodyKind::kLength);
  EXPECT_EQ(Resp().content_length, 5u);
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 7, 7,7\r\n\r\n")));
  EXPECT_EQ(Resp().content_length, 7u);
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
              ParseError::kDuplicateContentLength));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"),
                      ParseError::kDuplicateContentLength));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n"),
                      ParseError::kBadContentLength));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"),
                      ParseError::kBadContentLength));
  EXPECT_TRUE(IsError(ParseResponse("HTTP/1.1 304 OK\r\nContent-Length: x\r\n\r\n"),
                      ParseError::kBadContentLength));
}

// Without Content-Length or Transfer-Encoding a response body runs until the server closes.
TEST(ParseResponseHeadTest, UntilClose) {
  ASSERT_TRUE(IsComplete(ParseResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n")));
  EXPECT_EQ(Resp().body, BodyKind::kUntilClose);
  EXPECT_TRUE(Resp().KeepAlive());
}

// Every strict prefix of a response head is kIncomplete.
TEST(ParseResponseHeadTest, EveryPrefixIsIncomplete) {
  const std::string_view raw =
      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n";
  for (size_t n = 0; n < raw.size(); ++n) {
    ASSERT_EQ(ParseResponse(raw.substr(0, n)).status, ParseStatus::kIncomplete) << n;
  }
  ASSERT_TRUE(IsComplete(ParseResponse(raw)));
  EXPECT_EQ(Resp().head_bytes, raw.size());
}

// Response heads obey the same size and field-count limits.
TEST(ParseResponseHeadTest, Limits) {
  ParseLimits limits;
  limits.max_head_bytes = 40;
  limits.max_headers = 1;
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", Method::kGet, limits),
              ParseError::kTooManyHeaders));
  EXPECT_TRUE(
      IsError(ParseResponse("HTTP/1.1 200 OK\r\nA: " + std::string(40, 'x'), Method::kGet, limits),
              ParseError::kHeadTooLarge));
}

// ----------------------------------------------------------------------------------------------
// ChunkedDecoder

struct Fed {
  size_t consumed = 0;
  bool done = false;
  ParseError error = ParseError::kNone;
  uint64_t payload = 0;
};

Fed FeedWhole(std::string_view body, size_t max_line = 4096, size_t max_trailer = 16 * 1024) {
  ChunkedDecoder decoder(max_line, max_trailer);
  const ChunkedDecoder::Result r = decoder.Feed(body);
  return {r.consumed, r.done, r.error, decoder.payload_bytes()};
}

Fed FeedBytes(std::string_view body, size_t max_line = 4096, size_t max_trailer = 16 * 1024) {
  ChunkedDecoder decoder(max_line, max_trailer);
  Fed fed;
  for (size_t i = 0; i < body.size(); ++i) {
    const ChunkedDecoder::Result r = decoder.Feed(body.substr(i, 1));
    fed.consumed += r.consumed;
    fed.done = r.done;
    fed.error = r.error;
    if (r.done || r.error != ParseError::kNone) break;
  }
  fed.payload = decoder.payload_bytes();
  return fed;
}

// A simple body ends exactly after the trailer section's final CRLF.
TEST(ChunkedDecoderTest, SimpleBody) {
  const std::string_view body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  const Fed fed = FeedWhole(body);
  EXPECT_TRUE(fed.done);
  EXPECT_EQ(fed.error, ParseError::kNone);
  EXPECT_EQ(fed.consumed, body.size());
  EXPECT_EQ(fed.payload, 11u);
}

// Valid variants: hex in either case, leading zeros, extensions with BWS and quoted values,
// trailer fields.
TEST(ChunkedDecoderTest, ValidVariants) {
  for (const std::string_view body : {
           "A\r\n0123456789\r\n0\r\n\r\n"sv,
           "a\r\n0123456789\r\n000\r\n\r\n"sv,
           "000000000000000A\r\n0123456789\r\n0\r\n\r\n"sv,
           "5;name\r\nhello\r\n0;last\r\n\r\n"sv,
           "5 ; a = b ;c=\"q \\\" \t;x\" ;d\r\nhello\r\n0\r\n\r\n"sv,
           "5;a=\"\"\r\nhello\r\n0\r\n\r\n"sv,
           "0\r\nExpires: never\r\nX-Empty:\r\nX-Tab:\tv \xff\r\n\r\n"sv,
       }) {
    const Fed fed = FeedWhole(body);
    EXPECT_TRUE(fed.done) << body << " " << ParseErrorName(fed.error);
    EXPECT_EQ(fed.consumed, body.size()) << body;
  }
}

// Feeding one byte at a time, or split at any point, gives exactly what feeding it whole gives.
TEST(ChunkedDecoderTest, ByteByByteEqualsWhole) {
  const std::string_view body =
      "1a;ext=v\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nNEXT";
  const Fed whole = FeedWhole(body);
  ASSERT_TRUE(whole.done);
  EXPECT_EQ(whole.consumed, body.size() - 4);
  EXPECT_EQ(whole.payload, 42u);
  const Fed bytes = FeedBytes(body);
  EXPECT_EQ(bytes.consumed, whole.consumed);
  EXPECT_TRUE(bytes.done);
  EXPECT_EQ(bytes.payload, whole.payload);
  for (size_t split = 0; split <= body.size(); ++split) {
    ChunkedDecoder decoder;
    const ChunkedDecoder::Result a = decoder.Feed(body.substr(0, split));
    size_t consumed = a.consumed;
    if (!a.done) consumed += decoder.Feed(body.substr(split)).consumed;
    EXPECT_EQ(consumed, whole.consumed) << "split " << split;
    EXPECT_TRUE(decoder.done());
  }
}

// After the body ends, the next message's bytes are not consumed, now or on later calls.
TEST(ChunkedDecoderTest, ConsumedStopsAtEnd) {
  const std::string_view body = "3\r\nabc\r\n0\r\n\r\n";
  const std::string raw = std::string(body) + "GET / HTTP/1.1\r\n";
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result r = decoder.Feed(raw);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, body.size());
  const ChunkedDecoder::Result again = decoder.Feed("more");
  EXPECT_TRUE(again.done);
  EXPECT_EQ(again.consumed, 0u);
}

// Chunk data is skipped in bulk across calls and counted, however large the chunk.
TEST(ChunkedDecoderTest, LargeChunkAcrossCalls) {
  ChunkedDecoder decoder;
  EXPECT_EQ(decoder.Feed("100000\r\n").consumed, 8u);
  const std::string data(0x40000, 'd');
  for (int i = 0; i < 4; ++i) {
    const ChunkedDecoder::Result r = decoder.Feed(data);
    EXPECT_EQ(r.consumed, data.size());
    EXPECT_FALSE(r.done);
  }
  EXPECT_EQ(decoder.payload_bytes(), 0x100000u);
  EXPECT_TRUE(decoder.Feed("\r\n0\r\n\r\n").done);
}

// Sixteen hex digits are the most a size can have; the largest one is accepted, not wrapped.
TEST(ChunkedDecoderTest, SixteenDigitSize) {
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result r = decoder.Feed("ffffffffffffffff\r\nabc");
  EXPECT_EQ(r.error, ParseError::kNone);
  EXPECT_EQ(r.consumed, 21u);
  EXPECT_FALSE(r.done);
}

// After an error every later Feed reports it again and consumes nothing; Reset starts over.
TEST(ChunkedDecoderTest, ErrorIsStickyUntilReset) {
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result r = decoder.Feed("5\r\nhelloX");
  EXPECT_EQ(r.error, ParseError::kBadChunkTerminator);
  EXPECT_EQ(r.consumed, 8u);
  const ChunkedDecoder::Result again = decoder.Feed("\r\n0\r\n\r\n");
  EXPECT_EQ(again.error, ParseError::kBadChunkTerminator);
  EXPECT_EQ(again.consumed, 0u);
  decoder.Reset();
  EXPECT_TRUE(decoder.Feed("0\r\n\r\n").done);
  EXPECT_EQ(decoder.payload_bytes(), 0u);
}

struct BadChunked {
  std::string_view name;
  std::string_view body;
  ParseError error;
  size_t max_line = 4096;
  size_t max_trailer = 16 * 1024;
};

constexpr BadChunked kBadChunked[] = {
    {"size_17_digits", "fffffffffffffffff\r\n", ParseError::kBadChunkSize},
    {"size_17_digits_small", "00000000000000001\r\nx\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_0x_prefix", "0x5\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_negative", "-5\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_plus", "+5\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_leading_space", " 5\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_empty", "\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_non_hex", "5g\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_bare_lf", "5\nhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_bare_cr", "5\rhello\r\n0\r\n\r\n", ParseError::kBadChunkSize},
    {"size_trailing_space_no_ext", "5 \r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"data_not_followed_by_crlf", "5\r\nhelloX\r\n0\r\n\r\n", ParseError::kBadChunkTerminator},
    {"data_longer_than_size", "3\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkTerminator},
    {"data_followed_by_lf", "5\r\nhello\n0\r\n\r\n", ParseError::kBadChunkTerminator},
    {"data_followed_by_cr_only", "5\r\nhello\r0\r\n\r\n", ParseError::kBadChunkTerminator},
    {"ext_space_in_name", "5;a b\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_ctl", "5;a=\x01\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_nul", "5;a\0\r\nhello\r\n0\r\n\r\n"sv, ParseError::kBadChunkExtension},
    {"ext_empty_name", "5;\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_value_without_name", "5;=x\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_empty_value", "5;a=\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_unterminated_quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_text_after_quote", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_bare_lf", "5;a\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_trailing_space", "5;a \r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_separator_char", "5;a=b/c\r\nhello\r\n0\r\n\r\n", ParseError::kBadChunkExtension},
    {"ext_too_long", "5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n",
     ParseError::kBadChunkExtension, 32},
    {"trailer_no_colon", "0\r\nBad Trailer\r\n\r\n", ParseError::kBadTrailer},
    {"trailer_space_before_colon", "0\r\nA : b\r\n\r\n", ParseError::kBadTrailer},
    {"trailer_obs_fold", "0\r\nA: b\r\n c\r\n\r\n", ParseError::kBadTrailer},
    {"trailer_empty_name", "0\r\n: b\r\n\r\n", ParseError::kBadTrailer},
    {"trailer_bare_lf", "0\r\nA: b\n\r\n", ParseError::kBadTrailer},
    {"trailer_bare_cr", "0\r\nA: b\rc\r\n\r\n", ParseError::kBadTrailer},
    {"trailer_ctl_in_value", "0\r\nA: \x01\r\n\r\n", ParseError::kBadTrailer},
    {"final_bare_lf", "0\r\n\n", ParseError::kBadTrailer},
    {"final_cr_then_junk", "0\r\n\rX", ParseError::kBadTrailer},
    {"trailer_too_large", "0\r\nX-Big: 0123456789012345678901234567890123456789\r\n\r\n",
     ParseError::kTrailerTooLarge, 4096, 32},
};

class BadChunkedTest : public ::testing::TestWithParam<BadChunked> {};

// Malformed chunked framing is rejected with the expected error, whole or byte by byte, at the
// same byte.
TEST_P(BadChunkedTest, Rejected) {
  const BadChunked& c = GetParam();
  const Fed whole = FeedWhole(c.body, c.max_line, c.max_trailer);
  EXPECT_EQ(whole.error, c.error) << ParseErrorName(whole.error);
  EXPECT_FALSE(whole.done);
  EXPECT_LT(whole.consumed, c.body.size());
  const Fed bytes = FeedBytes(c.body, c.max_line, c.max_trailer);
  EXPECT_EQ(bytes.error, c.error);
  EXPECT_EQ(bytes.consumed, whole.consumed);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadChunkedTest, ::testing::ValuesIn(kBadChunked),
                         [](const ::testing::TestParamInfo<BadChunked>& param_info) {
                           return std::string(param_info.param.name);
                         });

// A smuggling attempt end to end: a valid chunked request followed by a second request whose
// bytes the decoder leaves for the next head parse.
TEST(ChunkedDecoderTest, HeadThenBodyThenNextRequest) {
  const std::string raw =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_TRUE(IsComplete(ParseRequest(raw)));
  ASSERT_EQ(Req().body, BodyKind::kChunked);
  const std::string_view rest = std::string_view(raw).substr(Req().head_bytes);
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result r = decoder.Feed(rest);
  ASSERT_TRUE(r.done);
  ASSERT_TRUE(IsComplete(ParseRequest(rest.substr(r.consumed))));
  EXPECT_EQ(Req().target, "/next");
}

// ----------------------------------------------------------------------------------------------
// Labels and statuses

// Every error has a distinct, stable snake_case label; 431/505 go where they belong.
TEST(ParseErrorTest, NamesAndStatuses) {
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(ParseError::kUriTooLong); ++e) {
    const std::string_view name = ParseErrorName(static_cast<ParseError>(e));
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  EXPECT_EQ(ParseErrorName(ParseError::kBadChunkSize), "bad_chunk_size");
  EXPECT_EQ(ParseErrorName(ParseError::kHeadTooLarge), "head_too_large");
  EXPECT_EQ(ParseErrorName(ParseError::kContentLengthWithTransferEncoding),
            "content_length_with_transfer_encoding");
  EXPECT_EQ(ParseErrorStatus(ParseError::kBadChunkSize), 400);
  EXPECT_EQ(ParseErrorStatus(ParseError::kMissingHost), 400);
  EXPECT_EQ(ParseErrorStatus(ParseError::kTooManyHeaders), 431);
  EXPECT_EQ(ParseErrorStatus(ParseError::kUnsupportedVersion), 505);
}

// Idempotent methods are exactly those of RFC 9110 9.2.2.
TEST(MethodTest, IsIdempotent) {
  EXPECT_TRUE(IsIdempotent(Method::kGet));
  EXPECT_TRUE(IsIdempotent(Method::kHead));
  EXPECT_TRUE(IsIdempotent(Method::kPut));
  EXPECT_TRUE(IsIdempotent(Method::kDelete));
  EXPECT_TRUE(IsIdempotent(Method::kOptions));
  EXPECT_TRUE(IsIdempotent(Method::kTrace));
  EXPECT_FALSE(IsIdempotent(Method::kPost));
  EXPECT_FALSE(IsIdempotent(Method::kPatch));
  EXPECT_FALSE(IsIdempotent(Method::kConnect));
  EXPECT_FALSE(IsIdempotent(Method::kOther));
}

}  // namespace
}  // namespace drover::http
