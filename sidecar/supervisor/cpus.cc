#include "sidecar/supervisor/cpus.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace drover::supervisor {
namespace {

// Far above any kernel's NR_CPUS; bounds what a corrupt "0-4000000000" can make us allocate.
constexpr int kMaxCpuId = 1 << 16;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::ErrnoToStatus(err, path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

bool IsAllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Quotes file contents for the reason line: short, one line, printable.
std::string Quote(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  constexpr size_t kMax = 40;
  std::string shown = absl::CHexEscape(text.substr(0, kMax));
  return absl::StrCat("\"", shown, text.size() > kMax ? "..." : "", "\"");
}

absl::StatusOr<std::vector<int>> ReadAffinity() {
  // The mask may be wider than the default cpu_set_t on big machines; the kernel says EINVAL when
  // the buffer is too small for its nr_cpu_ids, so grow until it fits.
  for (int n = 1024; n <= kMaxCpuId; n *= 2) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (set == nullptr) return absl::ResourceExhaustedError("CPU_ALLOC failed");
    size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) == 0) {
      std::vector<int> cpus;
      for (int cpu = 0; cpu < n; ++cpu) {
        if (CPU_ISSET_S(cpu, size, set)) cpus.push_back(cpu);
      }
      CPU_FREE(set);
      return cpus;
    }
    int err = errno;
    CPU_FREE(set);
    if (err != EINVAL) return absl::ErrnoToStatus(err, "sched_getaffinity");
  }
  return absl::InternalError("sched_getaffinity: mask wider than any supported CPU count");
}

// A CFS quota: `quota` microseconds of CPU time every `period` microseconds.
struct CpuQuota {
  int64_t quota = 0;
  int64_t period = 0;
  std::string files;  // "cgroup v2 cpu.max"
  std::string where;  // the cgroup that sets it, e.g. "/kubepods/pod1"
  double Cpus() const { return static_cast<double>(quota) / static_cast<double>(period); }
};

struct CgroupLimits {
  std::string source;  // "cgroup v2", "cgroup v1", or empty when no cgroup was found
  std::optional<std::vector<int>> cpuset;
  std::optional<CpuQuota> quota;
  std::vector<std::string> notes;

  void Tighten(CpuQuota q) {
    if (!quota || q.Cpus() < quota->Cpus()) quota = std::move(q);
  }
};

// One line of /proc/self/cgroup: "hierarchy-id:controller,list:/path".
struct CgroupLine {
  std::string controllers;
  std::string path;
};

struct ProcCgroup {
  std::optional<std::string> unified_path;  // from the "0::/path" line
  std::vector<CgroupLine> v1;
};

ProcCgroup ParseProcCgroup(absl::string_view text) {
  ProcCgroup out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    // The path is everything after the second colon; it may itself contain colons.
    size_t first = line.find(':');
    if (first == absl::string_view::npos) continue;
    size_t second = line.find(':', first + 1);
    if (second == absl::string_view::npos) continue;
    absl::string_view id = line.substr(0, first);
    absl::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string path(absl::StripTrailingAsciiWhitespace(line.substr(second + 1)));
    if (id == "0" && controllers.empty()) {
      out.unified_path = std::move(path);
    } else {
      out.v1.push_back({std::string(controllers), std::move(path)});
    }
  }
  return out;
}

const CgroupLine* FindController(const ProcCgroup& proc, absl::string_view controller) {
  for (const CgroupLine& line : proc.v1) {
    for (absl::string_view c : absl::StrSplit(line.controllers, ',')) {
      if (c == controller) return &line;
    }
  }
  return nullptr;
}

// The cgroup's directory relative to `mount` ("" is the mount itself). In a container with its
// own cgroup namespace /proc/self/cgroup says "/", and without one it names a host path that does
// not exist in the container's view, where the mount already is the container's cgroup: both
// mean the mount root.
std::string ResolveCgroup(const std::string& mount, absl::string_view path,
                          std::vector<std::string>& notes) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  std::string rel = absl::StrJoin(parts, "/");
  if (rel.empty()) return rel;
  bool escapes = std::find(parts.begin(), parts.end(), "..") != parts.end();
  if (escapes || !IsDirectory(absl::StrCat(mount, "/", rel))) {
    notes.push_back(absl::StrCat("cgroup /", rel, " not under ", mount, ", used its root"));
    return "";
  }
  return rel;
}

