#include "sidecar/log/access_log.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/strings.h"

namespace drover::log {

absl::StatusOr<AccessLogFormat> ParseAccessLogFormat(std::string_view text) {
  if (text == "off" || text.empty()) return AccessLogFormat::kOff;
  if (text == "text") return AccessLogFormat::kText;
  if (text == "json") return AccessLogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format '", AsAbsl(text), "': want off, text or json"));
}

namespace {

// Milliseconds with microsecond precision; `absent` when the step did not happen.
void AppendMs(std::string& out, int64_t us, std::string_view absent) {
  if (us < 0) {
    out.append(absent);
    return;
  }
  absl::StrAppendFormat(&out, "%d.%03d", us / 1000, us % 1000);
}

void AppendTime(std::string& out, int64_t unix_ms) {
  out.append(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone()));
}

}  // namespace

void FormatAccessLogLine(AccessLogFormat format, const AccessLogEntry& e, std::string& out) {
  if (format == AccessLogFormat::kJson) {
    out.append("{\"time\":\"");
    AppendTime(out, e.unix_ms);
    out.append("\",\"client\":");
    AppendJsonString(out, e.client);
    out.append(",\"method\":");
    AppendJsonString(out, e.method);
    out.append(",\"path\":");
    AppendJsonString(out, e.path);
    absl::StrAppend(&out, ",\"status\":", e.status, ",\"bytes_in\":", e.bytes_in,
                    ",\"bytes_out\":", e.bytes_out, ",\"member\":");
    AppendJsonString(out, e.member);
    out.append(",\"slot\":");
    if (e.slot >= 0) {
      absl::StrAppend(&out, e.slot);
    } else {
      out.append("null");
    }
    out.append(",\"sticky\":");
    AppendJsonString(out, e.sticky);
    out.append(",\"queue_ms\":");
    AppendMs(out, e.queue_us, "null");
    out.append(",\"connect_ms\":");
    AppendMs(out, e.connect_us, "null");
    out.append(",\"response_ms\":");
    AppendMs(out, e.response_us, "null");
    out.append(",\"total_ms\":");
    AppendMs(out, e.total_us, "null");
    out.append("}\n");
    return;
  }
  // HAProxy's httplog, compacted: who, what, answer, sizes, where, and the timers.
  AppendTime(out, e.unix_ms);
  absl::StrAppend(&out, " ", AsAbsl(e.client), " \"", AsAbsl(e.method), " ");
  // The quotes around the request stay unambiguous: a quote in the target is written as %22.
  for (char c : e.path) {
    if (c == '"') {
      out.append("%22");
    } else {
      out.push_back(c);
    }
  }
  absl::StrAppend(&out, "\" ", e.status, " ", e.bytes_in, " ", e.bytes_out, " ", AsAbsl(e.member),
                  "/");
  if (e.slot >= 0) {
    absl::StrAppend(&out, e.slot);
  } else {
    out.push_back('-');
  }
  absl::StrAppend(&out, " ", AsAbsl(e.sticky), " Tw=");
  AppendMs(out, e.queue_us, "-");
  out.append(" Tc=");
  AppendMs(out, e.connect_us, "-");
  out.append(" Tr=");
  AppendMs(out, e.response_us, "-");
  out.append(" Tt=");
  AppendMs(out, e.total_us, "-");
  out.push_back('\n');
}

bool AccessLogBuffer::Append(AccessLogFormat format, const AccessLogEntry& entry) {
  line_.clear();
  FormatAccessLogLine(format, entry, line_);
  absl::MutexLock lock(&mu_);
  if (pending_.size() + line_.size() > kMaxBufferedBytes) {
    return false;
  }
  pending_.append(line_);
  return true;
}

void AccessLogBuffer::Swap(std::string& out) {
  out.clear();  // its capacity becomes the loop thread's next buffer
  absl::MutexLock lock(&mu_);
  pending_.swap(out);
}

AccessLog::AccessLog(AccessLogFormat format, int fd, int threads) : format_(format), fd_(fd) {
  for (int i = 0; i < threads; ++i) buffers_.push_back(std::make_unique<AccessLogBuffer>());
}

AccessLog::~AccessLog() { Stop(); }

void AccessLog::Start() {
  writer_ = std::thread([this] { Run(); });
}

void AccessLog::Stop() {
  if (!writer_.joinable()) return;
  stop_.Notify();
  writer_.join();
}

void AccessLog::Run() {
  std::string out;
  for (;;) {
    const bool stopping = stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20));
    for (auto& b : buffers_) {
      b->Swap(out);
      WriteOut(out);
    }
    if (stopping) return;
  }
}

void AccessLog::WriteOut(std::string_view data) {
  int stalled_polls = 0;
  while (!data.empty()) {
    // Whole lines, at most PIPE_BUF bytes at a time (a longer line goes alone), so each write
    // is atomic on a pipe that others (the workers' relayed output) write to as well.
    size_t n = data.size();
    if (n > PIPE_BUF) {
      size_t end = data.rfind('\n', PIPE_BUF - 1);
      n = end == std::string_view::npos ? data.find('\n') : end;
      n = n == std::string_view::npos ? data.size() : n + 1;
    }
    std::string_view chunk = data.substr(0, n);
    while (!chunk.empty()) {
      // A reader that stopped reading must not keep the sidecar from exiting: once stopping,
      // what cannot be written within a second is dropped.
      pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
      int ready = poll(&p, 1, 100);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        if (stop_.HasBeenNotified() && ++stalled_polls > 10) return;
        continue;
      }
      ssize_t w = write(fd_, chunk.data(), chunk.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return;  // stdout is gone: nothing to write to
      }
      chunk.remove_prefix(static_cast<size_t>(w));
    }
    data.remove_prefix(n);
  }
}

}  // namespace drover::log
