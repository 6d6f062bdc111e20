#include "sidecar/sticky/cookie.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::sticky {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeyA[] = "current-secret-0123456789";
constexpr char kKeyB[] = "previous-secret-abcdefghij";

constexpr SessionCookie kCookie{
    .member = 0xdeadbeef, .slot = 7, .issued = 1700000000, .last_seen = 1700000600};

CookieCodec Codec(std::vector<std::string> keys) { return *CookieCodec::Create(std::move(keys)); }

CookieCodec::Invalid ReasonOfDecode(const CookieCodec& codec, std::string_view value) {
  absl::StatusOr<SessionCookie> c = codec.Decode(value);
  EXPECT_FALSE(c.ok()) << "accepted '" << value << "'";
  return CookieCodec::ReasonOf(c.status());
}

// Without a secret a cookie is the 19-character base64url of its 14 packed bytes, and decodes
// back to the same fields, extremes included.
TEST(CookieCodecTest, RoundTripWithoutKeys) {
  CookieCodec codec = Codec({});
  EXPECT_EQ(codec.key_count(), 0u);
  for (const SessionCookie& c :
       {kCookie, SessionCookie{}, SessionCookie{0xffffffff, 0xffff, 0xffffffff, 0xffffffff}}) {
    std::string value = codec.Encode(c);
    EXPECT_EQ(value.size(), 19u);
    EXPECT_EQ(
        value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    absl::StatusOr<SessionCookie> back = codec.Decode(value);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, c);
  }
}

// With a secret the value gains "." and a 14-character MAC, and still round-trips.
TEST(CookieCodecTest, RoundTripWithKey) {
  CookieCodec codec = Codec({kKeyA});
  std::string value = codec.Encode(kCookie);
  EXPECT_EQ(value.size(), 34u);
  EXPECT_EQ(value[19], '.');
  absl::StatusOr<SessionCookie> back = codec.Decode(value);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, kCookie);
}

// The wire format (big-endian packing, base64url, truncated HMAC-SHA256) is pinned, so cookies
// stay valid across versions and builds (values computed independently with Python).
TEST(CookieCodecTest, WireFormatIsPinned) {
  SessionCookie c{
      .member = 0x01020304, .slot = 0x0506, .issued = 0x0708090a, .last_seen = 0x0b0c0d0e};
  EXPECT_EQ(Codec({}).Encode(c), "AQIDBAUGBwgJCgsMDQ4");
  EXPECT_EQ(Codec({"0123456789abcdef"}).Encode(c), "AQIDBAUGBwgJCgsMDQ4.uKRWa8cC95yYKA");
}

// Rotation: a cookie signed with the old secret passes under [new, old], fails under [new].
TEST(CookieCodecTest, RotationAcceptsThePreviousKey) {
  std::string old_value = Codec({kKeyB}).Encode(kCookie);
  absl::StatusOr<SessionCookie> rotated = Codec({kKeyA, kKeyB}).Decode(old_value);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(*rotated, kCookie);
  EXPECT_EQ(ReasonOfDecode(Codec({kKeyA}), old_value), CookieCodec::Invalid::kBadMac);
  // New cookies are signed with the current key, which the next step, [new] alone, accepts.
  EXPECT_TRUE(Codec({kKeyA}).Decode(Codec({kKeyA, kKeyB}).Encode(kCookie)).ok());
}

// More than two secrets, or one shorter than 16 bytes, is refused.
TEST(CookieCodecTest, CreateRejectsBadKeys) {
  EXPECT_FALSE(CookieCodec::Create({kKeyA, kKeyB, kKeyA}).ok());
  absl::StatusOr<CookieCodec> short_key = CookieCodec::Create({kKeyA, "fifteen-bytes.."});
  ASSERT_FALSE(short_key.ok());
  EXPECT_THAT(short_key.status().message(), HasSubstr("previous key is 15 bytes"));
  EXPECT_TRUE(CookieCodec::Create({"sixteen-bytes..."}).ok());
}

// With no secret a MACed cookie is accepted (secrets switched off keep sessions); with a secret
// an unMACed one is rejected as bad_mac (dropping the MAC must not bypass it).
TEST(CookieCodecTest, MacPresenceRules) {
  std::string signed_value = Codec({kKeyA}).Encode(kCookie);
  absl::StatusOr<SessionCookie> unchecked = Codec({}).Decode(signed_value);
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  EXPECT_EQ(*unchecked, kCookie);
  EXPECT_EQ(ReasonOfDecode(Codec({kKeyA}), Codec({}).Encode(kCookie)),
            CookieCodec::Invalid::kBadMac);
  // Even unchecked, the MAC part must be well-formed.
  EXPECT_EQ(ReasonOfDecode(Codec({}), signed_value.substr(0, 33)),
            CookieCodec::Invalid::kMalformed);
}

