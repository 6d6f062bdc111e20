// The "file" membership source: the member table from `--peers=FILE` (format in
// sidecar/sticky/members.h), reloaded when the file changes.
//
//   auto source = std::make_unique<FileSource>("/etc/drover/peers", absl::Seconds(1));
//   auto sidecar = Sidecar::Create(options, std::move(source));  // Start()s it
//
// Polls the file's inode, size, mtime and ctime every `interval` on its own thread; on a change
// it loads the file and, when the content's version differs from the last table it applied,
// applies the new table. A bad file (or a table the sidecar refuses) keeps the previous table,
// logs one line to stderr naming the error and counts in
// drover_membership_file_errors_total. Writers should replace the file atomically (write
// elsewhere, then rename, as Kubernetes volume updates do); a file that changes while it is read
// is read again.
#ifndef DROVER_SIDECAR_MEMBERSHIP_FILE_SOURCE_H_
#define DROVER_SIDECAR_MEMBERSHIP_FILE_SOURCE_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "sidecar/membership/source.h"

namespace drover::membership {

class FileSource : public MembershipSource {
 public:
  FileSource(std::string path, absl::Duration interval);
  ~FileSource() override { Stop(); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  std::string_view name() const override { return "file"; }
  // Loads and applies the file once on the calling thread, then starts polling. Returns that
  // first load's error, prefixed "--peers: " (fatal at start); polling runs either way and
  // applies the first good version. Call once.
  absl::Status Start(SourceContext context) override;
  // Stops and joins the thread; idempotent. The source cannot be started again.
  void Stop() override;

  // Loads that failed or were refused since construction (one per distinct bad file state).
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
  SourceContext context_;
  prometheus::Counter* errors_metric_ = nullptr;
  absl::Notification stop_;
  std::thread thread_;
  bool started_ = false;
  // Touched by Start() before the thread exists, then by the thread only.
  std::optional<FileStamp> last_stamp_;
  std::optional<uint64_t> applied_version_;
  std::atomic<uint64_t> load_errors_{0};
};

}  // namespace drover::membership

#endif  // DROVER_SIDECAR_MEMBERSHIP_FILE_SOURCE_H_
