// How many workers `--workers=auto` starts, and on which CPUs to pin them.
//
//   absl::StatusOr<supervisor::CpuDecision> cpus = supervisor::DecideCpus();
//   if (!cpus.ok()) return cpus.status();
//   std::cerr << cpus->reason << "\n";  // "workers=2: 4 CPUs in affinity, cpuset 0-3, ..."
//   for (int i = 0; i < cpus->workers; ++i) {
//     StartWorker(i, /*pin_to=*/cpus->cpus[i % cpus->cpus.size()]);
//   }
//
// A container usually sees every host CPU in /proc/cpuinfo and often in its affinity mask too.
// What it may really use is set by its cgroup: a cpuset narrows *which* CPUs, a CFS quota
// (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`) caps *how much* CPU time. One Node.js process per
// host CPU under a 2-CPU quota means every worker gets throttled, so the count is the smaller of
// the two. Kubernetes also sets the quota on the pod's cgroup, a parent of the container's, so
// every ancestor is checked and the tightest quota wins.
//
// Unreadable or malformed cgroup files never fail the decision: they are skipped, and the reason
// says so, because the affinity mask alone is still a safe answer.
#ifndef DROVER_SIDECAR_SUPERVISOR_CPUS_H_
#define DROVER_SIDECAR_SUPERVISOR_CPUS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::supervisor {

// Where DecideCpus reads from. The defaults are the real paths; tests point them at a fake tree.
struct CpuEnvironment {
  std::string proc_self_cgroup = "/proc/self/cgroup";
  // cgroup v2 is mounted here; v1 hierarchies are its subdirectories `cpu,cpuacct` (or `cpu`)
  // and `cpuset`, the conventional layout of systemd, Docker and Kubernetes nodes.
  std::string cgroup_root = "/sys/fs/cgroup";
  // Holds cpuN/topology/thread_siblings_list.
  std::string sys_cpu_root = "/sys/devices/system/cpu";
  // The CPU ids this process may run on; nullopt reads them with sched_getaffinity.
  std::optional<std::vector<int>> affinity;
};

struct CpuDecision {
  // min(|affinity ∩ cpuset|, floor(quota / period)), and at least 1.
  int workers = 1;
  // affinity ∩ cpuset, one physical core's first thread before any core's second, so that the
  // first `workers` entries spread over as many cores as possible. May be longer than `workers`
  // (a quota leaves CPUs idle, not unusable) and is never empty.
  std::vector<int> cpus;
  // One line for the startup log: each input that decided, and each file that was skipped.
  std::string reason;
};

// Fails only if the affinity mask cannot be read or is empty.
absl::StatusOr<CpuDecision> DecideCpus(const CpuEnvironment& env = {});

// Parses the kernel's CPU list format ("0-3,8,10-11", surrounding whitespace allowed, "" is no
// CPUs) into sorted, distinct ids. Anything else, including a reversed range, is InvalidArgument.
absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text);

// The inverse of ParseCpuList for sorted ids: {0, 1, 2, 3, 8} -> "0-3,8".
std::string FormatCpuList(const std::vector<int>& cpus);

}  // namespace drover::supervisor

#endif  // DROVER_SIDECAR_SUPERVISOR_CPUS_H_
