#include "sidecar/sticky/hop_token.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/sticky/cookie.h"

namespace drover::sticky {
namespace {

using ::testing::HasSubstr;

constexpr char kKeyA[] = "current-secret-0123456789";
constexpr char kKeyB[] = "previous-secret-abcdefghij";
constexpr char kKeyC[] = "another-secret-ABCDEFGHIJ";
constexpr uint32_t kFrom = 0x0a0b0c0d;
constexpr uint32_t kTo = 0x11223344;
constexpr uint32_t kNow = 1800000000;

CookieCodec Codec(std::vector<std::string> keys) { return *CookieCodec::Create(std::move(keys)); }

absl::StatusCode CodeOf(const CookieCodec& codec, std::string_view token, uint32_t to = kTo,
                        uint32_t now = kNow) {
  return CheckHopToken(codec, token, to, now).status().code();
}

// A token names its sender, and the receiver it was made for accepts it within the window.
TEST(HopTokenTest, RoundTrip) {
  CookieCodec codec = Codec({kKeyA});
  std::string token = MakeHopToken(codec, kFrom, kTo, kNow);
  EXPECT_THAT(token, ::testing::MatchesRegex("0a0b0c0d\\.1800000000\\.[0-9a-f]{64}"));
  for (uint32_t now : {kNow - kHopWindowS, kNow, kNow + kHopWindowS}) {
    absl::StatusOr<uint32_t> from = CheckHopToken(codec, token, kTo, now);
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(*from, kFrom);
  }
}

// Outside ±kHopWindowS the token is refused as expired: a captured one is not good for long.
TEST(HopTokenTest, OutsideTheWindow) {
  CookieCodec codec = Codec({kKeyA});
  std::string token = MakeHopToken(codec, kFrom, kTo, kNow);
  EXPECT_EQ(CodeOf(codec, token, kTo, kNow + kHopWindowS + 1), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CodeOf(codec, token, kTo, kNow - kHopWindowS - 1), absl::StatusCode::kDeadlineExceeded);
}

// Another secret, another receiver, or any changed field: the MAC does not verify.
TEST(HopTokenTest, ForgedTokensAreRefused) {
  CookieCodec codec = Codec({kKeyA});
  std::string token = MakeHopToken(codec, kFrom, kTo, kNow);
  EXPECT_EQ(CodeOf(Codec({kKeyC}), token), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(CodeOf(codec, token, kTo + 1), absl::StatusCode::kUnauthenticated);
  std::string other_member = token;
  other_member[7] = other_member[7] == 'd' ? 'e' : 'd';
  EXPECT_EQ(CodeOf(codec, other_member), absl::StatusCode::kUnauthenticated);
  std::string other_time = MakeHopToken(codec, kFrom, kTo, kNow);
  other_time.replace(9, 10, "1800000001");
  EXPECT_EQ(CodeOf(codec, other_time, kTo, kNow + 1), absl::StatusCode::kUnauthenticated);
  std::string other_mac = token;
  other_mac.back() = other_mac.back() == '0' ? '1' : '0';
  EXPECT_EQ(CodeOf(codec, other_mac), absl::StatusCode::kUnauthenticated);
}

// Without a shared secret no token is made, and none is accepted (a per-process key proves
// nothing to another sidecar).
TEST(HopTokenTest, NoSharedSecretNoToken) {
  CookieCodec shared = Codec({kKeyA});
  std::string token = MakeHopToken(shared, kFrom, kTo, kNow);
  EXPECT_EQ(MakeHopToken(Codec({}), kFrom, kTo, kNow), "");
  EXPECT_EQ(CodeOf(Codec({}), token), absl::StatusCode::kUnauthenticated);
  absl::StatusOr<CookieCodec> own = CookieCodec::PerProcess();
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(MakeHopToken(*own, kFrom, kTo, kNow), "");
  EXPECT_EQ(CodeOf(*own, token), absl::StatusCode::kUnauthenticated);
}

// Strict syntax: every other spelling is malformed.
TEST(HopTokenTest, MalformedTokens) {
  CookieCodec codec = Codec({kKeyA});
  std::string token = MakeHopToken(codec, kFrom, kTo, kNow);
  std::string mac = token.substr(20);
  for (const std::string& bad :
       {std::string(), std::string("1"), std::string("a.b"), token + "0",
        "0A0B0C0D.1800000000." + mac, "a0b0c0d.1800000000." + mac, "0a0b0c0d.+1800000000." + mac,
        "0a0b0c0d..1800000000" + mac, "0a0b0c0d.99999999999." + mac,
        "0a0b0c0d.1800000000." + mac.substr(1)}) {
    absl::StatusOr<uint32_t> r = CheckHopToken(codec, bad, kTo, kNow);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("malformed")) << bad;
  }
}

// During a rotation a token signed with the previous key is still accepted.
TEST(HopTokenTest, PreviousKeyAccepted) {
  std::string old_token = MakeHopToken(Codec({kKeyB}), kFrom, kTo, kNow);
  EXPECT_TRUE(CheckHopToken(Codec({kKeyA, kKeyB}), old_token, kTo, kNow).ok());
  EXPECT_FALSE(CheckHopToken(Codec({kKeyA}), old_token, kTo, kNow).ok());
}

// The per-process key is random: two processes' cookies do not verify with each other's key.
TEST(CookieKeysTest, PerProcessKeysDiffer) {
  absl::StatusOr<CookieCodec> a = CookieCodec::PerProcess();
  absl::StatusOr<CookieCodec> b = CookieCodec::PerProcess();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->origin(), CookieCodec::KeyOrigin::kPerProcess);
  SessionCookie cookie{.member = 1, .slot = 2, .issued = kNow, .last_seen = kNow};
  std::string value = a->Encode(cookie);
  EXPECT_TRUE(a->Decode(value).ok());
  EXPECT_EQ(CookieCodec::ReasonOf(b->Decode(value).status()), CookieCodec::Invalid::kBadMac);
  // A hand-made unsigned value is refused.
  EXPECT_FALSE(a->Decode(Codec({}).Encode(cookie)).ok());
}

// A file rewritten with one new key: the key that was current stays accepted as the previous one;
// after a second rotation the oldest is refused. A file with two keys is taken as it is.
TEST(CookieKeysTest, ReloadKeepsThePreviousKey) {
  SessionCookie cookie{.member = 1, .slot = 2, .issued = kNow, .last_seen = kNow};
  CookieCodec first = Codec({kKeyA});
  std::string signed_a = first.Encode(cookie);
  CookieCodec second = CookieCodec::AfterReload(first, Codec({kKeyB}));
  EXPECT_EQ(second.key_count(), 2u);
  EXPECT_TRUE(second.Decode(signed_a).ok());
  std::string signed_b = second.Encode(cookie);
  EXPECT_FALSE(first.Decode(signed_b).ok()) << "signs with the new key";
  CookieCodec third = CookieCodec::AfterReload(second, Codec({kKeyC}));
  EXPECT_TRUE(third.Decode(signed_b).ok());
  EXPECT_FALSE(third.Decode(signed_a).ok()) << "the oldest key is gone";
  EXPECT_TRUE(third.Decode(third.Encode(cookie)).ok());
  // The same current key again (a rewrite that changed nothing else) keeps the previous one.
  CookieCodec same = CookieCodec::AfterReload(third, Codec({kKeyC}));
  EXPECT_TRUE(same.Decode(signed_b).ok());
  // Two keys in the file: exactly those.
  CookieCodec explicit_keys = CookieCodec::AfterReload(third, Codec({kKeyA, kKeyC}));
  EXPECT_TRUE(explicit_keys.Decode(signed_a).ok());
  EXPECT_FALSE(explicit_keys.Decode(signed_b).ok());
}

}  // namespace
}  // namespace drover::sticky
