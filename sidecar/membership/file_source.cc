#include "sidecar/membership/file_source.h"

#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/membership_version.h"
#include "prometheus/family.h"

namespace drover::membership {

FileSource::FileSource(std::string path, absl::Duration interval)
    : path_(std::move(path)), interval_(interval) {}

absl::Status FileSource::Start(SourceContext context) {
  if (started_) return absl::FailedPreconditionError("FileSource already started");
  started_ = true;
  context_ = std::move(context);
  if (context_.registry != nullptr) {
    errors_metric_ = &prometheus::BuildCounter()
                          .Name("drover_membership_file_errors_total")
                          .Help(
                              "--peers file loads that failed or were refused; the previous "
                              "member table stayed in force.")
                          .Register(*context_.registry)
                          .Add({});
  }
  absl::Status first = Poll();
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) Poll().IgnoreError();  // logged
  });
  if (!first.ok()) return {first.code(), absl::StrCat("--peers: ", first.message())};
  return absl::OkStatus();
}

void FileSource::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

FileSource::FileStamp FileSource::Stat() const {
  struct stat st {};
  FileStamp stamp;
  if (stat(path_.c_str(), &st) != 0) return stamp;
  stamp.exists = true;
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  stamp.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return stamp;
}

absl::Status FileSource::Poll() {
  // A file that changes while it is read is read again, a few times, then left for the next poll.
  for (int attempt = 0; attempt < 3; ++attempt) {
    FileStamp before = Stat();
    if (last_stamp_.has_value() && *last_stamp_ == before) return absl::OkStatus();
    absl::StatusOr<std::shared_ptr<const sticky::MemberTable>> table =
        sticky::MemberTable::Load(path_);
    if (Stat() != before) continue;
    last_stamp_ = before;
    absl::Status status = table.status();
    if (status.ok() && applied_version_ != (*table)->version()) {
      const uint64_t version = (*table)->version();
      status = context_.apply(*std::move(table));
      if (status.ok()) applied_version_ = version;
    }
    if (!status.ok()) {
      load_errors_.fetch_add(1, std::memory_order_relaxed);
      if (errors_metric_ != nullptr) errors_metric_->Increment();
      std::string kept =
          applied_version_.has_value()
              ? absl::StrCat("keeping member table version ", VersionHex(*applied_version_))
              : std::string("no member table yet");
      std::fprintf(stderr, "drover-sidecar: peers file reload failed: %s; %s\n",
                   std::string(status.message()).c_str(), kept.c_str());
    }
    return status;
  }
  return absl::UnavailableError(absl::StrCat("peers file ", path_, " kept changing while read"));
}

}  // namespace drover::membership
