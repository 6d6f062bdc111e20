// Runs N copies of the app, one per worker slot, and keeps the proxy's view of them current:
// a slot's backend is up only while a ready process serves it, and its target (generation,
// port) moves to a replacement the moment that replacement is ready.
//
//   Supervisor supervisor(config, *slots, served, outstanding_on);
//   supervisor.Start();                       // spawns; watches on a thread of its own
//   supervisor.RequestReload();               // SIGHUP, POST /reload: one slot at a time
//   supervisor.StopWorkers(SIGTERM, deadline);
//
// Everything happens on the supervisor's thread, driven by SIGCHLD (through a signalfd), the
// workers' output pipes and a short tick; other threads only read snapshots under mu_.
#ifndef DROVER_SIDECAR_SUPERVISOR_SUPERVISOR_H_
#define DROVER_SIDECAR_SUPERVISOR_SUPERVISOR_H_

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/supervisor/log_relay.h"

namespace drover::supervisor {

// How workers listen: on TCP ports (PORT=<number>), or on Unix sockets (PORT=<path>) in a
// private directory the supervisor creates at start and removes at exit.
enum class WorkerTransport : uint8_t { kTcp, kUnix };
absl::StatusOr<WorkerTransport> ParseWorkerTransport(std::string_view text);

struct SupervisorConfig {
  std::vector<std::string> command;
  int workers = 1;
  std::vector<int> cpus;  // pin order; empty: no pinning
  int port_base = 3000;
  WorkerTransport transport = WorkerTransport::kTcp;
  std::string ready_path;  // empty: ready when the port accepts connections
  absl::Duration start_timeout = absl::Seconds(30);
  absl::Duration kill_timeout = absl::Seconds(5);
  absl::Duration restart_delay = absl::Milliseconds(100);
  absl::Duration max_restart_delay = absl::Seconds(15);
  absl::Duration backoff_reset = absl::Seconds(30);
  int restart_burst = 10;
  absl::Duration restart_interval = absl::Seconds(60);
  uint64_t max_requests = 0;  // 0: off
  uint64_t max_memory = 0;    // bytes; 0: off
  absl::Duration max_age = absl::ZeroDuration();
  LogFormat log_format = LogFormat::kText;
};

enum class RestartReason : uint8_t {
  kExitCode,
  kSignal,
  kMemory,
  kRequests,
  kAge,
  kReload,
  kCount
};
std::string_view RestartReasonName(RestartReason reason);

// The delay before respawning after the k-th consecutive crash (k >= 1): none after the first,
// then restart_delay growing x1.5 per crash up to max_restart_delay (PM2's exponential backoff).
absl::Duration RespawnDelay(const SupervisorConfig& config, int consecutive_crashes);

class Supervisor {
 public:
  // `slots` holds config.workers backends. `served(slot)` counts responses the slot completed;
  // `outstanding_on(slot, parity)` its requests in flight on generations of that parity.
  Supervisor(SupervisorConfig config, balance::BackendSet& slots,
             std::function<uint64_t(size_t)> served,
             std::function<int64_t(size_t, size_t)> outstanding_on);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  absl::Status Start();
  // Thread-safe. False when a reload is already running or the supervisor is stopping. `tag`
  // names the reload in reload_view() (a controller's command id; empty for SIGHUP).
  bool RequestReload(std::string tag = {});
  // Thread-safe, blocking: `signal` to every worker's process group, SIGKILL to what is left
  // after kill_timeout (or at `deadline`, whichever is first); returns once all are reaped.
  void StopWorkers(int signal, absl::Time deadline);

  // Plain views for reports (the membership source's upstream); each takes the lock once.
  struct SlotView {
    enum class State : uint8_t { kStarting, kReady, kBackoff, kFailed, kStopped };
    int slot = 0;
    State state = State::kStarting;
    pid_t pid = 0;
    uint64_t restarts = 0;
    uint64_t rss_bytes = 0;
  };
  struct ReloadView {
    std::string tag;
    bool ever = false;  // a reload was requested since start
    bool running = false;
    bool ok = false;  // !running: how the last one ended
    uint32_t slots_done = 0;
    uint32_t slots_total = 0;
    std::string error;
  };
  std::vector<SlotView> slot_views() const;
  ReloadView reload_view() const;

