#include "sidecar/supervisor/log_relay.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/strings.h"

namespace drover::supervisor {

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format '", AsAbsl(text), "': want text or json"));
}

std::string FormatLogLine(LogFormat format, std::string_view line, int slot, pid_t pid,
                          LogStream stream) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (format == LogFormat::kText) {
    return absl::StrCat("[worker ", slot, "] ", AsAbsl(line), "\n");
  }
  std::string out = absl::StrCat(
      "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      "\",\"worker\":", slot, ",\"pid\":", pid, ",\"stream\":\"",
      stream == LogStream::kStdout ? "stdout" : "stderr", "\",\"message\":");
  AppendJsonString(out, line);
  out += "}\n";
  return out;
}

void LogRelay::Emit(std::string_view line, int slot, pid_t pid, LogStream stream) const {
  std::string formatted = FormatLogLine(format_, line, slot, pid, stream);
  int fd = stream == LogStream::kStdout ? 1 : 2;
  std::string_view rest = formatted;
  while (!rest.empty()) {
    ssize_t n = write(fd, rest.data(), rest.size());
    if (n <= 0) return;  // our own output is gone: nothing better to do with the line
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

void LogRelay::Feed(std::string& pending, std::string_view bytes, int slot, pid_t pid,
                    LogStream stream) const {
  while (!bytes.empty()) {
    size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      pending.append(bytes);
      if (pending.size() >= kMaxLine) {
        Emit(pending, slot, pid, stream);
        pending.clear();
      }
      return;
    }
    if (pending.empty()) {
      Emit(bytes.substr(0, newline), slot, pid, stream);
    } else {
      pending.append(bytes.substr(0, newline));
      Emit(pending, slot, pid, stream);
      pending.clear();
    }
    bytes.remove_prefix(newline + 1);
  }
}

void LogRelay::Flush(std::string& pending, int slot, pid_t pid, LogStream stream) const {
  if (!pending.empty()) Emit(pending, slot, pid, stream);
  pending.clear();
}

}  // namespace drover::supervisor