// A forged MAC, or any single bit flipped in the payload under the original MAC, is bad_mac.
TEST(CookieCodecTest, TamperingIsBadMac) {
  CookieCodec codec = Codec({kKeyA});
  std::string value = codec.Encode(kCookie);
  std::string forged = value;
  forged[25] = forged[25] == 'A' ? 'B' : 'A';
  EXPECT_EQ(ReasonOfDecode(codec, forged), CookieCodec::Invalid::kBadMac);
  EXPECT_EQ(ReasonOfDecode(codec, value.substr(0, 20) + "AAAAAAAAAAAAAA"),
            CookieCodec::Invalid::kBadMac);

  std::string mac = value.substr(19);
  CookieCodec plain = Codec({});
  for (int bit = 0; bit < 112; ++bit) {
    SessionCookie c = kCookie;
    if (bit < 32) {
      c.member ^= 1U << bit;
    } else if (bit < 48) {
      c.slot ^= static_cast<uint16_t>(1U << (bit - 32));
    } else if (bit < 80) {
      c.issued ^= 1U << (bit - 48);
    } else {
      c.last_seen ^= 1U << (bit - 80);
    }
    EXPECT_EQ(ReasonOfDecode(codec, plain.Encode(c) + mac), CookieCodec::Invalid::kBadMac)
        << "bit " << bit;
  }
}

// Wrong lengths, foreign characters, padding, non-canonical trailing bits, empty and huge values
// are malformed, with a message that says so.
TEST(CookieCodecTest, MalformedValues) {
  CookieCodec keyed = Codec({kKeyA});
  CookieCodec plain = Codec({});
  std::string good = keyed.Encode(kCookie);
  std::string payload = good.substr(0, 19);
  // The last character carries 4 payload bits and 2 unused ones, which must be zero.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string last_bits_set = payload;
  last_bits_set[18] = alphabet[alphabet.find(payload[18]) | 1];
  const std::vector<std::string> bad = {
      "",
      payload.substr(0, 18),
      payload + "A",
      good.substr(0, 33),
      good + "A",
      good + ".",
      payload + "..",
      payload + "==",
      payload.substr(0, 18) + "=",
      payload.substr(0, 18) + "+",
      payload.substr(0, 18) + "/",
      payload.substr(0, 18) + " ",
      payload.substr(0, 18) + std::string(1, '\0'),
      payload.substr(0, 18) + "\xc3",
      absl::StrCat(" ", payload.substr(1)),
      absl::StrCat("\"", payload.substr(1)),
      last_bits_set,
      std::string(10 * 1024, 'A'),
      std::string(10 * 1024, '.'),
  };
  for (const std::string& value : bad) {
    for (const CookieCodec* codec : {&plain, &keyed}) {
      absl::StatusOr<SessionCookie> c = codec->Decode(value);
      ASSERT_FALSE(c.ok()) << "accepted '" << value << "'";
      EXPECT_EQ(CookieCodec::ReasonOf(c.status()), CookieCodec::Invalid::kMalformed) << value;
      EXPECT_THAT(c.status().message(), HasSubstr("malformed: "));
    }
  }
  EXPECT_EQ(plain.Decode(payload).value(), kCookie);
}

// Random bytes and random base64url strings of every length never crash the decoder, and never
// pass a keyed codec.
TEST(CookieCodecTest, RandomInputNeverCrashesOrVerifies) {
  CookieCodec keyed = Codec({kKeyA});
  CookieCodec plain = Codec({});
  std::mt19937 rng(42);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
  for (int i = 0; i < 20000; ++i) {
    std::string value(rng() % 40, '\0');
    for (char& ch : value) {
      ch = i % 2 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    }
    EXPECT_FALSE(keyed.Decode(value).ok()) << value;
    (void)plain.Decode(value);
  }
}

