// The version of a member table: a stable hash of its content, computed the same way by the
// controller (which builds tables from pods) and by the sidecar (which builds them from the
// controller's updates or from a --peers file), so equal tables have equal versions everywhere
// and a sidecar can check that a delta it applied gives the table the controller meant.
//
//   std::vector<MemberRecord> records = ...;           // sorted by id
//   std::string v = VersionHex(MembershipVersion(records));   // "00c0ffee12345678"
//
// Canonical form hashed (StableHash): "drover-members-v1\n", then per member in id order
// "ID ADDRESS SLOTS STATE\n", ADDRESS as "1.2.3.4:80" or "[v6]:80" (inet_ntop's form), STATE
// "ready" or "draining". Versions travel as 16 lower-case hex digits: a 64-bit number does not
// survive JSON or a float gauge.
#ifndef DROVER_COMMON_MEMBERSHIP_VERSION_H_
#define DROVER_COMMON_MEMBERSHIP_VERSION_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace drover {

struct MemberRecord {
  std::string id;
  std::string address;  // canonical HOST:PORT
  uint32_t slots = 0;
  bool draining = false;
};

uint64_t MembershipVersion(std::span<const MemberRecord> sorted_by_id);

// 16 lower-case hex digits.
std::string VersionHex(uint64_t version);
// Accepts exactly 16 hex digits (either case).
absl::StatusOr<uint64_t> ParseVersionHex(std::string_view text);

}  // namespace drover

#endif  // DROVER_COMMON_MEMBERSHIP_VERSION_H_
