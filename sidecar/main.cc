// drover-sidecar: parses flags and wires the proxy together. See docs/sidecar-cli.md.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "sidecar/admin/admin_server.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/balance/health_checker.h"
#include "sidecar/metrics/stats.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/config.h"
#include "sidecar/proxy/worker.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8080", "Public listener, HOST:PORT or [V6]:PORT.");
ABSL_FLAG(std::string, backends, "", "Comma-separated HOST:PORT backends to proxy to (required).");
ABSL_FLAG(std::string, mode, "http",
          "http: HTTP/1.1 with WebSocket/Upgrade tunnels; tcp: plain TCP relay.");
ABSL_FLAG(std::string, balance, "leastconn",
          "leastconn (least outstanding requests), roundrobin or p2c (power of two choices).");
ABSL_FLAG(int, threads, 0, "Event-loop threads; 0 = the CPUs this process may run on.");
ABSL_FLAG(std::string, admin, "127.0.0.1:9901",
          "Admin listener for /metrics, /healthz and /readyz; empty to disable.");
ABSL_FLAG(int64_t, max_connections, 100000,
          "Client connections open at once; more are closed at accept.");
ABSL_FLAG(int64_t, max_head_bytes, 16384, "Largest request head; a larger one gets 431.");
ABSL_FLAG(int64_t, max_headers, 100, "Most request header fields; more gets 431.");
ABSL_FLAG(absl::Duration, client_header_timeout, absl::Seconds(10),
          "Time a client has to send a whole request head (slowloris); then 408 and close.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(60),
          "Keep-alive idle time between requests before the connection is closed.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(3),
          "Backend connect timeout; then another backend or 504.");
ABSL_FLAG(absl::Duration, response_timeout, absl::Seconds(60),
          "Longest silence from a backend during a request; before the response: 504.");
ABSL_FLAG(absl::Duration, tunnel_timeout, absl::Hours(1),
          "Idle timeout of WebSocket/Upgrade tunnels and TCP-mode connections.");
ABSL_FLAG(absl::Duration, upstream_idle_timeout, absl::Seconds(4),
          "Pooled backend connections unused this long are closed (keep it below the "
          "backend's keep-alive timeout: Node.js closes after 5s).");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2),
          "Active TCP health-check period per backend.");

namespace {

using drover::net::SocketAddress;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "drover-sidecar: %s\n", message.c_str());
  std::exit(2);
}

