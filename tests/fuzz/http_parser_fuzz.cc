// Fuzz target for sidecar/http/parser: feeds each input to the request parser, the response
// parser and the chunked decoder, and traps when an invariant the proxy relies on breaks.
// Built with libFuzzer under clang, or with standalone_driver.cc elsewhere.
//
//   http_parser_fuzz -max_total_time=60 corpus_dir        # libFuzzer
//   http_parser_fuzz --seconds=10 --seed=1 corpus_dir     # standalone driver
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "sidecar/http/parser.h"

namespace {

using drover::http::BodyKind;
using drover::http::ChunkedDecoder;
using drover::http::MessageHead;
using drover::http::Method;
using drover::http::ParseError;
using drover::http::ParseLimits;
using drover::http::ParseResult;
using drover::http::ParseStatus;
using drover::http::RequestHead;
using drover::http::ResponseHead;

// Traps rather than aborts: both libFuzzer and the standalone driver report the input.
#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// True when `part` lies within the first `limit` bytes of `whole` (empty views are fine).
bool Inside(std::string_view part, std::string_view whole, size_t limit) {
  if (part.empty()) return true;
  const auto base = reinterpret_cast<uintptr_t>(whole.data());
  const auto begin = reinterpret_cast<uintptr_t>(part.data());
  return begin >= base && begin + part.size() <= base + limit;
}

// Heads are big (256 fields); keep them out of the stack and off the heap.
RequestHead& Request(int i) {
  static RequestHead heads[3];
  return heads[i];
}
ResponseHead& Response(int i) {
  static ResponseHead heads[3];
  return heads[i];
}

void CheckResult(const ParseResult& r) {
  FUZZ_CHECK((r.status == ParseStatus::kError) == (r.error != ParseError::kNone));
  if (r.status == ParseStatus::kError) {
    FUZZ_CHECK(drover::http::ParseErrorName(r.error) != "unknown");
    const int status = drover::http::ParseErrorStatus(r.error);
    FUZZ_CHECK(status == 400 || status == 414 || status == 431 || status == 505);
  }
}

// What holds for any complete head, request or response.
void CheckMessage(const MessageHead& head, std::string_view data, const ParseLimits& limits) {
  FUZZ_CHECK(head.head_bytes > 0 && head.head_bytes <= data.size());
  FUZZ_CHECK(head.head_bytes <= limits.max_head_bytes);
  FUZZ_CHECK(head.header_count <= limits.max_headers);
  FUZZ_CHECK(head.header_count <= drover::http::kMaxHeaderFields);
  FUZZ_CHECK(head.version_minor == 0 || head.version_minor == 1);
  // The head ends with its empty line.
  FUZZ_CHECK(data.substr(0, head.head_bytes).ends_with("\r\n\r\n"));
  for (size_t i = 0; i < head.header_count; ++i) {
    const auto& field = head.headers[i];
    FUZZ_CHECK(!field.name.empty());
    FUZZ_CHECK(Inside(field.name, data, head.head_bytes));
    FUZZ_CHECK(Inside(field.value, data, head.head_bytes));
    FUZZ_CHECK(field.name.find_first_of(" \t\r\n:") == std::string_view::npos);
    FUZZ_CHECK(field.value.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(field.value.empty() || (field.value.front() != ' ' && field.value.back() != ' '));
  }
  FUZZ_CHECK(Inside(head.upgrade, data, head.head_bytes));
  if (head.body == BodyKind::kLength) {
    FUZZ_CHECK(head.content_length <= uint64_t{std::numeric_limits<int64_t>::max()});
  }
  FUZZ_CHECK(head.ConnectionNames("close") == head.connection_close);
  FUZZ_CHECK(head.ConnectionNames("KEEP-ALIVE") == head.connection_keep_alive);
  FUZZ_CHECK(head.ConnectionNames("Upgrade") == head.connection_upgrade);
  (void)head.ConnectionNames("x-hop");
  if (head.connection_close) FUZZ_CHECK(!head.KeepAlive());
}

bool SameHead(const MessageHead& a, const MessageHead& b) {
  if (a.head_bytes != b.head_bytes || a.header_count != b.header_count || a.body != b.body ||
      a.content_length != b.content_length || a.version_minor != b.version_minor ||
      a.KeepAlive() != b.KeepAlive() || a.upgrade != b.upgrade) {
    return false;
  }
  for (size_t i = 0; i < a.header_count; ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

// The body a complete head announces must validate the same way it would on its own.
void CheckBodyAfterHead(const MessageHead& head, std::string_view data) {
  if (head.body != BodyKind::kChunked) return;
  ChunkedDecoder decoder;
  const ChunkedDecoder::Result r = decoder.Feed(data.substr(head.head_bytes));
  FUZZ_CHECK(r.consumed <= data.size() - head.head_bytes);
}

// A parse that finished (complete or error) depends only on the bytes it looked at, so a
// prefix of the input never finishes differently from the whole input, and appending bytes
// changes nothing.
template <typename Parse>
void CheckPrefixStable(std::string_view data, size_t split, const ParseResult& whole,
                       size_t whole_head_bytes, Parse parse) {
  size_t prefix_head_bytes = 0;
  const ParseResult prefix = parse(data.substr(0, split), prefix_head_bytes);
  CheckResult(prefix);
  if (prefix.status == ParseStatus::kComplete) {
    FUZZ_CHECK(whole.status == ParseStatus::kComplete && prefix_head_bytes == whole_head_bytes);
  } else if (prefix.status == ParseStatus::kError) {
    FUZZ_CHECK(whole.status == ParseStatus::kError && whole.error == prefix.error);
  }
  if (whole.status == ParseStatus::kComplete && split < whole_head_bytes) {
    FUZZ_CHECK(prefix.status == ParseStatus::kIncomplete);
  }
}

void FuzzRequest(std::string_view data, size_t split, const ParseLimits& limits) {
  RequestHead& head = Request(0);
  const ParseResult r = drover::http::ParseRequestHead(data, limits, head);
  CheckResult(r);
  const auto parse = [&limits](std::string_view d, size_t& head_bytes) {
    RequestHead& h = Request(1);
    const ParseResult pr = drover::http::ParseRequestHead(d, limits, h);
    head_bytes = h.head_bytes;
    return pr;
  };
  CheckPrefixStable(data, split, r, head.head_bytes, parse);
  // The head arriving in two pieces: the scanner never skips the parse that completes it.
  drover::http::HeadScanner scan;
  const bool parse_prefix = scan.ShouldParse(data.substr(0, split), limits.max_head_bytes);
  const bool parse_whole = scan.ShouldParse(data, limits.max_head_bytes);
  if (r.status == ParseStatus::kComplete) {
    FUZZ_CHECK(parse_whole || (parse_prefix && split >= head.head_bytes));
  }
  if (data.size() > limits.max_head_bytes) FUZZ_CHECK(parse_whole);
  if (r.status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(data.size() <= limits.max_head_bytes);
    return;
  }
  if (r.status != ParseStatus::kComplete) return;

  CheckMessage(head, data, limits);
  FUZZ_CHECK(!head.method_text.empty() && Inside(head.method_text, data, head.head_bytes));
  FUZZ_CHECK(!head.target.empty() && Inside(head.target, data, head.head_bytes));
  FUZZ_CHECK(Inside(head.host, data, head.head_bytes));
  FUZZ_CHECK(head.body == BodyKind::kNone || head.body == BodyKind::kLength ||
             head.body == BodyKind::kChunked);
  for (char c : head.target) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  if (head.method != Method::kOther) FUZZ_CHECK(head.method_text.size() >= 3);
  (void)drover::http::IsIdempotent(head.method);

  // Exactly the head, and the head followed by anything, parse the same.
  RequestHead& again = Request(2);
  FUZZ_CHECK(
      drover::http::ParseRequestHead(data.substr(0, head.head_bytes), limits, again).status ==
      ParseStatus::kComplete);
  FUZZ_CHECK(SameHead(head, again) && again.target == head.target && again.method == head.method &&
             again.host == head.host && again.expect_continue == head.expect_continue);
  CheckBodyAfterHead(head, data);
}

void FuzzResponse(std::string_view data, size_t split, const ParseLimits& limits, Method method) {
  ResponseHead& head = Response(0);
  const ParseResult r = drover::http::ParseResponseHead(data, limits, method, head);
  CheckResult(r);
  const auto parse = [&limits, method](std::string_view d, size_t& head_bytes) {
    ResponseHead& h = Response(1);
    const ParseResult pr = drover::http::ParseResponseHead(d, limits, method, h);
    head_bytes = h.head_bytes;
    return pr;
  };
  CheckPrefixStable(data, split, r, head.head_bytes, parse);
  if (r.status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(data.size() <= limits.max_head_bytes);
    return;
  }
  if (r.status != ParseStatus::kComplete) return;

  CheckMessage(head, data, limits);
  FUZZ_CHECK(head.status >= 100 && head.status <= 999);
  FUZZ_CHECK(Inside(head.reason, data, head.head_bytes));
  // RFC 9112 6.3 framing: tunnels first, then the statuses and method that have no body.
  const bool tunnel = head.status == 101 || (method == Method::kConnect && head.status / 100 == 2);
  const bool no_body =
      method == Method::kHead || head.status < 200 || head.status == 204 || head.status == 304;
  FUZZ_CHECK((head.body == BodyKind::kTunnel) == tunnel);
  if (!tunnel) FUZZ_CHECK((head.body == BodyKind::kNone) == no_body);

  ResponseHead& again = Response(2);
  FUZZ_CHECK(drover::http::ParseResponseHead(data.substr(0, head.head_bytes), limits, method, again)
                 .status == ParseStatus::kComplete);
  FUZZ_CHECK(SameHead(head, again) && again.status == head.status && again.reason == head.reason);
  CheckBodyAfterHead(head, data);
}

void CheckChunkResult(const ChunkedDecoder::Result& r, size_t size) {
  FUZZ_CHECK(r.consumed <= size);
  FUZZ_CHECK(!(r.done && r.error != ParseError::kNone));
  // Short of the end only when the body ended or a byte was rejected.
  if (!r.done && r.error == ParseError::kNone) FUZZ_CHECK(r.consumed == size);
  if (r.error != ParseError::kNone) FUZZ_CHECK(r.consumed < size);
}

void FuzzChunked(std::string_view data, size_t split, size_t max_line, size_t max_trailer) {
  ChunkedDecoder whole_decoder(max_line, max_trailer);
  const ChunkedDecoder::Result whole = whole_decoder.Feed(data);
  CheckChunkResult(whole, data.size());
  FUZZ_CHECK(whole.done == whole_decoder.done());
  const uint64_t whole_payload = whole_decoder.payload_bytes();
  FUZZ_CHECK(whole_payload <= whole.consumed);
  if (whole.done) FUZZ_CHECK(whole.consumed >= 5);  // "0\r\n\r\n" at least
  // A finished decoder stays finished.
  const ChunkedDecoder::Result after = whole_decoder.Feed("0\r\n\r\n");
  if (whole.done) {
    FUZZ_CHECK(after.done && after.consumed == 0 && whole_decoder.payload_bytes() == whole_payload);
  }
  if (whole.error != ParseError::kNone) {
    FUZZ_CHECK(after.error == whole.error && after.consumed == 0);
  }

  // Split in two.
  ChunkedDecoder split_decoder(max_line, max_trailer);
  ChunkedDecoder::Result first = split_decoder.Feed(data.substr(0, split));
  CheckChunkResult(first, split);
  size_t consumed = first.consumed;
  ChunkedDecoder::Result last = first;
  if (!first.done && first.error == ParseError::kNone) {
    last = split_decoder.Feed(data.substr(split));
    CheckChunkResult(last, data.size() - split);
    consumed += last.consumed;
  }
  FUZZ_CHECK(consumed == whole.consumed && last.done == whole.done && last.error == whole.error);
  FUZZ_CHECK(split_decoder.payload_bytes() == whole_payload);

  // Byte by byte, for inputs small enough to keep the fuzzer fast.
  if (data.size() > 2048) return;
  ChunkedDecoder byte_decoder(max_line, max_trailer);
  consumed = 0;
  ChunkedDecoder::Result r;
  for (size_t i = 0; i < data.size(); ++i) {
    r = byte_decoder.Feed(data.substr(i, 1));
    consumed += r.consumed;
    if (r.done || r.error != ParseError::kNone) break;
  }
  FUZZ_CHECK(consumed == whole.consumed && r.done == whole.done && r.error == whole.error);
  FUZZ_CHECK(byte_decoder.payload_bytes() == whole_payload);

  // Reset makes a used decoder as good as new.
  byte_decoder.Reset();
  const ChunkedDecoder::Result reset = byte_decoder.Feed(data);
  FUZZ_CHECK(reset.consumed == whole.consumed && reset.done == whole.done &&
             reset.error == whole.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  // Derive the split point and the response's request method from the data, so one input
  // explores them deterministically.
  const size_t split = size == 0 ? 0 : (bytes[size - 1] * 131u + size / 2) % (size + 1);
  constexpr Method kMethods[] = {Method::kGet,     Method::kHead,    Method::kPost,
                                 Method::kConnect, Method::kOptions, Method::kOther};
  const Method method = size == 0 ? Method::kGet : kMethods[bytes[0] % std::size(kMethods)];

  const ParseLimits defaults;
  const ParseLimits tight{.max_head_bytes = 96, .max_headers = 3};
  FuzzRequest(data, split, defaults);
  FuzzRequest(data, split, tight);
  FuzzResponse(data, split, defaults, method);
  FuzzResponse(data, split, tight, method);
  FuzzChunked(data, split, 4096, 16 * 1024);
  FuzzChunked(data, split, 12, 24);

  // Appending bytes never changes a finished head: the parser looks at what it needs, no more.
  if (size > 0 && size <= 4096) {
    RequestHead& head = Request(0);
    const ParseResult r = drover::http::ParseRequestHead(data, defaults, head);
    if (r.status != ParseStatus::kIncomplete) {
      std::string longer(data);
      longer += "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
      const size_t head_bytes = head.head_bytes;
      RequestHead& other = Request(1);
      const ParseResult r2 = drover::http::ParseRequestHead(longer, defaults, other);
      FUZZ_CHECK(r2.status == r.status && r2.error == r.error && other.head_bytes == head_bytes);
    }
  }
  return 0;
}
