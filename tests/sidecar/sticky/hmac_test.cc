#include "sidecar/sticky/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace drover::sticky {
namespace {

using Digest = std::array<unsigned char, HmacSha256::kBytes>;

// OpenSSL's one-shot HMAC, the reference.
Digest Reference(const std::string& key, const std::string& data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string Bytes(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + 7 * i);
  return s;
}

// RFC 4231 test case 2: key "Jefe".
TEST(HmacSha256Test, Rfc4231Case2) {
  absl::StatusOr<HmacSha256> mac = HmacSha256::Create("Jefe");
  ASSERT_TRUE(mac.ok()) << mac.status();
  Digest out;
  ASSERT_TRUE(mac->Compute(std::string_view("what do ya want for nothing?"), out));
  const Digest want = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                       0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                       0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
  EXPECT_EQ(out, want);
}

// Every key length around the block size (keys past 64 bytes are hashed first) and data
// lengths around one and two blocks agree with OpenSSL's HMAC().
TEST(HmacSha256Test, MatchesOpenSslForKeyAndDataLengths) {
  for (size_t key_len : {0, 1, 16, 32, 63, 64, 65, 128, 300}) {
    const std::string key = Bytes(key_len, 'k');
    absl::StatusOr<HmacSha256> mac = HmacSha256::Create(key);
    ASSERT_TRUE(mac.ok()) << mac.status();
    for (size_t data_len : {0, 1, 14, 55, 56, 64, 65, 200}) {
      const std::string data = Bytes(data_len, 'd');
      Digest out;
      ASSERT_TRUE(mac->Compute(data, out));
      EXPECT_EQ(out, Reference(key, data)) << "key " << key_len << " data " << data_len;
    }
  }
}

// A copy shares the prepared key and gives the same MAC; the same key used from several
// threads at once (as every loop thread does) gives the right MAC on each.
TEST(HmacSha256Test, CopiesAndThreadsShareTheKey) {
  const std::string key = "shared-secret-0123456789";
  const HmacSha256 mac = *HmacSha256::Create(key);
  std::vector<std::thread> threads;
  std::array<int, 4> wrong{};
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t, copy = mac] {
      for (int i = 0; i < 2000; ++i) {
        const std::string data = Bytes(14, static_cast<char>(t * 31 + i));
        Digest out;
        if (!copy.Compute(data, out) || out != Reference(key, data)) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong, (std::array<int, 4>{}));
}

}  // namespace
}  // namespace drover::sticky
