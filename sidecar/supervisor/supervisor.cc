#include "sidecar/supervisor/supervisor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "prometheus/metric_family.h"
#include "sidecar/balance/health_checker.h"
#include "sidecar/supervisor/listener_owner.h"
#include "sidecar/supervisor/process.h"

namespace drover::supervisor {

namespace {

// How often a starting worker is probed: short, because crash-to-serving time is measured.
constexpr absl::Duration kProbeInterval = absl::Milliseconds(10);
constexpr absl::Duration kIdleTick = absl::Milliseconds(250);
// With --max-requests, how often the request counts are compared: a worker should not serve
// far past its limit before its replacement starts.
constexpr absl::Duration kRequestsTick = absl::Milliseconds(20);
constexpr absl::Duration kResourceInterval = absl::Seconds(1);
// While another process listens where a starting worker should, how often to look again
// (each look walks /proc).
constexpr absl::Duration kForeignRecheck = absl::Milliseconds(100);

bool ProbeHttp(const net::SocketAddress& address, const std::string& path) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  bool ok = false;
  if (connect(fd, address.sockaddr_ptr(), address.length()) == 0) {
    // A Unix socket has no authority to name; "localhost" is what clients send there.
    std::string request = absl::StrCat(
        "GET ", path,
        " HTTP/1.1\r\nHost: ", address.family() == AF_UNIX ? "localhost" : address.ToString(),
        "\r\nUser-Agent: drover-sidecar\r\nConnection: close\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char head[32] = {0};
      size_t got = 0;
      while (got < 12) {
        ssize_t n = recv(fd, head + got, sizeof(head) - 1 - got, 0);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      // "HTTP/1.x 2"
      ok = got >= 12 && std::strncmp(head, "HTTP/1.", 7) == 0 && head[9] == '2';
    }
  }
  close(fd);
  return ok;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

absl::StatusOr<WorkerTransport> ParseWorkerTransport(std::string_view text) {
  if (text == "tcp") return WorkerTransport::kTcp;
  if (text == "unix") return WorkerTransport::kUnix;
  return absl::InvalidArgumentError(absl::StrCat("'", AsAbsl(text), "' is not tcp or unix"));
}

std::string_view RestartReasonName(RestartReason reason) {
  switch (reason) {
    case RestartReason::kExitCode:
      return "exit_code";
    case RestartReason::kSignal:
      return "signal";
    case RestartReason::kMemory:
      return "memory";
    case RestartReason::kRequests:
      return "requests";
    case RestartReason::kAge:
      return "age";
    case RestartReason::kReload:
      return "reload";
    case RestartReason::kCount:
      break;
  }
  return "unknown";
}

absl::Duration RespawnDelay(const SupervisorConfig& config, int consecutive_crashes) {
  if (consecutive_crashes <= 1) return absl::ZeroDuration();
  double factor = std::pow(1.5, consecutive_crashes - 2);
  absl::Duration delay = config.restart_delay * factor;
  return std::min(delay, config.max_restart_delay);
}

Supervisor::Supervisor(SupervisorConfig config, balance::BackendSet& slots,
                       std::function<uint64_t(size_t)> served,
                       std::function<int64_t(size_t, size_t)> outstanding_on)
    : config_(std::move(config)),
      slots_backends_(slots),
      served_(std::move(served)),
      outstanding_on_(std::move(outstanding_on)),
      relay_(config_.log_format) {
  absl::MutexLock lock(&mu_);
  slots_.resize(static_cast<size_t>(config_.workers));
  for (int i = 0; i < config_.workers; ++i) {
    slots_[static_cast<size_t>(i)].index = i;
    if (!config_.cpus.empty()) {
      slots_[static_cast<size_t>(i)].cpu =
          config_.cpus[static_cast<size_t>(i) % config_.cpus.size()];
    }
  }
}

Supervisor::~Supervisor() {
  quit_.store(true);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (signal_fd_ >= 0) close(signal_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  RemoveSocketDir();
}

absl::Status Supervisor::MakeSocketDir() {
  // A directory of our own (mode 0700), so no other user can connect to a worker's socket or
  // put a socket where a worker will listen.
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  std::string base = runtime != nullptr && runtime[0] == '/' ? runtime : "/tmp";
  std::string templ = absl::StrCat(base, "/drover-", getpid(), "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("--worker-transport=unix: mkdtemp ", templ));
  }
  socket_dir_ = templ;
  for (int i = 0; i < config_.workers; ++i) {
    balance::Backend& backend = slots_backends_[static_cast<size_t>(i)];
    for (uint64_t parity : {0, 1}) {
      absl::StatusOr<net::SocketAddress> address =
          net::SocketAddress::Unix(WorkerSocketPath(i, parity));
      if (!address.ok()) {
        RemoveSocketDir();
        return absl::InvalidArgumentError(
            absl::StrCat("--worker-transport=unix: ", address.status().message(),
                         " (set XDG_RUNTIME_DIR to a shorter directory)"));
      }
      backend.unix_sockets[parity] = *address;
    }
    backend.address = backend.unix_sockets[1];
  }
  return absl::OkStatus();
}

void Supervisor::RemoveSocketDir() {
  if (socket_dir_.empty()) return;
  for (int i = 0; i < config_.workers; ++i) {
    for (uint64_t parity : {0, 1}) unlink(WorkerSocketPath(i, parity).c_str());
  }
  if (rmdir(socket_dir_.c_str()) != 0) {
    Log(absl::StrCat("cannot remove ", socket_dir_, ": ", std::strerror(errno)));
  }
  socket_dir_.clear();
}

std::string Supervisor::WorkerSocketPath(int slot, uint64_t generation) const {
  // Odd generations use the slot's "a" socket, even ones its "b": as with ports, a replacement
  // never takes the path of the process it replaces.
  return absl::StrCat(socket_dir_, "/worker-", slot, (generation & 1) == 1 ? "-a" : "-b", ".sock");
}

net::SocketAddress Supervisor::WorkerAddress(int slot, uint64_t generation) const {
  const balance::Backend& backend = slots_backends_[static_cast<size_t>(slot)];
  if (config_.transport == WorkerTransport::kUnix) return backend.unix_sockets[generation & 1];
  net::SocketAddress address = backend.address;
  address.set_port(static_cast<uint16_t>(config_.port_base + slot +
                                         ((generation & 1) == 1 ? 0 : config_.workers)));
  return address;
}

std::string Supervisor::Where(const Process& process) const {
  if (config_.transport == WorkerTransport::kUnix) {
    return absl::StrCat("socket ", WorkerSocketPath(process.slot, process.generation));
  }
  return absl::StrCat("port ", process.port);
}

uint64_t Supervisor::NextGeneration(const Slot& slot) const {
  uint64_t next = slot.generation + 1;
  // After a replacement that failed, the next one would get the serving process's own port:
  // skip a generation.
  if (slot.serving != nullptr && (slot.serving->generation & 1) == (next & 1)) ++next;
  return next;
}

bool Supervisor::NextPortHeld(const Slot& slot) const {
  const uint64_t next = NextGeneration(slot);
  return std::any_of(processes_.begin(), processes_.end(), [&](const auto& p) {
    return p->slot == slot.index && (p->generation & 1) == (next & 1);
  });
}

void Supervisor::Log(const std::string& line) const {
  std::fprintf(stderr, "drover-sidecar: %s\n", line.c_str());
}

absl::Status Supervisor::Start() {
  // SIGCHLD is blocked in every thread (main blocks it before starting any), so it stays
  // pending for the process and this signalfd reads it.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  signal_fd_ = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return absl::ErrnoToStatus(errno, "signalfd");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "eventfd");
  if (config_.transport == WorkerTransport::kUnix) {
    if (absl::Status s = MakeSocketDir(); !s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    for (Slot& slot : slots_) Spawn(slot, false, RestartReason::kExitCode);
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Supervisor::Spawn(Slot& slot, bool replacement, RestartReason reason) {
  const uint64_t generation = NextGeneration(slot);
  // Odd generations use the slot's own port, even ones its spare: a replacement never
  // collides with the process it replaces.
  const uint16_t port = static_cast<uint16_t>(config_.port_base + slot.index +
                                              ((generation & 1) == 1 ? 0 : config_.workers));
  std::string port_value = absl::StrCat(port);
  if (config_.transport == WorkerTransport::kUnix) {
    // A socket file left by a process that is gone (NextPortHeld says none is alive) would
    // make the new worker's listen fail with EADDRINUSE.
    port_value = WorkerSocketPath(slot.index, generation);
    unlink(port_value.c_str());
  }
  SpawnOptions options;
  options.argv = config_.command;
  options.env = {{"PORT", port_value},
                 {"DROVER_WORKER_ID", absl::StrCat(slot.index)},
                 {"NODE_APP_INSTANCE", absl::StrCat(slot.index)}};
  if (slot.cpu >= 0) options.cpu = slot.cpu;
  absl::StatusOr<ChildProcess> child = SpawnWorker(options);
  absl::Time now = absl::Now();
  if (!child.ok()) {
    Log(absl::StrCat("worker ", slot.index, ": cannot start: ", child.status().message()));
    if (replacement) {
      FinishReload(false, absl::StrCat("slot ", slot.index, ": ", child.status().message()));
    } else {
      ScheduleRespawn(slot, absl::ZeroDuration());
    }
    return;
  }
  slot.generation = generation;
  auto process = std::make_unique<Process>();
  process->pid = child->pid;
  process->slot = slot.index;
  process->port = port;
  process->generation = generation;
  process->replacement = replacement;
  process->reason = reason;
  process->out_fd = child->stdout_fd;
  process->err_fd = child->stderr_fd;
  process->started = now;
  slot.starting = process.get();
  slot.respawn_at = absl::InfiniteFuture();
  processes_.push_back(std::move(process));
  Log(absl::StrCat("worker ", slot.index, " starting: pid ", child->pid, ", ",
                   Where(*processes_.back()),
                   slot.cpu >= 0 ? absl::StrCat(", cpu ", slot.cpu) : std::string()));
}

void Supervisor::OnReady(Process* process) {
  Slot& slot = slots_[static_cast<size_t>(process->slot)];
  balance::Backend& backend = slots_backends_[static_cast<size_t>(process->slot)];
  absl::Time now = absl::Now();
  slot.starting = nullptr;
  Process* old = slot.serving;
  process->role = Role::kServing;
  slot.serving = process;
  slot.served_baseline = served_(static_cast<size_t>(slot.index));
  backend.target.store(balance::Backend::MakeTarget(process->generation, process->port),
                       std::memory_order_release);
  backend.up.store(true, std::memory_order_release);
  Log(absl::StrCat("worker ", slot.index, " ready: pid ", process->pid, ", ", Where(*process),
                   ", after ", absl::FormatDuration(now - process->started)));
  if (old != nullptr) {
    // The old process gets no new requests from here on; it is signalled once the requests
    // it already has are answered (or kill_timeout says enough).
    old->role = Role::kRetiring;
    old->drain_deadline = now + config_.kill_timeout;
    ++slot.restarts[static_cast<size_t>(process->reason)];
  }
}

void Supervisor::ScheduleRespawn(Slot& slot, absl::Duration uptime) {
  absl::Time now = absl::Now();
  if (uptime >= config_.backoff_reset) slot.consecutive_crashes = 0;
  ++slot.consecutive_crashes;
  slot.crashes.push_back(now);
  while (!slot.crashes.empty() && slot.crashes.front() < now - config_.restart_interval) {
    slot.crashes.pop_front();
  }
  if (static_cast<int>(slot.crashes.size()) > config_.restart_burst) {
    slot.failed = true;
    slot.respawn_at = absl::InfiniteFuture();
    Log(absl::StrCat("worker ", slot.index, " failed: ", slot.crashes.size(), " crashes within ",
                     absl::FormatDuration(config_.restart_interval),
                     "; not restarting it until a reload"));
    return;
  }
  absl::Duration delay = RespawnDelay(config_, slot.consecutive_crashes);
  slot.respawn_at = now + delay;
  if (delay > absl::ZeroDuration()) {
    Log(absl::StrCat("worker ", slot.index, " restarts in ", absl::FormatDuration(delay)));
  }
}

void Supervisor::DrainOutput(Process* process, bool final) {
  char chunk[16384];
  for (int* fd : {&process->out_fd, &process->err_fd}) {
    if (*fd < 0) continue;
    const bool is_out = fd == &process->out_fd;
    std::string& pending = is_out ? process->out_pending : process->err_pending;
    LogStream stream = is_out ? LogStream::kStdout : LogStream::kStderr;
    for (int i = 0; i < 64; ++i) {
      ssize_t n = read(*fd, chunk, sizeof(chunk));
      if (n > 0) {
        relay_.Feed(pending, std::string_view(chunk, static_cast<size_t>(n)), process->slot,
                    process->pid, stream);
        continue;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || final) {
        // EOF, an error, or the process is gone (a grandchild may hold the pipe open).
        relay_.Flush(pending, process->slot, process->pid, stream);
        close(*fd);
        *fd = -1;
      }
      break;
    }
  }
}

void Supervisor::OnExit(Process* process, int status) {
  DrainOutput(process, /*final=*/true);
  // Whatever the worker left in its process group goes with it.
  KillGroup(process->pid, SIGKILL);
  Slot& slot = slots_[static_cast<size_t>(process->slot)];
  balance::Backend& backend = slots_backends_[static_cast<size_t>(process->slot)];
  absl::Time now = absl::Now();
  std::string how = WIFSIGNALED(status) ? absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                                                       strsignal(WTERMSIG(status)), ")")
                                        : absl::StrCat("exited with code ", WEXITSTATUS(status));
  RestartReason reason = WIFSIGNALED(status) ? RestartReason::kSignal : RestartReason::kExitCode;
  if (process->role == Role::kRetiring || stopping_) {
    Log(absl::StrCat("worker ", slot.index, " (pid ", process->pid, ") stopped: ", how));
    if (slot.serving == process) {
      slot.serving = nullptr;
      backend.up.store(false, std::memory_order_release);
    }
    if (slot.starting == process) slot.starting = nullptr;
  } else if (process->role == Role::kServing) {
    // A crash: the slot leaves the rotation at once; its requests in flight fail alone.
    backend.up.store(false, std::memory_order_release);
    slot.serving = nullptr;
    ++slot.restarts[static_cast<size_t>(reason)];
    Log(absl::StrCat("worker ", slot.index, " (pid ", process->pid, ") ", how));
    if (slot.starting == nullptr) ScheduleRespawn(slot, now - process->started);
  } else if (process->replacement) {
    std::string why = process->timed_out ? absl::StrCat("not ready within ",
                                                        absl::FormatDuration(config_.start_timeout))
                                         : how;
    Log(absl::StrCat("worker ", slot.index, " replacement (pid ", process->pid, ") failed: ", why,
                     "; pid ", slot.serving != nullptr ? absl::StrCat(slot.serving->pid) : "-",
                     " keeps serving"));
    slot.starting = nullptr;
    if (process->reason == RestartReason::kReload) {
      FinishReload(false, absl::StrCat("slot ", slot.index, ": ", why));
    }
  } else {
    // Died while starting: a crash at start.
    slot.starting = nullptr;
    ++slot.restarts[static_cast<size_t>(reason)];
    Log(absl::StrCat("worker ", slot.index, " (pid ", process->pid, ") ",
                     process->timed_out ? absl::StrCat("was not ready within ",
                                                       absl::FormatDuration(config_.start_timeout))
                                        : how,
                     " while starting",
                     process->foreign_seen
                         ? absl::StrCat("; its ", Where(*process), " is held by another process")
                         : std::string()));
    ScheduleRespawn(slot, now - process->started);
  }
  auto it = std::find_if(processes_.begin(), processes_.end(),
                         [process](const auto& p) { return p.get() == process; });
  if (it != processes_.end()) processes_.erase(it);
}

void Supervisor::Reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: none left that exited; -1: no children at all
    auto it = std::find_if(processes_.begin(), processes_.end(),
                           [pid](const auto& p) { return p->pid == pid; });
    // Not ours: an orphan that was re-parented to us as subreaper or PID 1; now reaped.
    if (it != processes_.end()) OnExit(it->get(), status);
  }
}

bool Supervisor::RequestReload(std::string tag) {
  {
    absl::MutexLock lock(&mu_);
    if (reloading_ || stopping_) return false;
    reloading_ = true;
    reload_ever_ = true;
    reload_tag_ = std::move(tag);
    reload_done_ = 0;
    reload_started_ = absl::Now();
    last_reload_error_.clear();
    for (const Slot& slot : slots_) reload_queue_.push_back(slot.index);
  }
  Log("reload: replacing workers one at a time");
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  return true;
}

uint32_t Supervisor::ReloadSlotsDone() const {
  // A slot is done once it left the queue and no reload replacement of it is still starting.
  size_t pending = reload_queue_.size();
  for (const Slot& slot : slots_) {
    if (slot.starting != nullptr && slot.starting->replacement &&
        slot.starting->reason == RestartReason::kReload) {
      ++pending;
    }
  }
  return pending >= slots_.size() ? 0 : static_cast<uint32_t>(slots_.size() - pending);
}

void Supervisor::FinishReload(bool ok, const std::string& error) {
  if (!reloading_) return;
  // A failed slot has already left `starting`: it is not done.
  const uint32_t done = ReloadSlotsDone();
  reload_done_ = ok ? static_cast<uint32_t>(slots_.size()) : (done > 0 ? done - 1 : 0);
  last_reload_ok_ = ok;
  reloading_ = false;
  reload_queue_.clear();
  double seconds = absl::ToDoubleSeconds(absl::Now() - reload_started_);
  reload_durations_.push_back(seconds);
  if (ok) {
    ++reloads_ok_;
    Log(absl::StrCat("reload: done in ", absl::FormatDuration(absl::Now() - reload_started_)));
  } else {
    ++reloads_failed_;
    last_reload_error_ = error;
    Log(absl::StrCat("reload: failed: ", error, "; the remaining workers were left as they are"));
  }
}

void Supervisor::AdvanceReload(absl::Time now) {
  if (!reloading_) return;
  for (const Slot& slot : slots_) {
    if (slot.starting != nullptr && slot.starting->replacement &&
        slot.starting->reason == RestartReason::kReload) {
      return;  // one slot at a time
    }
  }
  while (!reload_queue_.empty()) {
    Slot& slot = slots_[static_cast<size_t>(reload_queue_.front())];
    if (slot.starting == nullptr && NextPortHeld(slot)) {
      // The generation before the serving one still drains on the port this replacement would
      // get (a reload right after a reload): wait for it to exit rather than share its port,
      // and its parity of the drain count.
      return;
    }
    reload_queue_.pop_front();
    if (slot.starting != nullptr) continue;  // already being (re)started
    if (slot.serving == nullptr) {
      // Failed or waiting for a respawn: a reload gives it a fresh start and budget.
      slot.failed = false;
      slot.crashes.clear();
      slot.consecutive_crashes = 0;
      Spawn(slot, false, RestartReason::kReload);
      continue;
    }
    Spawn(slot, true, RestartReason::kReload);
    return;
  }
  FinishReload(true, "");
  (void)now;
}

void Supervisor::CheckResources(absl::Time now, bool sample_memory) {
  if (sample_memory) {
    for (const auto& p : processes_) {
      std::optional<uint64_t> rss = ResidentBytes(p->pid);
      p->rss = rss.value_or(0);
    }
  }
  for (Slot& slot : slots_) {
    Process* serving = slot.serving;
    if (serving == nullptr || slot.starting != nullptr || NextPortHeld(slot)) continue;
    std::optional<RestartReason> recycle;
    if (config_.max_memory > 0 && serving->rss > config_.max_memory) {
      recycle = RestartReason::kMemory;
    } else if (config_.max_requests > 0 &&
               served_(static_cast<size_t>(slot.index)) - slot.served_baseline >=
                   config_.max_requests) {
      recycle = RestartReason::kRequests;
    } else if (config_.max_age > absl::ZeroDuration() && now - serving->started > config_.max_age) {
      recycle = RestartReason::kAge;
    }
    if (recycle) {
      Log(absl::StrCat("worker ", slot.index, " (pid ", serving->pid,
                       ") recycled: ", AsAbsl(RestartReasonName(*recycle))));
      Spawn(slot, true, *recycle);
    }
  }
}

void Supervisor::Tick(absl::Time now) {
  if (stopping_) {
    for (const auto& p : processes_) {
      if (now >= p->kill_at) {
        KillGroup(p->pid, SIGKILL);
        p->kill_at = absl::InfiniteFuture();
      }
    }
    return;
  }
  for (Slot& slot : slots_) {
    if (slot.serving == nullptr && slot.starting == nullptr && !slot.failed &&
        now >= slot.respawn_at && !NextPortHeld(slot)) {
      Spawn(slot, false, RestartReason::kExitCode);
    }
  }
  for (const auto& p : processes_) {
    if (p->role == Role::kStarting && !p->timed_out && now - p->started > config_.start_timeout) {
      p->timed_out = true;
      KillGroup(p->pid, SIGKILL);
    }
    if (p->role == Role::kRetiring && !p->term_sent) {
      const size_t parity = p->generation & 1;
      if (outstanding_on_(static_cast<size_t>(p->slot), parity) == 0 || now >= p->drain_deadline) {
        KillGroup(p->pid, SIGTERM);
        p->term_sent = true;
        p->kill_at = now + config_.kill_timeout;
      }
    }
    if (p->term_sent && now >= p->kill_at) {
      KillGroup(p->pid, SIGKILL);
      p->kill_at = absl::InfiniteFuture();
    }
  }
  const bool sample_memory = now - last_resource_check_ >= kResourceInterval;
  if (sample_memory) last_resource_check_ = now;
  // Request counts are cheap to read: compared on every tick; memory once a second.
  if (sample_memory || config_.max_requests > 0) CheckResources(now, sample_memory);
  AdvanceReload(now);
}

void Supervisor::Loop() {
  std::vector<pollfd> fds;
  std::vector<Process*> owners;
  struct ProbeJob {
    Process* process;
    pid_t pid;
    net::SocketAddress address;
    bool owned;  // ownership already confirmed: probe only
    ListenerOwner owner = ListenerOwner::kNone;
    bool ready = false;
  };
  while (!quit_.load()) {
    std::vector<ProbeJob> to_probe;
    absl::Duration timeout = config_.max_requests > 0 ? kRequestsTick : kIdleTick;
    fds.clear();
    owners.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    fds.push_back({wake_fd_, POLLIN, 0});
    owners.push_back(nullptr);
    owners.push_back(nullptr);
    {
      absl::MutexLock lock(&mu_);
      absl::Time now = absl::Now();
      for (const auto& p : processes_) {
        if (p->out_fd >= 0) {
          fds.push_back({p->out_fd, POLLIN, 0});
          owners.push_back(p.get());
        }
        if (p->err_fd >= 0) {
          fds.push_back({p->err_fd, POLLIN, 0});
          owners.push_back(p.get());
        }
        if (p->role == Role::kStarting || p->role == Role::kRetiring) timeout = kProbeInterval;
      }
      for (const Slot& slot : slots_) {
        if (slot.respawn_at != absl::InfiniteFuture()) {
          timeout = std::min(timeout, std::max(absl::ZeroDuration(), slot.respawn_at - now));
        }
      }
      if (stopping_ && processes_.empty()) {
        if (!all_stopped_.HasBeenNotified()) all_stopped_.Notify();
      }
    }
    int ready =
        poll(fds.data(), fds.size(), static_cast<int>(absl::ToInt64Milliseconds(timeout)) + 1);
    absl::MutexLock lock(&mu_);
    if (ready > 0) {
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo info;
        while (read(signal_fd_, &info, sizeof(info)) > 0) {
        }
      }
      if (fds[1].revents & POLLIN) {
        uint64_t value;
        while (read(wake_fd_, &value, sizeof(value)) > 0) {
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Process* p = owners[i];
        if (std::any_of(processes_.begin(), processes_.end(),
                        [p](const auto& q) { return q.get() == p; })) {
          DrainOutput(p, false);
        }
      }
    }
    // Reap on every pass: a SIGCHLD coalesced with another is still seen.
    Reap();
    absl::Time now = absl::Now();
    for (const auto& p : processes_) {
      if (p->role == Role::kStarting && !p->timed_out && !stopping_ && now >= p->owner_check_at) {
        to_probe.push_back(
            {p.get(), p->pid, WorkerAddress(p->slot, p->generation), p->owns_listener});
      }
    }
    // Probes are quick connects on loopback; run them without holding up readers long.
    mu_.Unlock();
    for (ProbeJob& job : to_probe) {
      // Something accepts connections where the worker should listen; whose socket is it? A
      // connect cannot tell the worker from a stray process on its port (which would then get
      // the slot's traffic), so the first time, look in /proc.
      if (!balance::ProbeTcp(job.address, absl::Milliseconds(100)).ok()) continue;
      if (!job.owned) {
        job.owner = OwnerOfListener(job.address, job.pid);
        if (job.owner != ListenerOwner::kWorker && job.owner != ListenerOwner::kUnknown) continue;
      }
      job.ready = config_.ready_path.empty() || ProbeHttp(job.address, config_.ready_path);
    }
    mu_.Lock();
    now = absl::Now();
    for (const ProbeJob& job : to_probe) {
      Process* p = job.process;
      bool alive = std::any_of(processes_.begin(), processes_.end(),
                               [p](const auto& q) { return q.get() == p; });
      if (!alive || p->role != Role::kStarting || stopping_) continue;
      if (job.owner == ListenerOwner::kWorker || job.owner == ListenerOwner::kUnknown) {
        p->owns_listener = true;
      }
      if (job.owner == ListenerOwner::kUnknown && !p->owner_unknown) {
        // Without a way to tell, the connect is all there is (as before ownership checks).
        p->owner_unknown = true;
        Log(absl::StrCat("worker ", p->slot, " (pid ", p->pid,
                         "): cannot tell whose socket is on its ", Where(*p),
                         " (its /proc/PID/fd is not readable); trusting the connect"));
      }
      if (job.owner == ListenerOwner::kOther) {
        p->owner_check_at = now + kForeignRecheck;
        if (!p->foreign_seen) {
          p->foreign_seen = true;
          Log(absl::StrCat("worker ", p->slot, " (pid ", p->pid, ") not ready: its ", Where(*p),
                           " is held by another process"));
        }
      }
      if (job.ready) OnReady(p);
    }
    Tick(now);
    if (stopping_ && processes_.empty() && !all_stopped_.HasBeenNotified()) {
      all_stopped_.Notify();
    }
  }
}

void Supervisor::StopWorkers(int signal, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_signal_ = signal;
    stop_deadline_ = deadline;
    reload_queue_.clear();
    absl::Time now = absl::Now();
    for (Slot& slot : slots_) {
      slots_backends_[static_cast<size_t>(slot.index)].up.store(false);
      slot.respawn_at = absl::InfiniteFuture();
    }
    for (const auto& p : processes_) {
      KillGroup(p->pid, signal);
      p->term_sent = true;
      p->kill_at = std::min(now + config_.kill_timeout, deadline);
    }
    if (processes_.empty()) all_stopped_.Notify();
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  // A little past the deadline: SIGKILLed processes still need to be reaped.
  all_stopped_.WaitForNotificationWithDeadline(deadline + absl::Milliseconds(500));
}

std::vector<Supervisor::SlotView> Supervisor::slot_views() const {
  absl::MutexLock lock(&mu_);
  std::vector<SlotView> views;
  views.reserve(slots_.size());
  for (const Slot& slot : slots_) {
    const Process* p = slot.serving != nullptr ? slot.serving : slot.starting;
    SlotView view;
    view.slot = slot.index;
    view.state = slot.failed                ? SlotView::State::kFailed
                 : slot.serving != nullptr  ? SlotView::State::kReady
                 : slot.starting != nullptr ? SlotView::State::kStarting
                 : stopping_                ? SlotView::State::kStopped
                                            : SlotView::State::kBackoff;
    view.pid = p != nullptr ? p->pid : 0;
    for (uint64_t r : slot.restarts) view.restarts += r;
    view.rss_bytes = slot.serving != nullptr ? slot.serving->rss : 0;
    views.push_back(view);
  }
  return views;
}

Supervisor::ReloadView Supervisor::reload_view() const {
  absl::MutexLock lock(&mu_);
  ReloadView view;
  view.tag = reload_tag_;
  view.ever = reload_ever_;
  view.running = reloading_;
  view.ok = last_reload_ok_;
  view.slots_total = static_cast<uint32_t>(slots_.size());
  view.slots_done = reloading_ ? ReloadSlotsDone() : reload_done_;
  view.error = last_reload_error_;
  return view;
}

std::string Supervisor::StatusJson() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> slots;
  for (const Slot& slot : slots_) {
    const Process* p = slot.serving != nullptr ? slot.serving : slot.starting;
    std::string state = slot.failed                ? "failed"
                        : slot.serving != nullptr  ? "ready"
                        : slot.starting != nullptr ? "starting"
                                                   : "restarting";
    uint64_t restarts = 0;
    for (uint64_t r : slot.restarts) restarts += r;
    slots.push_back(absl::StrCat(
        "{\"slot\":", slot.index, ",\"state\":\"", state, "\",\"pid\":", p ? p->pid : 0,
        ",\"port\":", p && config_.transport == WorkerTransport::kTcp ? p->port : 0,
        config_.transport == WorkerTransport::kUnix && p != nullptr
            ? absl::StrCat(",\"socket\":\"", JsonEscape(WorkerSocketPath(p->slot, p->generation)),
                           "\"")
            : std::string(),
        ",\"cpu\":", slot.cpu, ",\"generation\":", slot.generation, ",\"restarts\":", restarts,
        ",\"rss_bytes\":", p ? p->rss : 0, ",\"replacing\":",
        slot.serving != nullptr && slot.starting != nullptr ? "true" : "false", "}"));
  }
  return absl::StrCat("{\"workers\":", slots_.size(), ",\"slots\":[", absl::StrJoin(slots, ","),
                      "],\"reload\":{\"running\":", reloading_ ? "true" : "false",
                      ",\"ok\":", reloads_ok_, ",\"failed\":", reloads_failed_,
                      ",\"last_error\":\"", JsonEscape(last_reload_error_), "\"}}\n");
}

bool Supervisor::Ready(std::string& text) const {
  absl::MutexLock lock(&mu_);
  bool any = false;
  for (const Slot& slot : slots_) {
    std::string state = slot.failed                ? "failed"
                        : slot.serving != nullptr  ? "ready"
                        : slot.starting != nullptr ? "starting"
                                                   : "restarting";
    any = any || slot.serving != nullptr;
    absl::StrAppend(&text, "slot ", slot.index, ": ", state, "\n");
  }
  return any;
}

class Supervisor::MetricsCollector : public prometheus::Collectable {
 public:
  explicit MetricsCollector(const Supervisor* supervisor) : supervisor_(supervisor) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const Supervisor& s = *supervisor_;
    absl::MutexLock lock(&s.mu_);
    auto family = [](std::string name, std::string help, MetricType type) {
      prometheus::MetricFamily f;
      f.name = std::move(name);
      f.help = std::move(help);
      f.type = type;
      return f;
    };
    auto gauge = [](double v, std::vector<prometheus::ClientMetric::Label> labels) {
      prometheus::ClientMetric m;
      m.label = std::move(labels);
      m.gauge.value = v;
      return m;
    };
    auto counter = [](double v, std::vector<prometheus::ClientMetric::Label> labels) {
      prometheus::ClientMetric m;
      m.label = std::move(labels);
      m.counter.value = v;
      return m;
    };
    auto up = family("drover_worker_up", "1 while a process runs in the slot.", MetricType::Gauge);
    auto ready = family("drover_worker_ready", "1 while the slot's process is ready and serving.",
                        MetricType::Gauge);
    auto failed =
        family("drover_worker_failed", "1 when the slot exhausted its restart budget (crash loop).",
               MetricType::Gauge);
    auto restarts =
        family("drover_worker_restarts_total", "Worker restarts by reason.", MetricType::Counter);
    auto rss = family("drover_worker_rss_bytes", "Resident memory of the slot's serving process.",
                      MetricType::Gauge);
    for (const Slot& slot : s.slots_) {
      std::string id = absl::StrCat(slot.index);
      up.metric.push_back(
          gauge(slot.serving != nullptr || slot.starting != nullptr ? 1 : 0, {{"slot", id}}));
      ready.metric.push_back(gauge(slot.serving != nullptr ? 1 : 0, {{"slot", id}}));
      failed.metric.push_back(gauge(slot.failed ? 1 : 0, {{"slot", id}}));
      for (size_t r = 0; r < slot.restarts.size(); ++r) {
        restarts.metric.push_back(
            counter(static_cast<double>(slot.restarts[r]),
                    {{"reason", std::string(RestartReasonName(static_cast<RestartReason>(r)))},
                     {"slot", id}}));
      }
      rss.metric.push_back(gauge(
          slot.serving != nullptr ? static_cast<double>(slot.serving->rss) : 0, {{"slot", id}}));
    }
    auto reloads =
        family("drover_reloads_total", "Rolling reloads by result.", MetricType::Counter);
    reloads.metric.push_back(counter(static_cast<double>(s.reloads_ok_), {{"result", "ok"}}));
    reloads.metric.push_back(
        counter(static_cast<double>(s.reloads_failed_), {{"result", "failed"}}));
    auto durations =
        family("drover_reload_duration_seconds",
               "Time from a reload's start to its last worker ready.", MetricType::Histogram);
    static constexpr double kBounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    prometheus::ClientMetric histogram;
    double sum = 0;
    for (double d : s.reload_durations_) sum += d;
    for (double bound : kBounds) {
      prometheus::ClientMetric::Bucket bucket;
      bucket.upper_bound = bound;
      bucket.cumulative_count = static_cast<uint64_t>(
          std::count_if(s.reload_durations_.begin(), s.reload_durations_.end(),
                        [bound](double d) { return d <= bound; }));
      histogram.histogram.bucket.push_back(bucket);
    }
    prometheus::ClientMetric::Bucket inf;
    inf.upper_bound = std::numeric_limits<double>::infinity();
    inf.cumulative_count = s.reload_durations_.size();
    histogram.histogram.bucket.push_back(inf);
    histogram.histogram.sample_count = s.reload_durations_.size();
    histogram.histogram.sample_sum = sum;
    durations.metric.push_back(std::move(histogram));
    return {std::move(up),  std::move(ready),   std::move(failed),   std::move(restarts),
            std::move(rss), std::move(reloads), std::move(durations)};
  }

 private:
  const Supervisor* supervisor_;
};

std::shared_ptr<prometheus::Collectable> Supervisor::Collector() const {
  return std::make_shared<MetricsCollector>(this);
}

}  // namespace drover::supervisor
