// droverctl's commands: each makes its Admin call(s), prints the reply for a person or as JSON,
// and returns the process's exit code (errors.h). Arguments arrive validated by main.cc.
//
//   Session session{.connection = connection.get(), .namespace_name = "shop", .json = false};
//   return RunScale(session, workload, /*replicas=*/3);
#ifndef DROVER_DROVERCTL_COMMANDS_H_
#define DROVER_DROVERCTL_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "droverctl/connection.h"
#include "droverctl/workload.h"

namespace drover::ctl {

// What every command shares.
struct Session {
  Connection* connection = nullptr;
  std::string namespace_name;  // "" -> the controller's namespace
  bool json = false;
};

struct WatchOptions {
  bool watch = false;
  absl::Duration interval = absl::Seconds(2);
  int64_t count = 0;  // refreshes before exiting; 0: until SIGINT
};

// GetStatus once, or every `interval` with --watch: on a terminal the screen is redrawn in
// place; otherwise each refresh follows a blank line (JSON: one object per line). A refresh
// that fails after the first one is shown and the watch goes on, as `kubectl get -w` survives
// a flaky connection; SIGINT ends it with exit 0.
int RunStatus(const Session& session, const WatchOptions& watch);

int RunMembers(const Session& session, const std::string& group);

// Scale when `replicas` is set, else GetScale.
int RunScale(const Session& session, const Workload& workload, std::optional<int32_t> replicas);

// Drain, or Undrain when `drain` is false.
int RunDrain(const Session& session, const std::string& member, bool drain);

struct RestartTarget {
  std::string member;                                    // one member, or
  bool all = false;                                      // every member, one at a time
  absl::Duration member_timeout = absl::ZeroDuration();  // 0: the controller's default
};

// RestartWorkers: one line per progress message as it arrives; exit 1 when any member's
// reload failed.
int RunRestart(const Session& session, const RestartTarget& target);

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_COMMANDS_H_
