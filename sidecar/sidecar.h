// The sidecar process: wires the proxy's event-loop threads, the admin listener, health checks
// or the supervisor, and owns the signal-driven life cycle (reload on SIGHUP, drain and stop
// on SIGTERM/SIGINT, stop at once on SIGQUIT).
//
//   SidecarOptions options = ...;   // from flags
//   return RunSidecar(options);      // blocks until a stop signal; returns the exit code
#ifndef DROVER_SIDECAR_SIDECAR_H_
#define DROVER_SIDECAR_SIDECAR_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "sidecar/proxy/config.h"
#include "sidecar/supervisor/supervisor.h"

namespace drover {

struct SidecarOptions {
  proxy::ProxyConfig proxy;
  std::string mode_name;
  std::string balance_name;
  std::string backends;  // proxy-only mode
  std::string admin;     // empty: no admin listener
  absl::Duration health_interval = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  std::optional<supervisor::SupervisorConfig> supervisor;  // set: supervisor mode
  net::SocketAddress worker_host;                          // supervisor mode: where workers listen
  std::string peers_file;  // --peers: the member table, reloaded when it changes
  std::string cookie_secret_file;
  absl::Duration drain_delay = absl::Seconds(5);
  absl::Duration grace_period = absl::Seconds(30);
};

// Blocks the signals the sidecar handles; call first in main(), before any thread starts.
void BlockHandledSignals();

// Runs until a stop signal. Returns the process exit code; start-up failures print one line
// and return 2.
int RunSidecar(SidecarOptions options);

}  // namespace drover

#endif  // DROVER_SIDECAR_SIDECAR_H_
