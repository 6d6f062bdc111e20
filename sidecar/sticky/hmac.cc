#include "sidecar/sticky/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"

namespace drover::sticky {
namespace {

constexpr size_t kBlockBytes = 64;  // SHA-256's block
constexpr unsigned char kInnerPad = 0x36;
constexpr unsigned char kOuterPad = 0x5c;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

struct MdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};

// The digest, fetched from the default provider once per process.
const EVP_MD* Sha256() {
  static const std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  return md.get();
}

// A SHA-256 context that has absorbed the key block XORed with `pad`.
MdCtx PadState(const std::array<unsigned char, kBlockBytes>& block, unsigned char pad) {
  std::array<unsigned char, kBlockBytes> padded;
  std::transform(block.begin(), block.end(), padded.begin(),
                 [pad](unsigned char b) { return static_cast<unsigned char>(b ^ pad); });
  MdCtx ctx(EVP_MD_CTX_new());
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx.get(), Sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), padded.data(), padded.size()) == 1;
  OPENSSL_cleanse(padded.data(), padded.size());
  return ok ? std::move(ctx) : nullptr;
}

// This thread's working context: copying a prepared state into it reuses its memory.
EVP_MD_CTX* Scratch() {
  thread_local MdCtx scratch(EVP_MD_CTX_new());
  return scratch.get();
}

}  // namespace

struct HmacSha256::Prepared {
  MdCtx inner;
  MdCtx outer;
};

absl::StatusOr<HmacSha256> HmacSha256::Create(std::string_view key) {
  if (Sha256() == nullptr) return absl::InternalError("HMAC: OpenSSL has no SHA-256");
  std::array<unsigned char, kBlockBytes> block{};
  if (key.size() > kBlockBytes) {
    unsigned int len = 0;
    if (EVP_Digest(key.data(), key.size(), block.data(), &len, Sha256(), nullptr) != 1) {
      return absl::InternalError("HMAC: hashing the key failed");
    }
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  auto prepared = std::make_shared<Prepared>();
  prepared->inner = PadState(block, kInnerPad);
  prepared->outer = PadState(block, kOuterPad);
  OPENSSL_cleanse(block.data(), block.size());
  if (prepared->inner == nullptr || prepared->outer == nullptr) {
    return absl::ResourceExhaustedError("HMAC: no memory for the key's digest states");
  }
  return HmacSha256(std::move(prepared));
}

bool HmacSha256::Compute(std::span<const unsigned char> data,
                         std::span<unsigned char, kBytes> out) const {
  EVP_MD_CTX* ctx = Scratch();
  std::array<unsigned char, kBytes> inner_hash;
  unsigned int len = 0;
  const bool ok = ctx != nullptr && EVP_MD_CTX_copy_ex(ctx, prepared_->inner.get()) == 1 &&
                  EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, inner_hash.data(), &len) == 1 &&
                  EVP_MD_CTX_copy_ex(ctx, prepared_->outer.get()) == 1 &&
                  EVP_DigestUpdate(ctx, inner_hash.data(), inner_hash.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  if (!ok) std::fill(out.begin(), out.end(), 0);
  return ok;
}

bool HmacSha256::Compute(std::string_view data, std::span<unsigned char, kBytes> out) const {
  return Compute(std::span(reinterpret_cast<const unsigned char*>(data.data()), data.size()), out);
}

}  // namespace drover::sticky