// Max-age counts from `issued`, idle from `last_seen`, each inclusive of its limit; 0 means no
// limit; a time beyond the clock-skew allowance in the future is expired; nothing wraps in 2106.
TEST(CookieCodecTest, ExpiryMath) {
  CookieCodec codec = Codec({});
  SessionCookie c{.member = 1, .slot = 0, .issued = 1000, .last_seen = 5000};
  EXPECT_FALSE(codec.Expired(c, 6000, 0, 0));
  EXPECT_FALSE(codec.Expired(c, 1000000, 0, 0));
  EXPECT_FALSE(codec.Expired(c, 6000, 5000, 0));
  EXPECT_TRUE(codec.Expired(c, 6001, 5000, 0));
  EXPECT_FALSE(codec.Expired(c, 6000, 0, 1000));
  EXPECT_TRUE(codec.Expired(c, 6001, 0, 1000));
  EXPECT_TRUE(codec.Expired(c, 6001, 100000, 1000));
  EXPECT_TRUE(codec.Expired(c, 6001, 5000, 100000));
  // Clock skew between members: a little in the future is fine, a lot is not.
  EXPECT_FALSE(codec.Expired(c, 5000 - CookieCodec::kMaxClockSkewS, 0, 60));
  EXPECT_TRUE(codec.Expired(c, 5000 - CookieCodec::kMaxClockSkewS - 1, 0, 60));
  EXPECT_FALSE(codec.Expired(c, 500, 0, 0));
  SessionCookie late{.member = 1, .slot = 0, .issued = 0xfffffff0, .last_seen = 0xfffffff0};
  EXPECT_FALSE(codec.Expired(late, 0xffffffff, 60, 60));
  EXPECT_TRUE(codec.Expired(late, 0xffffffff, 10, 10));
}

// DecodeFresh adds expiry to Decode, with its own reason for the metric.
TEST(CookieCodecTest, DecodeFreshReportsExpired) {
  CookieCodec codec = Codec({kKeyA});
  std::string value = codec.Encode(kCookie);
  EXPECT_TRUE(codec.DecodeFresh(value, kCookie.last_seen + 60, 0, 60).ok());
  absl::StatusOr<SessionCookie> stale = codec.DecodeFresh(value, kCookie.last_seen + 61, 0, 60);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(CookieCodec::ReasonOf(stale.status()), CookieCodec::Invalid::kExpired);
  EXPECT_THAT(stale.status().message(), HasSubstr("expired: "));
  EXPECT_EQ(CookieCodec::ReasonOf(codec.DecodeFresh("x", 0, 0, 0).status()),
            CookieCodec::Invalid::kMalformed);
  EXPECT_EQ(CookieCodec::ReasonName(CookieCodec::Invalid::kMalformed), "malformed");
  EXPECT_EQ(CookieCodec::ReasonName(CookieCodec::Invalid::kBadMac), "bad_mac");
  EXPECT_EQ(CookieCodec::ReasonName(CookieCodec::Invalid::kExpired), "expired");
}

std::optional<std::string_view> Find(std::vector<std::string_view> fields, std::string_view name) {
  return FindCookie(fields, name);
}

// FindCookie tolerates spacing, searches every Cookie field, returns the first occurrence,
// matches whole names only (case-sensitively) and unquotes a quoted value.
TEST(FindCookieTest, Finds) {
  EXPECT_EQ(Find({"DROVERID=abc"}, "DROVERID"), "abc");
  EXPECT_EQ(Find({"a=1;DROVERID=abc;b=2"}, "DROVERID"), "abc");
  EXPECT_EQ(Find({"  a=1 ;\tDROVERID = abc ; b=2 "}, "DROVERID"), "abc");
  EXPECT_EQ(Find({"a=1", "b=2; DROVERID=abc"}, "DROVERID"), "abc");
  EXPECT_EQ(Find({"DROVERID=first; DROVERID=second", "DROVERID=third"}, "DROVERID"), "first");
  EXPECT_EQ(Find({"x=1", "DROVERID=second-field", "DROVERID=third"}, "DROVERID"), "second-field");
  EXPECT_EQ(Find({"DROVERID2=other; DROVERID=mine"}, "DROVERID"), "mine");
  EXPECT_EQ(Find({"DROVERID2=other; XDROVERID=x; DROVERI=y"}, "DROVERID"), std::nullopt);
  EXPECT_EQ(Find({"DROVERID=mine"}, "DROVERID2"), std::nullopt);
  EXPECT_EQ(Find({"droverid=lower"}, "DROVERID"), std::nullopt);
  EXPECT_EQ(Find({"DROVERID=\"quoted\""}, "DROVERID"), "quoted");
  EXPECT_EQ(Find({"DROVERID=\""}, "DROVERID"), "\"");
  EXPECT_EQ(Find({"DROVERID="}, "DROVERID"), "");
  EXPECT_EQ(Find({"DROVERID=a=b"}, "DROVERID"), "a=b");
  EXPECT_EQ(Find({"DROVERID; a=1"}, "DROVERID"), std::nullopt);
  EXPECT_EQ(Find({";;; ;", ""}, "DROVERID"), std::nullopt);
  EXPECT_EQ(Find({}, "DROVERID"), std::nullopt);
  EXPECT_EQ(Find({"=x"}, ""), std::nullopt);
}

