#include "common/stable_hash.h"

namespace drover {
namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

}  // namespace

uint64_t StableHash(std::string_view bytes) {
  uint64_t h = kFnvOffsetBasis;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return Fmix64(h);
}

}  // namespace drover
