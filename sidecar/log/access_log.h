// Access logs (--access-log=text|json): one line per request on stdout, written without ever
// blocking an event-loop thread.
//
//   AccessLog log(AccessLogFormat::kJson, STDOUT_FILENO, /*threads=*/2);
//   log.Start();                                  // the writer thread
//   log.buffer(thread_index).Append(entry);       // on a loop thread: format, then a short lock
//   log.Stop();                                   // writes what is left
//
// Each loop thread formats its lines into a buffer of its own; a writer thread swaps the buffers
// out every few milliseconds and writes them. A line is appended whole and written whole, in
// writes of at most PIPE_BUF bytes cut at line ends, so lines from several threads never
// interleave, even with other writers on the same pipe. A buffer holds at most
// kMaxBufferedBytes: when the output cannot keep up, lines are dropped and counted
// by the loop thread (drover_access_log_dropped_total) instead of waiting.
#ifndef DROVER_SIDECAR_LOG_ACCESS_LOG_H_
#define DROVER_SIDECAR_LOG_ACCESS_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace drover::log {

enum class AccessLogFormat : uint8_t { kOff, kText, kJson };
absl::StatusOr<AccessLogFormat> ParseAccessLogFormat(std::string_view text);

// What one request's line says. Times are microseconds; -1: that step did not happen (no
// queue wait, no connect).
struct AccessLogEntry {
  int64_t unix_ms = 0;  // when the request head arrived
  std::string_view client;
  std::string_view method;
  std::string_view path;
  int status = 0;
  uint64_t bytes_in = 0;   // from the client: head and body
  uint64_t bytes_out = 0;  // to the client: head and body
  std::string_view member;
  int slot = -1;  // the worker slot (backend index) that served it; -1: none (local answer, peer)
  std::string_view sticky;  // the sticky decision, "-" with --sticky=none
  int64_t queue_us = -1;
  int64_t connect_us = -1;
  int64_t response_us = -1;  // from the request's start to the response head
  int64_t total_us = 0;
};

// Appends `entry` as one line (with its newline).
void FormatAccessLogLine(AccessLogFormat format, const AccessLogEntry& entry, std::string& out);

class AccessLogBuffer {
 public:
  static constexpr size_t kMaxBufferedBytes = 4 << 20;
  // False when the line was dropped (the buffer is full: the output does not keep up).
  bool Append(AccessLogFormat format, const AccessLogEntry& entry);
  // The writer's side: `out` becomes what was appended since the last call (a swap: the loop
  // thread waits for no copy).
  void Swap(std::string& out);

 private:
  std::string line_;  // the loop thread's scratch space
  absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
};

class AccessLog {
 public:
  AccessLog(AccessLogFormat format, int fd, int threads);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  void Start();
  void Stop();
  AccessLogFormat format() const { return format_; }
  AccessLogBuffer& buffer(int thread) { return *buffers_[static_cast<size_t>(thread)]; }

 private:
  void Run();
  void WriteOut(std::string_view data);

  const AccessLogFormat format_;
  const int fd_;
  std::vector<std::unique_ptr<AccessLogBuffer>> buffers_;
  absl::Notification stop_;
  std::thread writer_;
};

}  // namespace drover::log

#endif  // DROVER_SIDECAR_LOG_ACCESS_LOG_H_
