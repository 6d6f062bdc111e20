// HMAC-SHA256 with the key prepared once (RFC 2104, section 4): the SHA-256 states after the
// padded key's inner and outer blocks are kept, so a MAC costs two compressions of the message
// and the inner hash instead of OpenSSL's one-shot HMAC(), which fetches the digest, sets up the
// key and frees everything again on every call (about 1.9 us against 0.37 us here).
//
//   absl::StatusOr<HmacSha256> mac = HmacSha256::Create(secret);
//   std::array<unsigned char, HmacSha256::kBytes> out;
//   if (!mac->Compute(data, out)) { /* allocation failure: treat as "no MAC" */ }
//
// Copies share the prepared states, which are never written after Create: one key may be used
// by any number of threads at once (each thread has its own working context).
#ifndef DROVER_SIDECAR_STICKY_HMAC_H_
#define DROVER_SIDECAR_STICKY_HMAC_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace drover::sticky {

class HmacSha256 {
 public:
  static constexpr size_t kBytes = 32;

  // Any key length (keys longer than SHA-256's 64-byte block are hashed first, as RFC 2104
  // says). Fails only when OpenSSL cannot provide SHA-256 or memory runs out.
  static absl::StatusOr<HmacSha256> Create(std::string_view key);

  // The MAC of `data` into `out`; false (and `out` zeroed) on an OpenSSL failure.
  bool Compute(std::span<const unsigned char> data, std::span<unsigned char, kBytes> out) const;
  bool Compute(std::string_view data, std::span<unsigned char, kBytes> out) const;

 private:
  struct Prepared;
  explicit HmacSha256(std::shared_ptr<const Prepared> prepared) : prepared_(std::move(prepared)) {}

  std::shared_ptr<const Prepared> prepared_;
};

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_HMAC_H_
