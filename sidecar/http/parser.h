// Strict, incremental-friendly HTTP/1.1 message-head parser and chunked-body validator.
//
// The proxy parses each request head into a per-thread RequestHead, rewrites it straight into
// the upstream buffer, and keeps only the framing facts. Header views point into the caller's
// buffer, so nothing is copied and nothing is allocated.
//
//   drover::http::RequestHead head;
//   drover::http::ParseResult r = drover::http::ParseRequestHead(buffer, limits, head);
//   if (r.status == drover::http::ParseStatus::kIncomplete) { /* read more */ }
//   if (r.status == drover::http::ParseStatus::kError) {
//     Reply(drover::http::ParseErrorStatus(r.error), drover::http::ParseErrorName(r.error));
//   }
//
// Strictness is the point (request smuggling): anything two implementations could read two
// ways is an error, never a guess. Requests: CRLF line endings only (bare CR or bare LF is an
// error), no obs-fold, no whitespace before a colon, token-only names, field values of
// VCHAR/obs-text/SP/HTAB only, exactly one Host for HTTP/1.1, one Content-Length of digits
// only (a repeated Content-Length is an error even when equal), Transfer-Encoding exactly
// "chunked" (any other coding, a repeated "chunked", or Transfer-Encoding on HTTP/1.0 is an
// error), never Content-Length together with Transfer-Encoding.
#ifndef DROVER_SIDECAR_HTTP_PARSER_H_
#define DROVER_SIDECAR_HTTP_PARSER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace drover::http {

// Hard cap on the number of fields a head can carry; ParseLimits::max_headers must not exceed
// it.
inline constexpr size_t kMaxHeaderFields = 256;

struct ParseLimits {
  size_t max_head_bytes = 16 * 1024;  // request line + fields + final CRLF; over it: 431
  size_t max_headers = 100;           // over it: 431
};

enum class ParseStatus : uint8_t { kComplete, kIncomplete, kError };

// Why a message was rejected. ParseErrorName() gives a stable snake_case label for metrics
// and error bodies; ParseErrorStatus() the HTTP status a request error answers with.
enum class ParseError : uint8_t {
  kNone,
  kBadRequestLine,
  kBadMethod,
  kBadTarget,
  kBadVersion,          // not HTTP/1.0 or HTTP/1.1 syntax
  kUnsupportedVersion,  // well-formed but not 1.x (HTTP/2.0): 505
  kBadStatusLine,
  kBadHeaderName,
  kBadHeaderValue,
  kSpaceBeforeColon,
  kObsFold,
  kBareCr,
  kBareLf,
  kHeadTooLarge,    // 431
  kTooManyHeaders,  // 431
  kMissingHost,
  kDuplicateHost,
  kHostMismatch,  // an absolute-form target whose authority is not the Host field (RFC 9112 3.2.2)
  kBadContentLength,
  kDuplicateContentLength,
  kContentLengthWithTransferEncoding,
  kUnknownTransferCoding,
  kTransferEncodingOnHttp10,
  kBadChunkSize,
  kBadChunkExtension,
  kBadChunkTerminator,
  kBadTrailer,
  kTrailerTooLarge,
  kUriTooLong,  // the request line alone is over the head limit: 414
};

std::string_view ParseErrorName(ParseError error);
// 400 for most errors, 431 for kHeadTooLarge/kTooManyHeaders, 414 for kUriTooLong, 505 for
// kUnsupportedVersion.
int ParseErrorStatus(ParseError error);

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  ParseError error = ParseError::kNone;
};

enum class Method : uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
  kOther,  // any other syntactically valid token
};

// RFC 9110 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
bool IsIdempotent(Method method);

// How the body after a head is delimited.
enum class BodyKind : uint8_t {
  kNone,        // no body (no framing headers on a request; HEAD/1xx/204/304 responses)
  kLength,      // content_length bytes
  kChunked,     // chunked coding; validate with ChunkedDecoder
  kUntilClose,  // responses only: read until the server closes
  kTunnel,      // responses only: 2xx to CONNECT, or 101; bytes flow both ways after the head
};

struct Header {
  std::string_view name;   // as sent (case preserved)
  std::string_view value;  // leading and trailing SP/HTAB removed
};

// Fields common to requests and responses.
struct MessageHead {
  int version_minor = 1;  // HTTP/1.<version_minor>, 0 or 1
  size_t head_bytes = 0;  // bytes of the head including the final empty line
  size_t header_count = 0;
  std::array<Header, kMaxHeaderFields> headers;
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // valid when body == kLength
  // Connection header tokens (RFC 9110 7.6.1), case-insensitive, over all Connection fields.
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  std::string_view upgrade;  // value of the Upgrade field, empty when absent
  // Where the Connection fields are, so ConnectionNames() looks only at those.
  uint16_t connection_field_count = 0;
  uint16_t first_connection_field = 0;

  // True when the peer may keep the connection open after this message: HTTP/1.1 without
  // "close", or HTTP/1.0 with "keep-alive".
  bool KeepAlive() const;
  // True when `name` is listed in a Connection field (so it is hop-by-hop for this message).
  bool ConnectionNames(std::string_view name) const;
};

struct RequestHead : MessageHead {
  Method method = Method::kGet;
  std::string_view method_text;
  std::string_view target;
  std::string_view host;         // value of the single Host field, empty for HTTP/1.0 without Host
  bool expect_continue = false;  // "Expect: 100-continue" (case-insensitive)
};

struct ResponseHead : MessageHead {
  int status = 0;
  std::string_view reason;
};

