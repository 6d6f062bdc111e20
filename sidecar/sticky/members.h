// The member table: the peers of this sidecar (pods, each with a peer listener and a number of
// worker slots), from the static `--peers=FILE`, as immutable snapshots that data-path threads
// share, and a watcher that reloads the file when it changes.
//
//   std::atomic<std::shared_ptr<const MemberTable>> members;  // read by every data-path thread
//   MemberFileWatcher watcher("/etc/drover/peers", absl::Seconds(2),
//                             [&](std::shared_ptr<const MemberTable> table) {
//                               members.store(std::move(table));
//                             });
//   if (absl::Status s = watcher.Start(); !s.ok()) return s;  // a bad file at start-up is fatal
//   ...
//   std::shared_ptr<const MemberTable> table = members.load();
//   if (const Member* owner = table->Find(cookie.member)) Forward(owner->peer_address);
//
// File format, one member per line; '#' starts a comment, blank lines are ignored:
//
//   # ID        HOST:PORT          SLOTS
//   web-0       10.0.0.5:7001      4
//   web-1       [fd00::6]:7001     4
//
// ID is the pod name ([A-Za-z0-9._-], at most 253 characters, unique), HOST:PORT the member's
// peer listener (an IPv4 literal, "localhost" or [IPv6], with a non-zero port), SLOTS its worker
// count (1..1024); slots are numbered 0..SLOTS-1. Each error names the file, the line and what
// is wrong. A file without members is an error: every sidecar is at least its own member, so
// an empty file is a mistake (or a half-written file), not a membership.
#ifndef DROVER_SIDECAR_STICKY_MEMBERS_H_
#define DROVER_SIDECAR_STICKY_MEMBERS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "sidecar/net/socket.h"
#include "sidecar/sticky/hash.h"
#include "sidecar/sticky/maglev.h"

namespace drover::sticky {

struct Member {
  std::string id;     // the pod name
  uint32_t hash = 0;  // MemberHash(id), what cookies carry
  net::SocketAddress peer_address;
  int slots = 0;
};

// An immutable snapshot; share it as std::shared_ptr<const MemberTable>.
class MemberTable {
 public:
  static constexpr int kMaxSlots = 1024;
  static constexpr size_t kMaxIdLength = 253;

  // `source_name` (usually the path) prefixes every error: "peers:3: bad slots '0': ...".
  static absl::StatusOr<std::shared_ptr<const MemberTable>> Parse(std::string_view text,
                                                                  std::string_view source_name);
  static absl::StatusOr<std::shared_ptr<const MemberTable>> Load(const std::string& path);

  // nullptr if absent.
  const Member* Find(uint32_t member_hash) const;
  const Member* FindById(std::string_view id) const;
  // Sorted by id, whatever the order in the file, so equal memberships are equal tables.
  std::span<const Member> members() const { return members_; }
  // Every (member, slot) of the table, in members() order, slots ascending.
  std::vector<Target> Targets() const;
  // StableHash of the normalized content (members sorted by id, addresses in canonical form):
  // unchanged by comments, whitespace or line order; equal on every sidecar with the same
  // membership.
  uint64_t version() const { return version_; }
  // The hash modes' Maglev table over Targets(), built by the first caller (~40 ms and 4.3 MiB
  // at 40,000 targets; concurrent callers wait for it) and then shared by every thread holding
  // this snapshot: once per snapshot, not once per event-loop thread. Thread-safe.
  std::shared_ptr<const MaglevTable> maglev() const {
    std::call_once(maglev_once_, [this] {
      maglev_ = std::make_shared<const MaglevTable>(MaglevTable::Build(Targets()));
    });
    return maglev_;
  }

 private:
  MemberTable() = default;

  std::vector<Member> members_;
  std::vector<std::pair<uint32_t, uint32_t>> by_hash_;  // (hash, index in members_), sorted
  uint64_t version_ = 0;
  mutable std::once_flag maglev_once_;
  mutable std::shared_ptr<const MaglevTable> maglev_;  // written once, inside maglev_once_
};

// Polls the file's inode, size, mtime and ctime every `interval` on its own thread; on a change
// it loads the file and, when the content's version differs from the last table delivered, calls
// on_change with the new table. A bad file keeps the previous table, logs one line to stderr
// naming the error and counts in load_errors(). Writers should replace the file atomically
// (write elsewhere, then rename, as Kubernetes volume updates do); a file that changes while it
// is read is read again.
class MemberFileWatcher {
 public:
  using OnChange = std::function<void(std::shared_ptr<const MemberTable>)>;

  MemberFileWatcher(std::string path, absl::Duration interval, OnChange on_change);
  ~MemberFileWatcher() { Stop(); }
  MemberFileWatcher(const MemberFileWatcher&) = delete;
  MemberFileWatcher& operator=(const MemberFileWatcher&) = delete;

  // Loads the file once on the calling thread (calling on_change there if it is good), then
  // starts polling. Returns that first load's error, if any; polling runs either way and
  // delivers the first good version. Call once; on_change runs on the watcher's thread after.
  absl::Status Start();
  // Stops and joins the thread; idempotent. The watcher cannot be started again.
  void Stop();

  // Loads that failed since construction (one per distinct bad file state), for a metric.
  uint64_t load_errors() const { return load_errors_.load(std::memory_order_relaxed); }

 private:
  struct FileStamp {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  FileStamp Stat() const;
  absl::Status Poll();

  const std::string path_;
  const absl::Duration interval_;
  const OnChange on_change_;
  absl::Notification stop_;
  std::thread thread_;
  bool started_ = false;
  // Touched by Start() before the thread exists, then by the thread only.
  std::optional<FileStamp> last_stamp_;
  std::optional<uint64_t> delivered_version_;
  std::atomic<uint64_t> load_errors_{0};
};

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_MEMBERS_H_
