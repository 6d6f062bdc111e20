// What the swarm reads from and sets on the host: a process's memory and CPU time from /proc,
// the open-file limit, and the kernel's ephemeral port range.
//
//   absl::StatusOr<int64_t> kib = VmRssKib(controller_pid);   // 0: this process
//   absl::StatusOr<FileLimit> limit = RaiseOpenFileLimit();
#ifndef DROVER_BENCH_CONTROLLER_HOST_H_
#define DROVER_BENCH_CONTROLLER_HOST_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace drover::bench {

// VmRSS of process `pid` (0: this one) in KiB, from /proc/PID/status.
absl::StatusOr<int64_t> VmRssKib(int pid);

// User + system CPU time of process `pid` (0: this one) in seconds, from /proc/PID/stat.
absl::StatusOr<double> CpuSeconds(int pid);

struct FileLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
};
// Raises the soft RLIMIT_NOFILE to the hard limit (every stream is a socket); the limits after.
absl::StatusOr<FileLimit> RaiseOpenFileLimit();

// How many local ports the kernel hands out to connect(): /proc/sys/net/ipv4/ip_local_port_range.
// Linux picks them per (source, destination) pair, so this bounds the connections from one
// source address to one controller port.
absl::StatusOr<int> EphemeralPortCount();

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_HOST_H_