// RemoveCookie drops every occurrence of the name and nothing else, normalizing separators.
TEST(RemoveCookieTest, Removes) {
  EXPECT_EQ(RemoveCookie("DROVERID=abc", "DROVERID"), "");
  EXPECT_EQ(RemoveCookie("a=1; DROVERID=abc; b=2", "DROVERID"), "a=1; b=2");
  EXPECT_EQ(RemoveCookie("DROVERID=x;a=1;DROVERID=y; DROVERID = z", "DROVERID"), "a=1");
  EXPECT_EQ(RemoveCookie(" a=1 ;; DROVERID2=keep;\tb=\"q\" ", "DROVERID"),
            "a=1; DROVERID2=keep; b=\"q\"");
  EXPECT_EQ(RemoveCookie("DROVERID; a=1", "DROVERID"), "DROVERID; a=1");
  EXPECT_EQ(RemoveCookie("", "DROVERID"), "");
  EXPECT_EQ(RemoveCookie("; ;", "DROVERID"), "");
}

// The Set-Cookie value carries the fixed attributes, plus Secure and Max-Age when asked.
TEST(SetCookieValueTest, Attributes) {
  EXPECT_EQ(SetCookieValue("DROVERID", "v", false, 0),
            "DROVERID=v; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(SetCookieValue("DROVERID", "v", true, 3600),
            "DROVERID=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600");
  EXPECT_EQ(SetCookieValue("S", "v", false, 60), "S=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60");
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::path(::testing::TempDir()) / "cookie_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(std::string_view content) {
    std::string path = absl::StrCat(dir_, "/secret", ++files_);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string dir_;
  int files_ = 0;
};

// One key, or two with blank lines, CRLF and surrounding whitespace, are read as such: a cookie
// signed by the file's second key passes, and so does one signed by its first.
TEST_F(SecretFileTest, ReadsOneOrTwoKeys) {
  absl::StatusOr<CookieCodec> one = CookieCodec::FromSecretFile(Write(absl::StrCat(kKeyA, "\n")));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->key_count(), 1u);
  EXPECT_EQ(one->Encode(kCookie), Codec({kKeyA}).Encode(kCookie));

  absl::StatusOr<CookieCodec> two =
      CookieCodec::FromSecretFile(Write(absl::StrCat("\n  ", kKeyA, " \r\n\n\t", kKeyB)));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->key_count(), 2u);
  EXPECT_EQ(two->Encode(kCookie), Codec({kKeyA}).Encode(kCookie));
  EXPECT_TRUE(two->Decode(Codec({kKeyB}).Encode(kCookie)).ok());
}

// Errors name the file and the line, and never quote the secret.
TEST_F(SecretFileTest, Errors) {
  std::string path = Write(absl::StrCat(kKeyA, "\n\nshort-secret\n"));
  absl::StatusOr<CookieCodec> short_key = CookieCodec::FromSecretFile(path);
  ASSERT_FALSE(short_key.ok());
  EXPECT_THAT(short_key.status().message(), HasSubstr(absl::StrCat(path, ":3: key is 12 bytes")));
  EXPECT_THAT(short_key.status().message(), Not(HasSubstr("short-secret")));

  path = Write(absl::StrCat(kKeyA, "\n", kKeyB, "\n", kKeyA, "\n"));
  absl::StatusOr<CookieCodec> three = CookieCodec::FromSecretFile(path);
  ASSERT_FALSE(three.ok());
  EXPECT_THAT(three.status().message(), HasSubstr(absl::StrCat(path, ":3: a third key")));

  for (std::string_view empty : {"", "\n \n\t\r\n"}) {
    path = Write(empty);
    absl::StatusOr<CookieCodec> none = CookieCodec::FromSecretFile(path);
    ASSERT_FALSE(none.ok());
    EXPECT_THAT(none.status().message(), HasSubstr(absl::StrCat(path, ": empty")));
  }

  absl::StatusOr<CookieCodec> missing = CookieCodec::FromSecretFile(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope"));
  EXPECT_FALSE(CookieCodec::FromSecretFile(dir_).ok());
}

}  // namespace
}  // namespace drover::sticky
