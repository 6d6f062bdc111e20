#include "sidecar/http/rewrite.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// `raw` must outlive the head: the head's fields are views into it.
RequestHead ParseOk(const std::string& raw) {
  RequestHead head;
  ParseResult r = ParseRequestHead(raw, ParseLimits{}, head);
  EXPECT_EQ(r.status, ParseStatus::kComplete) << ParseErrorName(r.error);
  return head;
}

// Hop-by-hop fields, and fields the Connection header names, never reach the backend;
// forwarding fields are appended to what earlier proxies wrote.
TEST(RewriteTest, RequestDropsHopByHopAndAddsForwarding) {
  std::string raw =
      "GET /p?q=1 HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, X-Secret\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: x\r\n"
      "Upgrade: websocket\r\nX-Secret: 1\r\nX-Forwarded-For: 10.0.0.1\r\n"
      "X-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1\r\n"
      "Accept: */*\r\n\r\n";
  RequestHead head = ParseOk(raw);
  std::string out;
  AppendRequestHead(head, {.client_ip = "192.0.2.9", .proto = "http"}, out);
  EXPECT_THAT(out, HasSubstr("GET /p?q=1 HTTP/1.1\r\nHost: app\r\n"));
  EXPECT_THAT(out, HasSubstr("Accept: */*\r\n"));
  for (const char* gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE:", "Trailer",
                           "Upgrade", "X-Secret", "https"}) {
    EXPECT_THAT(out, Not(HasSubstr(gone))) << gone;
  }
  EXPECT_THAT(out, HasSubstr("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 192.0.2.9\r\n"));
  EXPECT_THAT(out, HasSubstr("X-Forwarded-Proto: http\r\n"));
  EXPECT_THAT(out, HasSubstr("Forwarded: for=10.0.0.1, for=192.0.2.9;proto=http\r\n"));
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

// A WebSocket upgrade keeps Upgrade and Connection: upgrade; a chunked body stays chunked;
// an IPv6 client is quoted in Forwarded (RFC 7239).
TEST(RewriteTest, UpgradeChunkedAndIpv6) {
  const std::string raw =
      "POST /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  RequestHead head = ParseOk(raw);
  std::string out;
  AppendRequestHead(head, {.client_ip = "::1", .proto = "http"}, out);
  EXPECT_THAT(out, HasSubstr("Connection: upgrade\r\nUpgrade: websocket\r\n"));
  EXPECT_THAT(out, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(out, HasSubstr("Forwarded: for=\"[::1]\";proto=http\r\n"));
}

// HTTP/1.0 requests stay 1.0 and ask the backend to keep the connection.
TEST(RewriteTest, Http10KeepsVersionAndAsksKeepAlive) {
  const std::string raw = "GET / HTTP/1.0\r\n\r\n";
  RequestHead head = ParseOk(raw);
  std::string out;
  AppendRequestHead(head, {.client_ip = "127.0.0.1", .proto = "http"}, out);
  EXPECT_THAT(out, HasSubstr("GET / HTTP/1.0\r\n"));
  EXPECT_THAT(out, HasSubstr("Connection: keep-alive\r\n"));
}

// Responses lose hop-by-hop fields and say "close" when the client connection will close.
TEST(RewriteTest, ResponseHeadKeepAliveAndClose) {
  ResponseHead head;
  std::string raw =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
      "Content-Length: 2\r\nX-App: 1\r\n\r\nok";
  ASSERT_EQ(ParseResponseHead(raw, ParseLimits{}, Method::kGet, head).status,
            ParseStatus::kComplete);
  std::string keep;
  AppendResponseHead(head, true, 1, keep);
  EXPECT_EQ(keep, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App: 1\r\n\r\n");
  std::string close;
  AppendResponseHead(head, false, 1, close);
  EXPECT_THAT(close, HasSubstr("Connection: close\r\n"));
  std::string http10;
  AppendResponseHead(head, true, 0, http10);
  EXPECT_THAT(http10, HasSubstr("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(http10, HasSubstr("Connection: keep-alive\r\n"));
}

// Error responses are complete, short, plain text, and frame themselves.
TEST(RewriteTest, ErrorResponse) {
  std::string out;
  AppendErrorResponse(503, "no backend is up", false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 17\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            "no backend is up\n");
}

// A route goes in front of each Set-Cookie value of the named cookie, attributes kept; other
// cookies and deletions (empty value, Max-Age <= 0, Expires in the past) are left alone.
TEST(RewriteTest, PrefixSetCookies) {
  const int64_t now = 1790000000;  // 2026-09-21
  std::string out = "interim\r\n\r\nHTTP/1.1 200 OK\r\n";
  const size_t head_start = 11;
  out +=
      "Set-Cookie: theme=dark; Path=/\r\n"
      "Set-Cookie: sess=abc; Path=/app; Domain=example.com; Expires=Wed, 21 Oct 2099 07:28:00 GMT; "
      "Max-Age=3600; Secure; HttpOnly; SameSite=Strict\r\n"
      "set-cookie: sess=\"quoted\"\r\n"
      "Set-Cookie: sess=; Path=/\r\n"
      "Set-Cookie: sess=gone; Max-Age=0\r\n"
      "Set-Cookie: sess=old; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n"
      "Set-Cookie: sess=dashed; Expires=Thu, 01-Jan-1970 00:00:00 GMT\r\n"
      "Set-Cookie: sess=kept; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60\r\n"
      "Set-Cookie: session=other\r\n"
      "X-Sess: sess=abc\r\n\r\n";
  EXPECT_EQ(PrefixSetCookies(out, head_start, "sess", "R~", now), 3);
  EXPECT_EQ(out,
            "interim\r\n\r\nHTTP/1.1 200 OK\r\n"
            "Set-Cookie: theme=dark; Path=/\r\n"
            "Set-Cookie: sess=R~abc; Path=/app; Domain=example.com; Expires=Wed, 21 Oct 2099 "
            "07:28:00 GMT; Max-Age=3600; Secure; HttpOnly; SameSite=Strict\r\n"
            "set-cookie: sess=\"R~quoted\"\r\n"
            "Set-Cookie: sess=; Path=/\r\n"
            "Set-Cookie: sess=gone; Max-Age=0\r\n"
            "Set-Cookie: sess=old; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n"
            "Set-Cookie: sess=dashed; Expires=Thu, 01-Jan-1970 00:00:00 GMT\r\n"
            "Set-Cookie: sess=R~kept; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60\r\n"
            "Set-Cookie: session=other\r\n"
            "X-Sess: sess=abc\r\n\r\n");
}

// A body rewritten whole is framed by Content-Length alone.
TEST(RewriteTest, SetContentLength) {
  std::string out =
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nContent-Type: text/plain\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  SetContentLength(out, 0, 42);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n");
}

}  // namespace
}  // namespace drover::http
