// Session: sticky keys the app issues (--sticky=app-cookie:NAME, --sticky=socketio). A request's
// key may carry the route of the slot that issued it ("ROUTE~value"): the prefix comes off
// before the app sees the request. A response served here that issues a key (a Set-Cookie of
// the cookie, an Engine.IO handshake's sid) gets this member's route of the slot that answered.

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "sidecar/http/rewrite.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"
#include "sidecar/proxy/session_internal.h"
#include "sidecar/sticky/engineio.h"
#include "sidecar/sticky/route_prefix.h"

namespace drover::proxy {

namespace {

// Handshake bodies are a packet of ~100 bytes; anything larger is streamed untouched.
constexpr uint64_t kMaxOpenPacketBytes = 8192;

// The payload of a chunked body that lies whole at the front of `bytes`, and the bytes it
// takes; nullopt while incomplete or when malformed.
std::optional<std::string> WholeChunkedBody(std::string_view bytes, size_t& consumed) {
  http::ChunkedDecoder decoder;
  std::string payload;
  size_t used = 0;
  while (used < bytes.size() && !decoder.done()) {
    const uint64_t ahead = decoder.data_ahead();
    const size_t n =
        ahead > 0 ? static_cast<size_t>(std::min<uint64_t>(ahead, bytes.size() - used)) : 1;
    http::ChunkedDecoder::Result r = decoder.Feed(bytes.substr(used, n));
    if (r.error != http::ParseError::kNone || r.consumed == 0) return std::nullopt;
    if (ahead > 0) payload.append(bytes.substr(used, r.consumed));
    used += r.consumed;
  }
  if (!decoder.done() || payload.size() > kMaxOpenPacketBytes) return std::nullopt;
  consumed = used;
  return payload;
}

}  // namespace

void Session::TakeRoutePrefix(const sticky::StickyRoute& route, bool handshake) {
  const sticky::StickyConfig& config = thread_.router_->config();
  open_packet_ = handshake;
  route_prefix_size_ = 0;
  if (route.route_prefix.empty()) return;
  // The key's "NAME=" (the cookie pair, or the sid parameter) before the prefix, so that the
  // same text elsewhere in the head is left alone; a cookie value may be quoted.
  for (std::string_view quote : {"", "\""}) {
    const size_t at = request_head_.find(
        absl::StrCat(config.key_name, "=", AsAbsl(quote), AsAbsl(route.route_prefix)));
    if (at == std::string::npos) continue;
    route_prefix_at_ = at + config.key_name.size() + 1 + quote.size();
    route_prefix_size_ = route.route_prefix.size();
    break;
  }
  // Another member's sidecar decides by the prefix, and takes it off itself.
  if (route.peer == nullptr) StripRoutePrefix();
}

void Session::StripRoutePrefix() {
  if (route_prefix_size_ == 0) return;
  request_head_.erase(route_prefix_at_, route_prefix_size_);
  route_prefix_size_ = 0;
}

bool Session::StickyBodyReady(const http::ResponseHead& head) {
  if (!open_packet_ || backend_ < 0) return true;
  const std::string_view body = up_->in_.view().substr(head.head_bytes);
  size_t consumed = 0;
  if (head.status != 200 ||
      (head.body == http::BodyKind::kLength && head.content_length > kMaxOpenPacketBytes) ||
      (head.body != http::BodyKind::kLength && head.body != http::BodyKind::kChunked)) {
    open_packet_ = false;
    return true;
  }
  if (head.body == http::BodyKind::kLength ? body.size() >= head.content_length
                                           : WholeChunkedBody(body, consumed).has_value()) {
    return true;
  }
  up_->in_.Space(thread_.buffers_);
  if (up_->eof_ || up_->in_.full()) {
    open_packet_ = false;  // the body does not fit or never ends: streamed as it is
    return true;
  }
  return false;
}

void Session::RouteStickyResponse(size_t head_start) {
  const sticky::StickyRouter& router = *thread_.router_;
  const sticky::StickyConfig& config = router.config();
  // Answered through another member's sidecar, which routed it.
  if (backend_ < 0 || peer_ != nullptr) return;
  if (config.kind != sticky::StickyKind::kAppCookie && !open_packet_) return;
  const uint32_t now = NowSeconds();
  const std::string route = sticky::EncodeRoute(*config.codec, config.member_hash, backend_, now);
  if (config.kind == sticky::StickyKind::kAppCookie) {
    http::PrefixSetCookies(response_head_, head_start, config.key_name,
                           route + sticky::kRouteSeparator, now);
    return;
  }
  open_packet_ = false;
  const std::string_view bytes = up_->in_.view();
  size_t consumed = 0;
  std::optional<std::string> body;
  if (response_body_ == http::BodyKind::kLength) {
    if (bytes.size() < response_remaining_) return;
    consumed = static_cast<size_t>(response_remaining_);
    body = std::string(bytes.substr(0, consumed));
  } else if (response_body_ == http::BodyKind::kChunked) {
    body = WholeChunkedBody(bytes, consumed);
  }
  if (!body) return;
  std::optional<std::string> routed = sticky::RouteOpenPacket(*body, route);
  if (!routed) return;
  up_->in_.Consume(consumed, thread_.buffers_);
  http::SetContentLength(response_head_, head_start, routed->size());
  response_head_.append(*routed);
  // The body went out with the head: nothing more to forward.
  response_body_ = http::BodyKind::kLength;
  response_remaining_ = 0;
  response_validated_ = 0;
  dechunk_ = false;
}

}  // namespace drover::proxy
