#include "sidecar/sidecar.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "prometheus/text_serializer.h"
#include "sidecar/admin/admin_server.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/balance/health_checker.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/proxy/worker.h"
#include "sidecar/sticky/hash.h"
#include "sidecar/sticky/members.h"

namespace drover {

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "drover-sidecar: %s\n", message.c_str());
  return 2;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  return set;
}

// Waits for one of `signals` until `deadline`; 0 on timeout.
int WaitSignal(const sigset_t& signals, absl::Time deadline) {
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return 0;
    timespec ts = absl::ToTimespec(left);
    int s = sigtimedwait(&signals, nullptr, &ts);
    if (s > 0) return s;
    if (errno == EAGAIN) return 0;
  }
}

}  // namespace

void BlockHandledSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int RunSidecar(SidecarOptions options) {
  RaiseFileLimit();
  proxy::ProxyConfig& config = options.proxy;
  const bool supervised = options.supervisor.has_value();
  if (supervised) {
    // Orphans of our workers come to us, not to init, so we reap them (and as PID 1 we must).
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  std::unique_ptr<balance::BackendSet> backends;
  if (supervised) {
    backends = balance::BackendSet::ForSlots(options.worker_host, options.supervisor->port_base,
                                             options.supervisor->workers);
  } else {
    absl::StatusOr<std::unique_ptr<balance::BackendSet>> parsed =
        balance::BackendSet::Parse(options.backends);
    if (!parsed.ok()) return Fail(absl::StrCat("--backends: ", parsed.status().message()));
    backends = std::move(*parsed);
  }

  config.sticky.slots = static_cast<int>(backends->size());
  config.sticky.member_hash = sticky::MemberHash(config.sticky.member_id);
  {
    absl::StatusOr<sticky::CookieCodec> codec =
        options.cookie_secret_file.empty()
            ? sticky::CookieCodec::Create({})
            : sticky::CookieCodec::FromSecretFile(options.cookie_secret_file);
    if (!codec.ok()) return Fail(absl::StrCat("--cookie-secret-file: ", codec.status().message()));
    config.sticky.codec = std::make_shared<const sticky::CookieCodec>(std::move(*codec));
  }

  // One SO_REUSEPORT listener per thread; with port 0 the first one picks the port.
  std::vector<int> listen_fds;
  std::vector<int> peer_listen_fds;
  for (int i = 0; i < config.threads; ++i) {
    absl::StatusOr<int> fd = net::ListenReusePort(config.listen, 4096);
    if (!fd.ok()) return Fail(absl::StrCat("--listen: ", fd.status().message()));
    if (i == 0 && config.listen.port() == 0) {
      absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(*fd);
      if (bound.ok()) config.listen = *bound;
    }
    listen_fds.push_back(*fd);
    if (config.peer_listen) {
      absl::StatusOr<int> peer_fd = net::ListenReusePort(*config.peer_listen, 4096);
      if (!peer_fd.ok()) return Fail(absl::StrCat("--peer-listen: ", peer_fd.status().message()));
      if (i == 0 && config.peer_listen->port() == 0) {
        absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(*peer_fd);
        if (bound.ok()) config.peer_listen = *bound;
      }
      peer_listen_fds.push_back(*peer_fd);
    } else {
      peer_listen_fds.push_back(-1);
    }
  }

  std::atomic<int64_t> open_connections{0};
  std::vector<std::unique_ptr<proxy::Worker>> workers;
  for (int i = 0; i < config.threads; ++i) {
    auto worker = proxy::Worker::Create(config, *backends, &open_connections,
                                        listen_fds[static_cast<size_t>(i)],
                                        peer_listen_fds[static_cast<size_t>(i)], i);
    if (!worker.ok()) {
      return Fail(absl::StrCat("cannot start thread ", i, ": ", worker.status().message()));
    }
    workers.push_back(std::move(*worker));
  }
  std::vector<const metrics::ThreadStats*> thread_stats;
  thread_stats.reserve(workers.size());
  for (const auto& w : workers) thread_stats.push_back(&w->stats());

  std::unique_ptr<balance::HealthChecker> health;
  std::unique_ptr<supervisor::Supervisor> supervisor;
  if (supervised) {
    auto served = [thread_stats](size_t slot) {
      uint64_t n = 0;
      for (const metrics::ThreadStats* t : thread_stats) n += t->served(slot);
      return n;
    };
    auto outstanding_on = [thread_stats](size_t slot, size_t parity) {
      int64_t n = 0;
      for (const metrics::ThreadStats* t : thread_stats) n += t->outstanding_on(slot, parity);
      return n;
    };
    supervisor = std::make_unique<supervisor::Supervisor>(*options.supervisor, *backends, served,
                                                          outstanding_on);
  } else {
    health = std::make_unique<balance::HealthChecker>(*backends, options.health_interval,
                                                      options.connect_timeout);
  }

  std::vector<metrics::BackendInfo> backend_info;
  backend_info.reserve(backends->size());
  for (size_t i = 0; i < backends->size(); ++i) {
    backend_info.push_back({(*backends)[i].name, &(*backends)[i].up});
  }
  auto collector = std::make_shared<metrics::StatsCollector>(thread_stats, std::move(backend_info));
  std::shared_ptr<prometheus::Collectable> worker_collector =
      supervisor ? supervisor->Collector() : nullptr;

  std::atomic<bool> draining{false};
  std::unique_ptr<admin::AdminServer> admin_server;
  if (!options.admin.empty()) {
    absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(options.admin);
    if (!address.ok()) return Fail(absl::StrCat("--admin: ", address.status().message()));
    admin_server = std::make_unique<admin::AdminServer>(*address);
    admin_server->Handle("GET", "/metrics", [collector, worker_collector] {
      std::vector<prometheus::MetricFamily> families = collector->Collect();
      if (worker_collector) {
        for (auto& f : worker_collector->Collect()) families.push_back(std::move(f));
      }
      return admin::AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                  prometheus::TextSerializer().Serialize(families)};
    });
    admin_server->Handle("GET", "/healthz", [] { return admin::AdminResponse{200, {}, "ok\n"}; });
    balance::BackendSet& backend_set = *backends;
    supervisor::Supervisor* sup = supervisor.get();
    admin_server->Handle("GET", "/readyz", [&backend_set, sup, &draining] {
      if (draining.load()) return admin::AdminResponse{503, {}, "not ready: draining\n"};
      if (sup != nullptr) {
        std::string text;
        bool ready = sup->Ready(text);
        return admin::AdminResponse{
            ready ? 200 : 503,
            {},
            absl::StrCat(ready ? "ready\n" : "not ready: no worker is ready\n", text)};
      }
      if (backend_set.AnyUp()) return admin::AdminResponse{200, {}, "ready\n"};
      return admin::AdminResponse{503, {}, "not ready: no backend is up\n"};
    });
    admin_server->Handle("GET", "/status", [&backend_set, sup, &draining] {
      if (sup != nullptr) {
        std::string json = sup->StatusJson();
        json.insert(1, absl::StrCat("\"draining\":", draining.load() ? "true" : "false", ","));
        return admin::AdminResponse{200, "application/json", json};
      }
      std::vector<std::string> items;
      for (size_t i = 0; i < backend_set.size(); ++i) {
        items.push_back(absl::StrCat("{\"backend\":\"", backend_set[i].name, "\",\"up\":",
                                     backend_set[i].up.load() ? "true" : "false", "}"));
      }
      return admin::AdminResponse{
          200, "application/json",
          absl::StrCat("{\"draining\":", draining.load() ? "true" : "false", ",\"backends\":[",
                       absl::StrJoin(items, ","), "]}\n")};
    });
    admin_server->Handle("POST", "/reload", [sup] {
      if (sup == nullptr) {
        return admin::AdminResponse{409, {}, "no workers to reload (proxy-only mode)\n"};
      }
      if (!sup->RequestReload()) {
        return admin::AdminResponse{409, {}, "a reload is already running\n"};
      }
      return admin::AdminResponse{202, {}, "reload started\n"};
    });
    if (absl::Status s = admin_server->Start(); !s.ok()) {
      return Fail(absl::StrCat("--admin: ", s.message()));
    }
  }

  if (supervisor) {
    if (absl::Status s = supervisor->Start(); !s.ok()) {
      return Fail(absl::StrCat("cannot start workers: ", s.message()));
    }
  } else {
    health->Start();
  }
  std::unique_ptr<sticky::MemberFileWatcher> member_watcher;
  if (!options.peers_file.empty()) {
    std::vector<proxy::Worker*> targets;
    targets.reserve(workers.size());
    for (auto& w : workers) targets.push_back(w.get());
    member_watcher = std::make_unique<sticky::MemberFileWatcher>(
        options.peers_file, absl::Seconds(1),
        [targets](const std::shared_ptr<const sticky::MemberTable>& table) {
          std::fprintf(stderr, "drover-sidecar: member table: %zu members\n",
                       table->members().size());
          for (proxy::Worker* w : targets) w->SetMembers(table);
        });
    if (absl::Status s = member_watcher->Start(); !s.ok()) {
      return Fail(absl::StrCat("--peers: ", s.message()));
    }
  }

  std::vector<std::thread> loops;
  loops.reserve(workers.size());
  for (auto& worker : workers) loops.emplace_back([w = worker.get()] { w->Run(); });

  std::fprintf(stderr, "drover-sidecar: listening on %s (%s, %d threads)\n",
               config.listen.ToString().c_str(), options.mode_name.c_str(), config.threads);
  if (admin_server) {
    std::fprintf(stderr, "drover-sidecar: admin on %s\n",
                 admin_server->address().ToString().c_str());
  }
  if (config.peer_listen) {
    std::fprintf(stderr, "drover-sidecar: peers on %s (member %s)\n",
                 config.peer_listen->ToString().c_str(), config.sticky.member_id.c_str());
  }

  sigset_t wanted;
  sigemptyset(&wanted);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP}) sigaddset(&wanted, s);
  int signal_number = 0;
  for (;;) {
    sigwait(&wanted, &signal_number);
    if (signal_number != SIGHUP) break;
    if (supervisor) {
      if (!supervisor->RequestReload()) {
        std::fprintf(stderr, "drover-sidecar: SIGHUP: a reload is already running\n");
      }
    } else {
      std::fprintf(stderr, "drover-sidecar: SIGHUP ignored: no workers to reload\n");
    }
  }

  const absl::Time stop_started = absl::Now();
  const absl::Time grace_deadline = stop_started + options.grace_period;
  std::fprintf(stderr, "drover-sidecar: %s received: %s\n", strsignal(signal_number),
               signal_number == SIGQUIT ? "stopping now" : "draining");
  draining.store(true);
  int stop_signal = SIGTERM;
  if (signal_number == SIGQUIT) {
    stop_signal = SIGQUIT;
  } else {
    // Kubernetes sends SIGTERM while endpoints still route to us: keep serving, unready, for
    // the drain delay. A second signal cuts the wait short; Ctrl-C does not wait at all.
    if (signal_number == SIGTERM) {
      sigset_t stop_signals;
      sigemptyset(&stop_signals);
      for (int s : {SIGINT, SIGTERM, SIGQUIT}) sigaddset(&stop_signals, s);
      WaitSignal(stop_signals, std::min(stop_started + options.drain_delay, grace_deadline));
    }
    for (auto& worker : workers) worker->BeginDrain();
    // In-flight requests finish; leave the workers their kill timeout within the grace period.
    absl::Time connections_deadline =
        grace_deadline - (supervisor ? options.supervisor->kill_timeout : absl::ZeroDuration()) -
        absl::Milliseconds(500);
    // Requests in flight finish first. Tunnels (WebSockets) are the app's to close when it
    // stops, so in supervisor mode they do not hold the workers' SIGTERM back.
    auto busy = [&] {
      int64_t tunnels = 0;
      if (supervisor) {
        for (const metrics::ThreadStats* t : thread_stats) tunnels += t->active_tunnels();
      }
      return open_connections.load() - tunnels;
    };
    while (busy() > 0 && absl::Now() < connections_deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (busy() > 0) {
      std::fprintf(stderr, "drover-sidecar: %ld connections still open at the grace deadline\n",
                   static_cast<long>(busy()));
    }
  }
  if (supervisor) supervisor->StopWorkers(stop_signal, grace_deadline - absl::Milliseconds(200));
  // What is left (tunnels to stopped workers) ends with them; give it until the deadline.
  while (open_connections.load() > 0 && absl::Now() < grace_deadline - absl::Milliseconds(100)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (auto& worker : workers) worker->Stop();
  for (auto& t : loops) t.join();
  if (admin_server) admin_server->Stop();
  if (health) health->Stop();
  if (member_watcher) member_watcher->Stop();
  workers.clear();
  supervisor.reset();
  std::fprintf(
      stderr, "drover-sidecar: stopped after %s\n",
      absl::FormatDuration(absl::Trunc(absl::Now() - stop_started, absl::Milliseconds(1))).c_str());
  return 0;
}

}  // namespace drover