// Abseil flag names are identifiers; users type --max-connections as often as
// --max_connections, so dashes in a flag's name (not its value) become underscores.
std::vector<char*> NormalizeFlagNames(int argc, char** argv, std::vector<std::string>& storage) {
  storage.reserve(static_cast<size_t>(argc));
  std::vector<char*> out;
  bool after_double_dash = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") after_double_dash = true;
    if (i > 0 && !after_double_dash && absl::StartsWith(arg, "-") && arg.size() > 2) {
      size_t start = arg[1] == '-' ? 2 : 1;
      size_t end = arg.find('=');
      if (end == std::string::npos) end = arg.size();
      for (size_t k = start; k < end; ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    storage.push_back(std::move(arg));
    out.push_back(storage.back().data());
  }
  return out;
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

absl::Duration PositiveDuration(const absl::Flag<absl::Duration>& flag, const char* name) {
  absl::Duration d = absl::GetFlag(flag);
  if (d <= absl::ZeroDuration()) Die(absl::StrCat("--", name, " must be positive"));
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Drover's per-pod reverse proxy.\n\n"
      "  drover-sidecar --listen=0.0.0.0:8080 --backends=127.0.0.1:3000,127.0.0.1:3001\n\n"
      "Flag names take dashes or underscores alike. Durations: 500ms, 10s, 1m.");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "sidecar/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);

  std::vector<std::string> storage;
  std::vector<char*> args = NormalizeFlagNames(argc, argv, storage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (positional.size() > 1) {
    Die(absl::StrCat("unexpected argument '", positional[1],
                     "' (running a command after -- is not supported yet)"));
  }

  drover::proxy::ProxyConfig config;
  absl::StatusOr<SocketAddress> listen = SocketAddress::Parse(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) Die(absl::StrCat("--listen: ", listen.status().message()));
  config.listen = *listen;

  std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "http") {
    config.mode = drover::proxy::ProxyMode::kHttp;
  } else if (mode == "tcp") {
    config.mode = drover::proxy::ProxyMode::kTcp;
  } else {
    Die(absl::StrCat("--mode: unknown mode '", mode, "': want http or tcp"));
  }
  absl::StatusOr<drover::balance::BalanceMode> balance =
      drover::balance::ParseBalanceMode(absl::GetFlag(FLAGS_balance));
  if (!balance.ok()) Die(absl::StrCat("--balance: ", balance.status().message()));
  config.balance = *balance;

  if (absl::GetFlag(FLAGS_backends).empty()) {
    Die("--backends is required, e.g. --backends=127.0.0.1:3000,127.0.0.1:3001");
  }
  absl::StatusOr<std::unique_ptr<drover::balance::BackendSet>> backends =
      drover::balance::BackendSet::Parse(absl::GetFlag(FLAGS_backends));
  if (!backends.ok()) Die(absl::StrCat("--backends: ", backends.status().message()));

  int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0 || threads > 1024) Die("--threads must be between 0 and 1024");
  config.threads = threads == 0 ? AvailableCpus() : threads;

  int64_t max_head = absl::GetFlag(FLAGS_max_head_bytes);
  if (max_head < 256 || max_head > 1024 * 1024) {
    Die("--max-head-bytes must be between 256 and 1048576");
  }
  config.limits.max_head_bytes = static_cast<size_t>(max_head);
  int64_t max_headers = absl::GetFlag(FLAGS_max_headers);
  if (max_headers < 1 || max_headers > static_cast<int64_t>(drover::http::kMaxHeaderFields)) {
    Die(absl::StrCat("--max-headers must be between 1 and ", drover::http::kMaxHeaderFields));
  }
  config.limits.max_headers = static_cast<size_t>(max_headers);
  config.max_connections = absl::GetFlag(FLAGS_max_connections);
  if (config.max_connections < 1) Die("--max-connections must be at least 1");
  config.client_header_timeout_ms = absl::ToInt64Milliseconds(
      PositiveDuration(FLAGS_client_header_timeout, "client-header-timeout"));
  config.idle_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_idle_timeout, "idle-timeout"));
  absl::Duration connect_timeout = PositiveDuration(FLAGS_connect_timeout, "connect-timeout");
  config.connect_timeout_ms = absl::ToInt64Milliseconds(connect_timeout);
  config.response_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_response_timeout, "response-timeout"));
  config.tunnel_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_tunnel_timeout, "tunnel-timeout"));
  config.upstream_idle_timeout_ms = absl::ToInt64Milliseconds(
      PositiveDuration(FLAGS_upstream_idle_timeout, "upstream-idle-timeout"));
  absl::Duration health_interval = PositiveDuration(FLAGS_health_interval, "health-interval");

  std::string admin_flag = absl::GetFlag(FLAGS_admin);
  std::unique_ptr<drover::admin::AdminServer> admin;
  if (!admin_flag.empty()) {
    absl::StatusOr<SocketAddress> admin_address = SocketAddress::Parse(admin_flag);
    if (!admin_address.ok()) Die(absl::StrCat("--admin: ", admin_address.status().message()));
    admin = std::make_unique<drover::admin::AdminServer>(*admin_address);
  }

  RaiseFileLimit();
  signal(SIGPIPE, SIG_IGN);
  // Signals are taken by the main thread alone (sigwait below); every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // One SO_REUSEPORT listener per thread; with port 0 the first one picks the port.
  std::vector<int> listen_fds;
  for (int i = 0; i < config.threads; ++i) {
    absl::StatusOr<int> fd = drover::net::ListenReusePort(config.listen, 4096);
    if (!fd.ok()) Die(absl::StrCat("--listen: ", fd.status().message()));
    if (i == 0 && config.listen.port() == 0) {
      absl::StatusOr<SocketAddress> bound = drover::net::LocalAddress(*fd);
      if (bound.ok()) config.listen = *bound;
    }
    listen_fds.push_back(*fd);
  }

  drover::balance::HealthChecker health(**backends, health_interval, connect_timeout);
  health.Start();

  std::atomic<int64_t> open_connections{0};
  std::vector<std::unique_ptr<drover::proxy::Worker>> workers;
  for (int i = 0; i < config.threads; ++i) {
    auto worker = drover::proxy::Worker::Create(config, **backends, &open_connections,
                                                listen_fds[static_cast<size_t>(i)], i);
    if (!worker.ok()) Die(absl::StrCat("cannot start thread ", i, ": ", worker.status().message()));
    workers.push_back(std::move(*worker));
  }

  std::vector<const drover::metrics::ThreadStats*> thread_stats;
  for (const auto& w : workers) thread_stats.push_back(&w->stats());
  std::vector<drover::metrics::BackendInfo> backend_info;
  backend_info.reserve((*backends)->size());
  for (size_t i = 0; i < (*backends)->size(); ++i) {
    backend_info.push_back({(**backends)[i].name, &(**backends)[i].up});
  }
  auto collector = std::make_shared<drover::metrics::StatsCollector>(std::move(thread_stats),
                                                                     std::move(backend_info));
  drover::balance::BackendSet& backend_set = **backends;
  if (admin) {
    admin->Handle("GET", "/metrics", [collector] {
      return drover::admin::AdminResponse{
          200, "text/plain; version=0.0.4; charset=utf-8",
          prometheus::TextSerializer().Serialize(collector->Collect())};
    });
    admin->Handle("GET", "/healthz", [] { return drover::admin::AdminResponse{200, {}, "ok\n"}; });
    admin->Handle("GET", "/readyz", [&backend_set] {
      if (backend_set.AnyUp()) return drover::admin::AdminResponse{200, {}, "ready\n"};
      return drover::admin::AdminResponse{503, {}, "not ready: no backend is up\n"};
    });
    if (absl::Status s = admin->Start(); !s.ok()) Die(absl::StrCat("--admin: ", s.message()));
  }

  std::vector<std::thread> loops;
  loops.reserve(workers.size());
  for (auto& worker : workers) loops.emplace_back([w = worker.get()] { w->Run(); });

  std::fprintf(stderr, "drover-sidecar: listening on %s (%s, %d threads, %s)\n",
               config.listen.ToString().c_str(), mode.c_str(), config.threads,
               absl::GetFlag(FLAGS_balance).c_str());
  if (admin) {
    std::fprintf(stderr, "drover-sidecar: admin on %s\n", admin->address().ToString().c_str());
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "drover-sidecar: %s received, stopping\n", strsignal(signal_number));
  for (auto& worker : workers) worker->Stop();
  for (auto& t : loops) t.join();
  if (admin) admin->Stop();
  health.Stop();
  workers.clear();
  return 0;
}
