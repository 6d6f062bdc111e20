// Bridges std::string_view and Debian's Abseil, whose absl::string_view is its own type
// (built without ABSL_USES_STD_STRING_VIEW), plus the few string helpers the hot path needs.
//
//   absl::StrCat("bad request: ", drover::AsAbsl(name));
//   drover::EqualsIgnoreCase(field, "content-length");
#ifndef DROVER_COMMON_STRINGS_H_
#define DROVER_COMMON_STRINGS_H_

#include <cstddef>
#include <string_view>

#include "absl/strings/string_view.h"

namespace drover {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

// ASCII case-insensitive equality; field names are ASCII tokens.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}

}  // namespace drover

#endif  // DROVER_COMMON_STRINGS_H_
