// Starting and signalling worker processes.
//
//   absl::StatusOr<ChildProcess> child = SpawnWorker({.argv = {"node", "app.js"},
//                                                     .env = {{"PORT", "3000"}},
//                                                     .cpu = 0});
//   KillGroup(child->pid, SIGTERM);
#ifndef DROVER_SIDECAR_SUPERVISOR_PROCESS_H_
#define DROVER_SIDECAR_SUPERVISOR_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace drover::supervisor {

struct SpawnOptions {
  std::vector<std::string> argv;                         // argv[0] is looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // set on top of our environment
  std::optional<int> cpu;                                // pin to this CPU
};

struct ChildProcess {
  pid_t pid = -1;
  int stdout_fd = -1;  // read ends, non-blocking, close-on-exec
  int stderr_fd = -1;
};

// Forks and execs a worker in a process group of its own (so a signal reaches whatever it
// spawns too), with every signal unblocked and default dispositions, stdin from /dev/null and
// stdout/stderr into pipes. An exec failure shows up as exit status 127 with the reason on the
// worker's stderr.
absl::StatusOr<ChildProcess> SpawnWorker(const SpawnOptions& options);

// Sends `signal` to the process group `pgid` (== the worker's pid); an empty group is fine.
void KillGroup(pid_t pgid, int signal);

// Resident set size of `pid` in bytes, from /proc/PID/status; nullopt once it is gone.
std::optional<uint64_t> ResidentBytes(pid_t pid);

}  // namespace drover::supervisor

#endif  // DROVER_SIDECAR_SUPERVISOR_PROCESS_H_
