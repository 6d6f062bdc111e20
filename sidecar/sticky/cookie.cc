#include "sidecar/sticky/cookie.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/strings.h"

namespace drover::sticky {
namespace {

constexpr size_t kPackedBytes = 14;
constexpr size_t kMacBytes = 10;
constexpr size_t kPackedChars = 19;  // base64url of 14 bytes, unpadded
constexpr size_t kMacChars = 14;     // base64url of 10 bytes, unpadded
// Secret files are a line or two; anything larger is not one.
constexpr size_t kMaxSecretFileBytes = 64 * 1024;

using Packed = std::array<unsigned char, kPackedBytes>;
using Mac = std::array<unsigned char, kMacBytes>;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int AlphabetIndex(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string Base64UrlEncode(std::span<const unsigned char> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Decodes exactly out.size() bytes from unpadded base64url; rejects any other length, any
// character outside the alphabet and non-zero unused trailing bits, so each value has exactly
// one accepted spelling.
bool Base64UrlDecode(std::string_view text, std::span<unsigned char> out) {
  if (text.size() != (out.size() * 4 + 2) / 3) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : text) {
    int v = AlphabetIndex(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<unsigned char>(acc >> bits);
      acc &= (1U << bits) - 1;
    }
  }
  return n == out.size() && acc == 0;
}

Packed Pack(const SessionCookie& c) {
  Packed p;
  auto put32 = [&p](size_t at, uint32_t v) {
    p[at] = static_cast<unsigned char>(v >> 24);
    p[at + 1] = static_cast<unsigned char>(v >> 16);
    p[at + 2] = static_cast<unsigned char>(v >> 8);
    p[at + 3] = static_cast<unsigned char>(v);
  };
  put32(0, c.member);
  p[4] = static_cast<unsigned char>(c.slot >> 8);
  p[5] = static_cast<unsigned char>(c.slot);
  put32(6, c.issued);
  put32(10, c.last_seen);
  return p;
}

SessionCookie Unpack(const Packed& p) {
  auto get32 = [&p](size_t at) {
    return (uint32_t{p[at]} << 24) | (uint32_t{p[at + 1]} << 16) | (uint32_t{p[at + 2]} << 8) |
           uint32_t{p[at + 3]};
  };
  SessionCookie c;
  c.member = get32(0);
  c.slot = static_cast<uint16_t>((p[4] << 8) | p[5]);
  c.issued = get32(6);
  c.last_seen = get32(10);
  return c;
}

Mac ComputeMac(const HmacSha256& key, const Packed& packed) {
  std::array<unsigned char, HmacSha256::kBytes> full;
  // Only fails on allocation failure; a zero MAC then never verifies against a real one.
  key.Compute(packed, full);
  Mac mac;
  std::copy_n(full.begin(), kMacBytes, mac.begin());
  return mac;
}

absl::Status Malformed(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed: ", AsAbsl(why)));
}

}  // namespace

absl::StatusOr<CookieCodec> CookieCodec::Create(std::vector<std::string> keys) {
  if (keys.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat("cookie secrets: ", keys.size(),
                                                   " given, want at most 2 (current, previous)"));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() < kMinKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("cookie secrets: the ", i == 0 ? "current" : "previous", " key is ",
                       keys[i].size(), " bytes, want at least ", kMinKeyBytes));
    }
  }
  const KeyOrigin origin = keys.empty() ? KeyOrigin::kNone : KeyOrigin::kShared;
  return Prepare(std::move(keys), origin);
}

absl::StatusOr<CookieCodec> CookieCodec::Prepare(std::vector<std::string> secrets,
                                                 KeyOrigin origin) {
  std::vector<Key> keys;
  keys.reserve(secrets.size());
  for (std::string& secret : secrets) {
    absl::StatusOr<HmacSha256> mac = HmacSha256::Create(secret);
    if (!mac.ok()) return mac.status();
    keys.push_back({std::move(secret), *std::move(mac)});
  }
  return CookieCodec(std::move(keys), origin);
}