// `rel` and each of its ancestors, leaf first, ending with "" (the mount root).
std::vector<std::string> SelfAndAncestors(const std::string& rel) {
  std::vector<std::string> out;
  std::string cur = rel;
  for (;;) {
    out.push_back(cur);
    if (cur.empty()) break;
    size_t slash = cur.rfind('/');
    cur = slash == std::string::npos ? "" : cur.substr(0, slash);
  }
  return out;
}

std::string Dir(const std::string& mount, const std::string& rel) {
  return rel.empty() ? mount : absl::StrCat(mount, "/", rel);
}

// Reads one cgroup file. nullopt when it does not exist (the controller is not enabled there, a
// normal case) or cannot be read (noted).
std::optional<std::string> ReadCgroupFile(const std::string& path, CgroupLimits& limits) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (text.ok()) return *std::move(text);
  if (!absl::IsNotFound(text.status())) {
    limits.notes.push_back(absl::StrCat("ignored ", text.status().message()));
  }
  return std::nullopt;
}

// The nearest cgroup, leaf first, whose cpuset file (the first of `names` that exists) parses to
// a non-empty list. An ancestor's cpuset always contains its children's, so skipping a bad file
// only loosens the limit.
void ReadCpuset(const std::string& mount, const std::string& rel,
                const std::vector<std::string>& names, CgroupLimits& limits) {
  for (const std::string& cgroup : SelfAndAncestors(rel)) {
    for (const std::string& name : names) {
      std::string path = absl::StrCat(Dir(mount, cgroup), "/", name);
      std::optional<std::string> text = ReadCgroupFile(path, limits);
      if (!text) continue;
      absl::StatusOr<std::vector<int>> cpus = ParseCpuList(*text);
      if (!cpus.ok() || cpus->empty()) {
        limits.notes.push_back(absl::StrCat("ignored ", path, ": malformed ", Quote(*text)));
        continue;
      }
      limits.cpuset = *std::move(cpus);
      return;
    }
  }
}

// "max 100000" (no limit) or "QUOTA PERIOD".
absl::StatusOr<std::optional<std::pair<int64_t, int64_t>>> ParseCpuMax(absl::string_view text) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
  int64_t quota = 0;
  int64_t period = 0;
  if (fields.size() != 2 || !IsAllDigits(fields[1]) || !absl::SimpleAtoi(fields[1], &period) ||
      period <= 0) {
    return absl::InvalidArgumentError("want QUOTA PERIOD or max PERIOD");
  }
  if (fields[0] == "max") return std::nullopt;
  if (!IsAllDigits(fields[0]) || !absl::SimpleAtoi(fields[0], &quota) || quota <= 0) {
    return absl::InvalidArgumentError("bad quota");
  }
  return std::make_pair(quota, period);
}

void ReadV2(const CpuEnvironment& env, absl::string_view path, CgroupLimits& limits) {
  limits.source = "cgroup v2";
  const std::string& root = env.cgroup_root;
  std::string rel = ResolveCgroup(root, path, limits.notes);
  for (const std::string& cgroup : SelfAndAncestors(rel)) {
    std::string file = absl::StrCat(Dir(root, cgroup), "/cpu.max");
    std::optional<std::string> text = ReadCgroupFile(file, limits);
    if (!text) continue;
    absl::StatusOr<std::optional<std::pair<int64_t, int64_t>>> max = ParseCpuMax(*text);
    if (!max.ok()) {
      limits.notes.push_back(absl::StrCat("ignored ", file, ": malformed ", Quote(*text)));
      continue;
    }
    if (!max->has_value()) continue;
    limits.Tighten({(*max)->first, (*max)->second, "cgroup v2 cpu.max", absl::StrCat("/", cgroup)});
  }
  // Effective already folds in every ancestor's cpuset; a cgroup without the cpuset controller
  // has no such file and uses its parent's.
  ReadCpuset(root, rel, {"cpuset.cpus.effective"}, limits);
}

// The first existing directory among the conventional names of the v1 hierarchy that holds
// `line`'s controllers.
std::optional<std::string> FindV1Mount(const std::string& cgroup_root, const CgroupLine& line,
                                       const std::vector<std::string>& names) {
  std::vector<std::string> candidates = {line.controllers};
  candidates.insert(candidates.end(), names.begin(), names.end());
  for (const std::string& name : candidates) {
    std::string dir = absl::StrCat(cgroup_root, "/", name);
    if (IsDirectory(dir)) return dir;
  }
  return std::nullopt;
}

