#include "controller/members/history.h"

#include <algorithm>
#include <utility>

namespace drover::members {

void VersionHistory::Add(std::shared_ptr<const GroupTable> table, absl::Time created) {
  if (!entries_.empty() && entries_.back().table->version == table->version) return;
  entries_.push_back({std::move(table), created});
  while (entries_.size() > capacity_) entries_.pop_front();
}

const VersionHistory::Entry* VersionHistory::FindEntry(uint64_t version) const {
  // Newest first: a reconnecting sidecar is usually one or two versions behind.
  auto it = std::find_if(entries_.rbegin(), entries_.rend(),
                         [version](const Entry& e) { return e.table->version == version; });
  return it == entries_.rend() ? nullptr : &*it;
}

std::shared_ptr<const GroupTable> VersionHistory::Find(uint64_t version) const {
  const Entry* entry = FindEntry(version);
  return entry == nullptr ? nullptr : entry->table;
}

std::optional<absl::Time> VersionHistory::CreatedAt(uint64_t version) const {
  const Entry* entry = FindEntry(version);
  if (entry == nullptr) return std::nullopt;
  return entry->created;
}

Delta ComputeDelta(const GroupTable& from, const GroupTable& to) {
  // Both tables are sorted by id: one merge pass.
  Delta delta;
  auto a = from.members.begin();
  auto b = to.members.begin();
  while (a != from.members.end() || b != to.members.end()) {
    if (b == to.members.end() || (a != from.members.end() && a->id < b->id)) {
      delta.removed.push_back(a->id);
      ++a;
    } else if (a == from.members.end() || b->id < a->id) {
      delta.changed.push_back(&*b);
      ++b;
    } else {
      if (!(a->address == b->address && a->slots == b->slots && a->draining == b->draining)) {
        delta.changed.push_back(&*b);
      }
      ++a;
      ++b;
    }
  }
  return delta;
}

}  // namespace drover::members