absl::StatusOr<CookieCodec> CookieCodec::PerProcess() {
  std::string key(2 * kMinKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return absl::InternalError("cookie key: no random bytes from the system");
  }
  return Prepare({std::move(key)}, KeyOrigin::kPerProcess);
}

CookieCodec CookieCodec::AfterReload(const CookieCodec& before, CookieCodec loaded) {
  if (loaded.keys_.size() != 1 || before.keys_.empty() || before.origin_ != KeyOrigin::kShared) {
    return loaded;
  }
  if (loaded.keys_[0].secret == before.keys_[0].secret) return before;
  loaded.keys_.push_back(before.keys_[0]);
  return loaded;
}

std::string CookieCodec::MacOf(std::string_view data) const {
  if (keys_.empty()) return {};
  std::array<unsigned char, HmacSha256::kBytes> mac;
  if (!keys_[0].mac.Compute(data, mac)) return {};
  return {mac.begin(), mac.end()};
}

bool CookieCodec::VerifyMacOf(std::string_view data, std::string_view mac) const {
  if (mac.size() != HmacSha256::kBytes) return false;
  for (const Key& key : keys_) {
    std::array<unsigned char, HmacSha256::kBytes> expected;
    if (!key.mac.Compute(data, expected)) continue;
    if (CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) == 0) return true;
  }
  return false;
}

absl::StatusOr<CookieCodec> CookieCodec::FromSecretFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, kMaxSecretFileBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("secret file: ", text.status().message()));
  }
  std::vector<std::string> keys;
  std::string_view rest = *text;
  int line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    std::string_view key = AsStd(absl::StripAsciiWhitespace(AsAbsl(line)));
    if (key.empty()) continue;
    if (keys.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("secret file ", path, ":", line_number,
                       ": a third key; want the current key and optionally the previous one"));
    }
    if (key.size() < kMinKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("secret file ", path, ":", line_number,
                                                     ": key is ", key.size(),
                                                     " bytes, want at least ", kMinKeyBytes));
    }
    keys.emplace_back(key);
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret file ", path, ": empty, want the current key on its first line"));
  }
  return Create(std::move(keys));
}

std::string CookieCodec::Encode(const SessionCookie& cookie) const {
  Packed packed = Pack(cookie);
  std::string out = Base64UrlEncode(packed);
  if (!keys_.empty()) {
    out += '.';
    out += Base64UrlEncode(ComputeMac(keys_[0].mac, packed));
  }
  return out;
}

absl::StatusOr<SessionCookie> CookieCodec::Decode(std::string_view value) const {
  if (value.empty()) return Malformed("empty value");
  if (value.size() > kPackedChars + 1 + kMacChars) {
    return Malformed(
        absl::StrCat(value.size(), " characters, want at most ", kPackedChars + 1 + kMacChars));
  }
  size_t dot = value.find('.');
  std::string_view payload = value.substr(0, dot);
  std::optional<std::string_view> mac_text;
  if (dot != std::string_view::npos) mac_text = value.substr(dot + 1);

  if (payload.size() != kPackedChars) {
    return Malformed(
        absl::StrCat("payload is ", payload.size(), " characters, want ", kPackedChars));
  }
  Packed packed;
  if (!Base64UrlDecode(payload, packed)) return Malformed("payload is not canonical base64url");
  Mac mac{};
  if (mac_text.has_value()) {
    if (mac_text->size() != kMacChars) {
      return Malformed(absl::StrCat("MAC is ", mac_text->size(), " characters, want ", kMacChars));
    }
    if (!Base64UrlDecode(*mac_text, mac)) return Malformed("MAC is not canonical base64url");
  }

  if (!keys_.empty()) {
    if (!mac_text.has_value()) {
      return absl::UnauthenticatedError("bad_mac: no MAC, and a cookie secret is configured");
    }
    bool verified = false;
    for (const Key& key : keys_) {
      Mac expected = ComputeMac(key.mac, packed);
      if (CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) == 0) {
        verified = true;
        break;
      }
    }
    if (!verified) {
      return absl::UnauthenticatedError("bad_mac: MAC verifies under no configured secret");
    }
  }
  return Unpack(packed);
}

