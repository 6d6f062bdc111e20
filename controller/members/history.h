// The recent versions of one group's table, so a sidecar that reconnects holding one of them
// (or that is a few versions behind on a slow stream) gets a delta instead of the whole table.
//
//   VersionHistory history(/*capacity=*/32);
//   history.Add(table, absl::Now());
//   if (auto base = history.Find(sidecar_version)) delta = ComputeDelta(*base, *history.latest());
//   else send the full table;
#ifndef DROVER_CONTROLLER_MEMBERS_HISTORY_H_
#define DROVER_CONTROLLER_MEMBERS_HISTORY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/members/membership.h"

namespace drover::members {

class VersionHistory {
 public:
  explicit VersionHistory(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Adds a new latest version; the oldest one beyond the capacity is forgotten. Adding the
  // version that is already the latest changes nothing.
  void Add(std::shared_ptr<const GroupTable> table, absl::Time created);
  // nullptr when the version is not (or no longer) held.
  std::shared_ptr<const GroupTable> Find(uint64_t version) const;
  // When `version` was created (published), if it is held.
  std::optional<absl::Time> CreatedAt(uint64_t version) const;
  std::shared_ptr<const GroupTable> latest() const {
    return entries_.empty() ? nullptr : entries_.back().table;
  }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::shared_ptr<const GroupTable> table;
    absl::Time created;
  };
  const Entry* FindEntry(uint64_t version) const;

  size_t capacity_;
  std::deque<Entry> entries_;  // oldest first
};

// What turns `from` into `to`: members added or changed (pointers into `to`), ids removed.
struct Delta {
  std::vector<const MemberEntry*> changed;
  std::vector<std::string> removed;
};
Delta ComputeDelta(const GroupTable& from, const GroupTable& to);

}  // namespace drover::members

#endif  // DROVER_CONTROLLER_MEMBERS_HISTORY_H_
