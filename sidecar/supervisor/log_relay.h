// Passes worker output through line by line, tagged with the worker's slot: as
// "[worker 2] listening" (text) or as one JSON object per line (json), each written with one
// write() so lines from different workers never interleave.
//
//   LogRelay relay(LogFormat::kJson);
//   relay.Feed(stream_state, bytes, /*slot=*/2, pid, LogStream::kStdout);
//   relay.Flush(stream_state, 2, pid, LogStream::kStdout);   // at EOF: the unterminated rest
#ifndef DROVER_SIDECAR_SUPERVISOR_LOG_RELAY_H_
#define DROVER_SIDECAR_SUPERVISOR_LOG_RELAY_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace drover::supervisor {

enum class LogFormat { kText, kJson };
enum class LogStream { kStdout, kStderr };

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text);

// Formats one line for output, newline included.
std::string FormatLogLine(LogFormat format, std::string_view line, int slot, pid_t pid,
                          LogStream stream);

class LogRelay {
 public:
  // A partial line longer than this is emitted as it is rather than held.
  static constexpr size_t kMaxLine = 16 * 1024;

  explicit LogRelay(LogFormat format) : format_(format) {}
  // `pending` holds this stream's unterminated tail between calls.
  void Feed(std::string& pending, std::string_view bytes, int slot, pid_t pid,
            LogStream stream) const;
  void Flush(std::string& pending, int slot, pid_t pid, LogStream stream) const;

 private:
  void Emit(std::string_view line, int slot, pid_t pid, LogStream stream) const;
  LogFormat format_;
};

}  // namespace drover::supervisor

#endif  // DROVER_SIDECAR_SUPERVISOR_LOG_RELAY_H_
