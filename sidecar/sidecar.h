// The sidecar process: owns the proxy's event-loop threads, the admin listener, health checks
// or the supervisor, and the membership source, applies member tables through one path, and
// runs the signal-driven life cycle (reload on SIGHUP, drain and stop on SIGTERM/SIGINT, stop
// at once on SIGQUIT).
//
//   BlockHandledSignals();                          // first thing in main()
//   SidecarOptions options = ...;                   // from flags
//   std::unique_ptr<membership::MembershipSource> source = ...;   // or nullptr
//   absl::StatusOr<std::unique_ptr<Sidecar>> sidecar =
//       Sidecar::Create(std::move(options), std::move(source));
//   if (!sidecar.ok()) { print sidecar.status().message(); return 2; }
//   return (*sidecar)->Run();                        // blocks until a stop signal
#ifndef DROVER_SIDECAR_SIDECAR_H_
#define DROVER_SIDECAR_SIDECAR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "sidecar/admin/admin_server.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/balance/health_checker.h"
#include "sidecar/membership/source.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/proxy/config.h"
#include "sidecar/proxy/loop_thread.h"
#include "sidecar/sticky/members.h"
#include "sidecar/supervisor/supervisor.h"

namespace drover {

struct SidecarOptions {
  proxy::ProxyConfig proxy;
  std::string mode_name;
  std::string balance_name;
  std::string backends;          // proxy-only mode
  std::string admin;             // empty: no admin listener
  std::string admin_token_file;  // empty: mutating admin paths only on a loopback --admin
  absl::Duration admin_head_timeout = absl::Seconds(5);
  absl::Duration health_interval = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  std::optional<supervisor::SupervisorConfig> supervisor;  // set: supervisor mode
  net::SocketAddress worker_host;                          // supervisor mode: where workers listen
  std::string cookie_secret_file;
  absl::Duration drain_delay = absl::Seconds(5);
  absl::Duration grace_period = absl::Seconds(30);
};

// Blocks the signals the sidecar handles; call first in main(), before any thread starts.
void BlockHandledSignals();

class Sidecar {
 public:
  // Binds the listeners, builds the event-loop threads, and starts the admin listener, the
  // supervisor (or health checks) and `source` (may be null: no member table). Errors name the
  // flag at fault, one line, for main() to print; kUnavailable means a port that another
  // process holds (exit 1), anything else a flag's value that does not hold up (exit 2).
  static absl::StatusOr<std::unique_ptr<Sidecar>> Create(
      SidecarOptions options, std::unique_ptr<membership::MembershipSource> source = nullptr);
  ~Sidecar();
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  // Serves until a stop signal, drains, stops everything; returns the process exit code.
  // Call once.
  int Run();

  // The one path a member table takes to the data path, whatever its source (thread-safe).
  // Refuses (the previous table stays) a table whose entry for this member has another slot
  // count than this sidecar runs.
  absl::Status ApplyMembers(std::shared_ptr<const sticky::MemberTable> table,
                            std::string_view source_name);
  // Thread-safe snapshots for the membership source's upstream.
  membership::SidecarReport Report() const;
  absl::Status ReloadWorkers(std::string command_id);

 private:
  explicit Sidecar(SidecarOptions options);
  absl::Status Init();
  absl::Status StartAdmin();
  // The cookie codec: the secret file's keys, else a per-process key without a member table,
  // else none (with a warning: a member table needs a shared secret).
  absl::Status InitCookieCodec();
  // Main thread, every 2 s: a changed secret file becomes the keys of every event-loop thread.
  void ReloadCookieSecret();
  void RegisterMembershipMetrics();
  bool Ready(std::string* detail) const;
  std::string StatusJson() const;
  std::string MembershipJson() const;
  // Drains per the signal that stopped Run(), then stops the workers and the threads.
  void Shutdown(int signal_number);

  SidecarOptions options_;  // the event-loop threads hold references into options_.proxy
  std::unique_ptr<balance::BackendSet> backends_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<bool> draining_{false};
  std::vector<std::unique_ptr<proxy::LoopThread>> loops_;
  std::vector<const metrics::ThreadStats*> thread_stats_;
  std::vector<std::thread> loop_threads_;
  std::unique_ptr<balance::HealthChecker> health_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  std::shared_ptr<metrics::StatsCollector> collector_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Counter* updates_applied_ = nullptr;
  prometheus::Counter* updates_rejected_ = nullptr;
  prometheus::Family<prometheus::Gauge>* version_info_ = nullptr;
  prometheus::Counter* secret_reloads_applied_ = nullptr;
  prometheus::Counter* secret_reloads_rejected_ = nullptr;
  bool has_member_table_ = false;   // a membership source was given (--peers, --controller)
  bool from_controller_ = false;    // that source is the controller (--controller)
  std::string cookie_secret_text_;  // the secret file as last read (main thread)
  std::shared_ptr<const sticky::CookieCodec> codec_;  // the keys in force (main thread)
  // For /status: "set" (the secret file), "per-process" or "missing"; fixed at start.
  const char* cookie_secret_state_ = "missing";

  // The table in force and where it came from.
  mutable absl::Mutex members_mu_;
  std::string source_name_ ABSL_GUARDED_BY(members_mu_) = "none";
  std::shared_ptr<const sticky::MemberTable> members_ ABSL_GUARDED_BY(members_mu_);
  absl::Time applied_at_ ABSL_GUARDED_BY(members_mu_);
  prometheus::Gauge* version_gauge_ ABSL_GUARDED_BY(members_mu_) = nullptr;

  // Destroyed first: the admin handlers and the source call into everything above.
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<membership::MembershipSource> source_;
};

}  // namespace drover

#endif  // DROVER_SIDECAR_SIDECAR_H_
