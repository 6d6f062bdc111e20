#include "common/membership_version.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/stable_hash.h"
#include "common/strings.h"

namespace drover {

uint64_t MembershipVersion(std::span<const MemberRecord> sorted_by_id) {
  std::string canonical = "drover-members-v1\n";
  for (const MemberRecord& m : sorted_by_id) {
    absl::StrAppend(&canonical, m.id, " ", m.address, " ", m.slots, " ",
                    m.draining ? "draining" : "ready", "\n");
  }
  return StableHash(canonical);
}

std::string VersionHex(uint64_t version) { return absl::StrFormat("%016x", version); }

absl::StatusOr<uint64_t> ParseVersionHex(std::string_view text) {
  if (text.size() != 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("version '", AsAbsl(text), "' is not 16 hex digits"));
  }
  uint64_t value = 0;
  for (char c : text) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("version '", AsAbsl(text), "' is not 16 hex digits"));
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace drover
