#include "bench/controller/host.h"

#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace drover::bench {
namespace {

constexpr size_t kProcFileLimit = 1 << 16;

std::string ProcPath(int pid, const char* file) {
  return pid == 0 ? absl::StrCat("/proc/self/", file) : absl::StrCat("/proc/", pid, "/", file);
}

}  // namespace

absl::StatusOr<int64_t> VmRssKib(int pid) {
  absl::StatusOr<std::string> text = ReadSmallFile(ProcPath(pid, "status"), kProcFileLimit);
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmRSS:")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, "kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) return kib;
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS in ", ProcPath(pid, "status")));
}

absl::StatusOr<double> CpuSeconds(int pid) {
  absl::StatusOr<std::string> text = ReadSmallFile(ProcPath(pid, "stat"), kProcFileLimit);
  if (!text.ok()) return text.status();
  // "PID (COMM) STATE ..." where COMM may hold spaces: fields count from the last ')'.
  size_t paren = text->rfind(')');
  if (paren == std::string::npos) return absl::DataLossError("unreadable /proc stat");
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(paren + 2), ' ', absl::SkipEmpty());
  // After the comm: state is field 3 of proc(5), utime 14 and stime 15.
  constexpr size_t kUtime = 14 - 3;
  constexpr size_t kStime = 15 - 3;
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() <= kStime || !absl::SimpleAtoi(fields[kUtime], &utime) ||
      !absl::SimpleAtoi(fields[kStime], &stime)) {
    return absl::DataLossError("unreadable /proc stat");
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<FileLimit> RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::InternalError("getrlimit failed");
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return FileLimit{.soft = limit.rlim_cur, .hard = limit.rlim_max};
}

absl::StatusOr<int> EphemeralPortCount() {
  absl::StatusOr<std::string> text =
      ReadSmallFile("/proc/sys/net/ipv4/ip_local_port_range", kProcFileLimit);
  if (!text.ok()) return text.status();
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(*text), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  int low = 0;
  int high = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &low) ||
      !absl::SimpleAtoi(parts[1], &high)) {
    return absl::DataLossError("unreadable ip_local_port_range");
  }
  return high - low + 1;
}

}  // namespace drover::bench