  std::string StatusJson() const;
  // True when at least one slot is ready; `text` describes every slot.
  bool Ready(std::string& text) const;
  std::shared_ptr<prometheus::Collectable> Collector() const;

 private:
  enum class Role : uint8_t { kStarting, kServing, kRetiring };
  struct Process {
    pid_t pid = -1;
    int slot = 0;
    uint16_t port = 0;
    uint64_t generation = 0;
    Role role = Role::kStarting;
    bool replacement = false;
    RestartReason reason = RestartReason::kReload;  // why a replacement was started
    int out_fd = -1;
    int err_fd = -1;
    std::string out_pending;
    std::string err_pending;
    absl::Time started;
    absl::Time drain_deadline = absl::InfiniteFuture();  // retiring: SIGTERM once idle or then
    absl::Time kill_at = absl::InfiniteFuture();         // SIGKILL then
    bool term_sent = false;
    bool timed_out = false;
    uint64_t rss = 0;
    bool owns_listener = false;  // the socket it listens on was seen held by its process tree
    bool foreign_seen = false;   // another process was seen listening where it should
    bool owner_unknown = false;  // its descriptors could not be read: trusted on a connect
    absl::Time owner_check_at = absl::InfinitePast();
  };
  struct Slot {
    int index = 0;
    int cpu = -1;
    Process* serving = nullptr;
    Process* starting = nullptr;
    uint64_t generation = 0;
    int consecutive_crashes = 0;
    absl::Time respawn_at = absl::InfiniteFuture();
    std::deque<absl::Time> crashes;
    bool failed = false;
    std::array<uint64_t, static_cast<size_t>(RestartReason::kCount)> restarts{};
    uint64_t served_baseline = 0;
  };
  class MetricsCollector;

  void Loop();
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnExit(Process* process, int status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Spawn(Slot& slot, bool replacement, RestartReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnReady(Process* process) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleRespawn(Slot& slot, absl::Duration uptime) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Tick(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckResources(absl::Time now, bool sample_memory) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceReload(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishReload(bool ok, const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t ReloadSlotsDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainOutput(Process* process, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Log(const std::string& line) const;
  // Where the worker of `slot` listens in generations of `generation`'s parity: its port, or
  // its socket path with --worker-transport=unix.
  net::SocketAddress WorkerAddress(int slot, uint64_t generation) const;
  std::string WorkerSocketPath(int slot, uint64_t generation) const;
  // "port 3000" or "socket /run/.../worker-0-a.sock", for log lines.
  std::string Where(const Process& process) const;
  // True while a live process of `slot` (one still draining, say) uses the port or socket
  // that the slot's next generation would get: spawning then would collide with it.
  bool NextPortHeld(const Slot& slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot's next generation: the one after the last started, or the one after that when
  // the serving process has its parity (so has its port).
  uint64_t NextGeneration(const Slot& slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MakeSocketDir();
  void RemoveSocketDir();

  const SupervisorConfig config_;
  balance::BackendSet& slots_backends_;
  std::function<uint64_t(size_t)> served_;
  std::function<int64_t(size_t, size_t)> outstanding_on_;
  LogRelay relay_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::string socket_dir_;  // --worker-transport=unix: the workers' private directory
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Process>> processes_ ABSL_GUARDED_BY(mu_);
  std::deque<int> reload_queue_ ABSL_GUARDED_BY(mu_);
  bool reloading_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time reload_started_ ABSL_GUARDED_BY(mu_);
  std::string last_reload_error_ ABSL_GUARDED_BY(mu_);
  std::string reload_tag_ ABSL_GUARDED_BY(mu_);
  bool reload_ever_ ABSL_GUARDED_BY(mu_) = false;
  bool last_reload_ok_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t reload_done_ ABSL_GUARDED_BY(mu_) = 0;  // frozen when a reload ends
  std::vector<double> reload_durations_ ABSL_GUARDED_BY(mu_);
  uint64_t reloads_ok_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reloads_failed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int stop_signal_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time last_resource_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Notification all_stopped_;
  std::atomic<bool> quit_{false};
};

}  // namespace drover::supervisor

#endif  // DROVER_SIDECAR_SUPERVISOR_SUPERVISOR_H_