std::optional<int64_t> ReadV1Int(const std::string& path, CgroupLimits& limits) {
  std::optional<std::string> text = ReadCgroupFile(path, limits);
  if (!text) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) {
    limits.notes.push_back(absl::StrCat("ignored ", path, ": malformed ", Quote(*text)));
    return std::nullopt;
  }
  return value;
}

void ReadV1(const CpuEnvironment& env, const ProcCgroup& proc, CgroupLimits& limits) {
  limits.source = "cgroup v1";
  if (const CgroupLine* line = FindController(proc, "cpu")) {
    std::optional<std::string> mount =
        FindV1Mount(env.cgroup_root, *line, {"cpu,cpuacct", "cpuacct,cpu", "cpu"});
    if (mount) {
      std::string rel = ResolveCgroup(*mount, line->path, limits.notes);
      // v1 enforces every ancestor's quota too, just like v2.
      for (const std::string& cgroup : SelfAndAncestors(rel)) {
        std::string dir = Dir(*mount, cgroup);
        std::string quota_file = absl::StrCat(dir, "/cpu.cfs_quota_us");
        std::optional<int64_t> quota = ReadV1Int(quota_file, limits);
        if (!quota || *quota == -1) continue;
        if (*quota <= 0) {
          limits.notes.push_back(absl::StrCat("ignored ", quota_file, ": quota ", *quota));
          continue;
        }
        std::string period_file = absl::StrCat(dir, "/cpu.cfs_period_us");
        std::optional<int64_t> period = ReadV1Int(period_file, limits);
        if (!period || *period <= 0) {
          if (period) limits.notes.push_back(absl::StrCat("ignored ", period_file, ": ", *period));
          continue;
        }
        limits.Tighten({*quota, *period, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us",
                        absl::StrCat("/", cgroup)});
      }
    } else {
      limits.notes.push_back(absl::StrCat("no cgroup v1 cpu mount under ", env.cgroup_root));
    }
  }
  if (const CgroupLine* line = FindController(proc, "cpuset")) {
    std::optional<std::string> mount = FindV1Mount(env.cgroup_root, *line, {"cpuset"});
    if (mount) {
      std::string rel = ResolveCgroup(*mount, line->path, limits.notes);
      ReadCpuset(*mount, rel, {"cpuset.effective_cpus", "cpuset.cpus"}, limits);
    } else {
      limits.notes.push_back(absl::StrCat("no cgroup v1 cpuset mount under ", env.cgroup_root));
    }
  }
}

CgroupLimits ReadCgroupLimits(const CpuEnvironment& env) {
  CgroupLimits limits;
  absl::StatusOr<std::string> text = ReadFile(env.proc_self_cgroup);
  if (!text.ok()) {
    limits.notes.push_back(absl::StrCat("ignored ", text.status().message()));
    return limits;
  }
  ProcCgroup proc = ParseProcCgroup(*text);
  // A hybrid host lists "0::/" too but mounts cgroup2 elsewhere without the cpu controllers; only
  // cgroup.controllers at the root proves the unified hierarchy is the one mounted there.
  if (proc.unified_path && ReadFile(absl::StrCat(env.cgroup_root, "/cgroup.controllers")).ok()) {
    ReadV2(env, *proc.unified_path, limits);
  } else if (!proc.v1.empty()) {
    ReadV1(env, proc, limits);
  }
  return limits;
}

// Ranks each CPU by how many allowed CPUs of the same physical core come before it, so every
// core's first usable thread is handed out before any core's second. Ranking among *allowed*
// siblings matters: if the cpuset holds only cpu1 of core {0,1}, cpu1 is that core's first.
std::vector<int> OrderForPinning(const std::vector<int>& cpus, const std::string& sys_cpu_root) {
  std::vector<std::pair<int, int>> ranked;  // (rank, cpu)
  for (int cpu : cpus) {
    absl::StatusOr<std::string> text =
        ReadFile(absl::StrCat(sys_cpu_root, "/cpu", cpu, "/topology/thread_siblings_list"));
    if (!text.ok()) return cpus;
    absl::StatusOr<std::vector<int>> siblings = ParseCpuList(*text);
    if (!siblings.ok() || !std::binary_search(siblings->begin(), siblings->end(), cpu)) {
      return cpus;
    }
    int rank = 0;
    for (int s : *siblings) {
      if (s < cpu && std::binary_search(cpus.begin(), cpus.end(), s)) ++rank;
    }
    ranked.emplace_back(rank, cpu);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<int> out;
  out.reserve(ranked.size());
  for (const auto& [rank, cpu] : ranked) out.push_back(cpu);
  return out;
}

const char* Cpus(double n) { return n == 1 ? "CPU" : "CPUs"; }

}  // namespace

absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text) {
  std::vector<int> out;
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    std::pair<absl::string_view, absl::string_view> range =
        absl::StrSplit(item, absl::MaxSplits('-', 1));
    bool is_range = item.find('-') != absl::string_view::npos;
    int first = 0;
    int last = 0;
    if (!IsAllDigits(range.first) || !absl::SimpleAtoi(range.first, &first) ||
        (is_range && (!IsAllDigits(range.second) || !absl::SimpleAtoi(range.second, &last)))) {
      return absl::InvalidArgumentError(absl::StrCat("bad CPU list item \"", item, "\""));
    }
    if (!is_range) last = first;
    if (last < first) {
      return absl::InvalidArgumentError(absl::StrCat("reversed CPU range \"", item, "\""));
    }
    if (last >= kMaxCpuId) {
      return absl::InvalidArgumentError(absl::StrCat("CPU id too large in \"", item, "\""));
    }
    for (int cpu = first; cpu <= last; ++cpu) out.push_back(cpu);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    absl::StrAppend(&out, out.empty() ? "" : ",", cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out;
}

absl::StatusOr<CpuDecision> DecideCpus(const CpuEnvironment& env) {
  std::vector<int> affinity;
  if (env.affinity) {
    affinity = *env.affinity;
  } else {
    absl::StatusOr<std::vector<int>> read = ReadAffinity();
    if (!read.ok()) return read.status();
    affinity = *std::move(read);
  }
  std::sort(affinity.begin(), affinity.end());
  affinity.erase(std::unique(affinity.begin(), affinity.end()), affinity.end());
  if (affinity.empty()) return absl::InvalidArgumentError("empty CPU affinity mask");
  if (affinity.front() < 0) return absl::InvalidArgumentError("negative CPU id in affinity");

  CgroupLimits limits = ReadCgroupLimits(env);

  std::vector<int> allowed = affinity;
  if (limits.cpuset) {
    std::vector<int> both;
    std::set_intersection(affinity.begin(), affinity.end(), limits.cpuset->begin(),
                          limits.cpuset->end(), std::back_inserter(both));
    // The kernel keeps the affinity inside the cpuset, so no overlap means a stale or foreign
    // file; the affinity is what the scheduler actually enforces.
    if (both.empty()) {
      limits.notes.push_back(absl::StrCat("ignored cpuset ", FormatCpuList(*limits.cpuset),
                                          ": no CPU in common with the affinity"));
    } else {
      allowed = std::move(both);
    }
  }

  int workers = static_cast<int>(allowed.size());
  if (limits.quota) {
    // Rounded down: a worker that only gets half a CPU is throttled mid-request, which hurts
    // tail latency more than one fewer worker does. Never below one, or nothing would run.
    int64_t whole = std::max<int64_t>(1, limits.quota->quota / limits.quota->period);
    workers = static_cast<int>(std::min<int64_t>(workers, whole));
  }
  workers = std::max(1, workers);

  CpuDecision decision;
  decision.workers = workers;
  decision.cpus = OrderForPinning(allowed, env.sys_cpu_root);
  std::string& reason = decision.reason;
  reason = absl::StrCat("workers=", workers, ": ", affinity.size(), " ", Cpus(affinity.size()),
                        " in affinity");
  if (limits.cpuset) {
    absl::StrAppend(&reason, ", cpuset ", FormatCpuList(*limits.cpuset));
    if (allowed.size() < affinity.size()) {
      absl::StrAppend(&reason, " (", allowed.size(), " usable)");
    }
  }
  if (limits.quota) {
    const CpuQuota& q = *limits.quota;
    absl::StrAppend(&reason, ", ", q.files, " ", q.quota, "/", q.period, " = ", q.Cpus(), " ",
                    Cpus(q.Cpus()), " (at ", q.where, ")");
  } else if (!limits.source.empty()) {
    absl::StrAppend(&reason, ", ", limits.source, " without a CPU quota");
  } else {
    absl::StrAppend(&reason, ", no cgroup CPU limits found");
  }
  for (const std::string& note : limits.notes) absl::StrAppend(&reason, "; ", note);
  return decision;
}

}  // namespace drover::supervisor
