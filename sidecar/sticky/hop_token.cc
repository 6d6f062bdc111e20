#include "sidecar/sticky/hop_token.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"

namespace drover::sticky {
namespace {

std::string SignedText(uint32_t from, uint32_t to, uint32_t time) {
  return absl::StrFormat("drover-hop-v1 %08x %08x %u", from, to, time);
}

bool LowerHex(std::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

}  // namespace

std::string MakeHopToken(const CookieCodec& codec, uint32_t from, uint32_t to, uint32_t now_s) {
  if (codec.origin() != CookieCodec::KeyOrigin::kShared) return {};
  return absl::StrFormat("%08x.%u.%s", from, now_s,
                         absl::BytesToHexString(codec.MacOf(SignedText(from, to, now_s))));
}

absl::StatusOr<uint32_t> CheckHopToken(const CookieCodec& codec, std::string_view token,
                                       uint32_t to, uint32_t now_s) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) {
    return absl::InvalidArgumentError("malformed: want <member>.<time>.<mac>");
  }
  std::string_view from_text = token.substr(0, dot1);
  std::string_view time_text = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view mac_text = token.substr(dot2 + 1);
  uint32_t from = 0;
  uint32_t time = 0;
  if (from_text.size() != 8 || !LowerHex(from_text) ||
      !absl::SimpleHexAtoi(AsAbsl(from_text), &from)) {
    return absl::InvalidArgumentError("malformed: the member is not 8 lower-case hex digits");
  }
  if (time_text.empty() || time_text.size() > 10 || !absl::ascii_isdigit(time_text[0]) ||
      !absl::SimpleAtoi(AsAbsl(time_text), &time)) {
    return absl::InvalidArgumentError("malformed: the time is not a unix time");
  }
  if (mac_text.size() != 64 || !LowerHex(mac_text)) {
    return absl::InvalidArgumentError("malformed: the MAC is not 64 lower-case hex digits");
  }
  if (codec.origin() != CookieCodec::KeyOrigin::kShared ||
      !codec.VerifyMacOf(SignedText(from, to, time), absl::HexStringToBytes(AsAbsl(mac_text)))) {
    return absl::UnauthenticatedError("bad_mac: the MAC verifies under no shared secret");
  }
  const uint64_t earliest = uint64_t{now_s} > kHopWindowS ? now_s - kHopWindowS : 0;
  if (time < earliest || uint64_t{time} > uint64_t{now_s} + kHopWindowS) {
    return absl::DeadlineExceededError(absl::StrCat("expired: token time ", time, ", now ", now_s,
                                                    ", window ", kHopWindowS, " s"));
  }
  return from;
}

}  // namespace drover::sticky