// Parses the request head at the start of `data`. kIncomplete when the head has not ended yet
// (and is still within limits). On kComplete, `head.head_bytes` bytes are the head; the body
// (per head.body) follows. Errors are found as early as the bytes allow: a bare LF or an
// invalid request line is reported before the head ends. Empty lines before the request line
// are skipped (RFC 9112 2.2) and counted in head_bytes. Each call parses from the start of
// `data`: no state is kept between calls.
ParseResult ParseRequestHead(std::string_view data, const ParseLimits& limits, RequestHead& head);

// Why a request head that is over the limit and still incomplete is refused: kUriTooLong when its
// request line has not ended yet but its method has (the target is what is long: RFC 9110
// 15.5.15), else kHeadTooLarge.
ParseError RequestHeadTooLarge(std::string_view data);

// Decides when a request head that arrives in pieces is worth parsing again. ParseRequestHead
// starts over from the first byte on each call, so a head sent one byte at a time would be
// parsed once per byte (quadratic). The scanner remembers how far it has looked and says "parse"
// only for the first bytes of a head (a wrong protocol is refused at once), when a line has
// ended since the last parse (that line may complete the head or be invalid), or once the
// limit is passed: at most a parse per line, and the parser refuses more than max_headers lines.
//
//   HeadScanner scan;                                  // one per connection
//   if (scan.ShouldParse(buffer, limits.max_head_bytes)) r = ParseRequestHead(buffer, ...);
//   scan.Reset();                                      // the head was consumed
class HeadScanner {
 public:
  // `data` is what has arrived of the head so far: each call's bytes start with the previous
  // call's.
  bool ShouldParse(std::string_view data, size_t max_head_bytes);
  void Reset() { scanned_ = 0; }

 private:
  size_t scanned_ = 0;
};

// Parses a response head. `request_method` decides framing (HEAD, CONNECT). 1xx heads other
// than 101 parse with body == kNone: the caller relays them and parses the next head.
// Responses are checked as strictly as requests except that repeated Content-Length fields with
// one identical value are accepted (RFC 9112 6.3), and any Transfer-Encoding whose final coding
// is not chunked means kUntilClose. Content-Length with Transfer-Encoding, and Transfer-Encoding
// on an HTTP/1.0 response (RFC 9112 6.1: faulty framing), are errors.
ParseResult ParseResponseHead(std::string_view data, const ParseLimits& limits,
                              Method request_method, ResponseHead& head);

// Validates a chunked body as it streams past, without copying or decoding it: the proxy
// forwards exactly the bytes Feed() consumed. Stops at the end of the body (after the trailer
// section's final CRLF) so what follows is the next pipelined message.
//
//   ChunkedDecoder chunked;
//   ChunkedDecoder::Result r = chunked.Feed(bytes);
//   Forward(bytes.substr(0, r.consumed));
//   if (r.error != ParseError::kNone) { /* 400 or abort */ }
//   if (r.done) { /* body ended */ }
class ChunkedDecoder {
 public:
  struct Result {
    size_t consumed = 0;
    bool done = false;
    ParseError error = ParseError::kNone;
  };

  // Chunk-size lines (with extensions) and the trailer section are bounded by these.
  explicit ChunkedDecoder(size_t max_line_bytes = 4096, size_t max_trailer_bytes = 16 * 1024);

  Result Feed(std::string_view data);
  void Reset();
  bool done() const { return state_ == State::kDone; }
  // Payload bytes that come next, before any framing byte: what a proxy that removes the
  // chunked coding (for an HTTP/1.0 client) copies out instead of forwarding.
  uint64_t data_ahead() const { return state_ == State::kData ? chunk_remaining_ : 0; }
  uint64_t payload_bytes() const { return payload_bytes_; }

 private:
  // One state per grammar position (RFC 9112 7.1): chunk-size, chunk-ext with BWS, chunk data
  // and its CRLF, then the trailer section. Only kData consumes more than one byte per step.
  enum class State : uint8_t {
    kSizeStart,        // first HEXDIG of chunk-size
    kSize,             // more HEXDIG, or what follows chunk-size
    kExtBws,           // BWS after chunk-size or an ext value: ";" next
    kExtNameStart,     // after ";": BWS, then the first tchar of chunk-ext-name
    kExtName,          // in chunk-ext-name
    kExtAfterName,     // BWS after chunk-ext-name: "=" or ";" next
    kExtValueStart,    // after "=": BWS, then a token or a quoted-string
    kExtToken,         // in a token chunk-ext-val
    kExtQuoted,        // in a quoted-string chunk-ext-val
    kExtQuotedEscape,  // after "\" in a quoted-string
    kExtAfterQuoted,   // after the closing DQUOTE
    kSizeLf,           // LF ending the chunk-size line
    kData,
    kDataCr,
    kDataLf,
    kTrailerLineStart,  // a trailer field, or the CR of the final empty line
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
  };

  // Advances the state machine by one byte outside chunk data; kNone when the byte is valid.
  ParseError Step(unsigned char c);

  size_t max_line_bytes_;
  size_t max_trailer_bytes_;
  State state_ = State::kSizeStart;
  ParseError error_ = ParseError::kNone;
  uint64_t chunk_remaining_ = 0;
  uint64_t payload_bytes_ = 0;
  size_t line_bytes_ = 0;
  size_t size_digits_ = 0;
  size_t trailer_bytes_ = 0;
};

}  // namespace drover::http

#endif  // DROVER_SIDECAR_HTTP_PARSER_H_