absl::StatusOr<SessionCookie> CookieCodec::DecodeFresh(std::string_view value, uint32_t now,
                                                       uint32_t max_age_s,
                                                       uint32_t max_idle_s) const {
  absl::StatusOr<SessionCookie> cookie = Decode(value);
  if (!cookie.ok()) return cookie;
  if (Expired(*cookie, now, max_age_s, max_idle_s)) {
    return absl::DeadlineExceededError(
        absl::StrCat("expired: issued ", cookie->issued, ", last seen ", cookie->last_seen,
                     ", now ", now, ", max age ", max_age_s, " s, max idle ", max_idle_s, " s"));
  }
  return cookie;
}

bool CookieCodec::Expired(const SessionCookie& c, uint32_t now, uint32_t max_age_s,
                          uint32_t max_idle_s) const {
  // uint64_t: now + skew must not wrap in 2106.
  auto too_old = [now](uint32_t since, uint32_t limit) {
    if (limit == 0) return false;
    if (uint64_t{since} > uint64_t{now} + kMaxClockSkewS) return true;
    return since < now && now - since > limit;
  };
  return too_old(c.issued, max_age_s) || too_old(c.last_seen, max_idle_s);
}

CookieCodec::Invalid CookieCodec::ReasonOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      return Invalid::kBadMac;
    case absl::StatusCode::kDeadlineExceeded:
      return Invalid::kExpired;
    default:
      return Invalid::kMalformed;
  }
}

std::string_view CookieCodec::ReasonName(Invalid reason) {
  switch (reason) {
    case Invalid::kMalformed:
      return "malformed";
    case Invalid::kBadMac:
      return "bad_mac";
    case Invalid::kExpired:
      return "expired";
  }
  return "malformed";
}

namespace {

constexpr bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(pair, name, value) for each non-empty "name=value" pair of a Cookie field, trimmed;
// a pair without '=' has an empty name and the whole pair as its value (RFC 6265bis 5.7).
template <typename Fn>
void ForEachPair(std::string_view field, Fn fn) {
  while (true) {
    size_t semi = field.find(';');
    std::string_view pair = TrimOws(field.substr(0, semi));
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string_view name = eq == std::string_view::npos ? "" : TrimOws(pair.substr(0, eq));
      std::string_view value = eq == std::string_view::npos ? pair : TrimOws(pair.substr(eq + 1));
      if (!fn(pair, name, value)) return;
    }
    if (semi == std::string_view::npos) return;
    field.remove_prefix(semi + 1);
  }
}

}  // namespace

std::optional<std::string_view> FindCookie(std::span<const std::string_view> cookie_fields,
                                           std::string_view name) {
  std::optional<std::string_view> found;
  if (name.empty()) return found;
  for (std::string_view field : cookie_fields) {
    ForEachPair(field, [&](std::string_view, std::string_view n, std::string_view v) {
      if (n != name) return true;
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      found = v;
      return false;
    });
    if (found.has_value()) break;
  }
  return found;
}

std::string RemoveCookie(std::string_view cookie_field, std::string_view name) {
  std::string out;
  ForEachPair(cookie_field, [&](std::string_view pair, std::string_view n, std::string_view) {
    if (n == name && pair.find('=') != std::string_view::npos) return true;
    if (!out.empty()) out += "; ";
    out += pair;
    return true;
  });
  return out;
}

std::string SetCookieValue(std::string_view name, std::string_view value, bool secure,
                           uint32_t max_age_s) {
  std::string out =
      absl::StrCat(AsAbsl(name), "=", AsAbsl(value), "; Path=/; HttpOnly; SameSite=Lax");
  if (secure) out += "; Secure";
  if (max_age_s > 0) absl::StrAppend(&out, "; Max-Age=", max_age_s);
  return out;
}

}  // namespace drover::sticky
