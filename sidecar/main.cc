// drover-sidecar: parses flags and wires the proxy together. See docs/sidecar-cli.md.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "sidecar/balance/balancer.h"
#include "sidecar/log/access_log.h"
#include "sidecar/membership/controller_source.h"
#include "sidecar/membership/file_source.h"
#include "sidecar/membership/source.h"
#include "sidecar/net/socket.h"
#include "sidecar/proxy/config.h"
#include "sidecar/sidecar.h"
#include "sidecar/sticky/policy.h"
#include "sidecar/supervisor/cpus.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8080", "Public listener, HOST:PORT or [V6]:PORT.");
ABSL_FLAG(std::string, backends, "", "Comma-separated HOST:PORT backends to proxy to (required).");
ABSL_FLAG(std::string, mode, "http",
          "http: HTTP/1.1 with WebSocket/Upgrade tunnels; tcp: plain TCP relay.");
ABSL_FLAG(std::string, balance, "leastconn",
          "leastconn (least outstanding requests), roundrobin or p2c (power of two choices).");
ABSL_FLAG(int, threads, 0, "Event-loop threads; 0 = the CPUs this process may run on.");
ABSL_FLAG(std::string, admin, "127.0.0.1:9901",
          "Admin listener for /metrics, /healthz, /readyz, /status and POST /reload; empty to "
          "disable.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File with the bearer token that POST /reload (any mutating admin path) needs, re-read "
          "when it changes. Without it, mutating paths are served on a loopback --admin only.");
ABSL_FLAG(absl::Duration, admin_head_timeout, absl::Seconds(5),
          "Time an admin connection has to send a request head (and an idle one to send the "
          "next); then it is closed.");
ABSL_FLAG(int64_t, max_connections, 100000,
          "Client connections open at once; more are closed at accept.");
ABSL_FLAG(int64_t, max_head_bytes, 16384, "Largest request head; a larger one gets 431.");
ABSL_FLAG(int64_t, max_headers, 100, "Most request header fields; more gets 431.");
ABSL_FLAG(absl::Duration, client_header_timeout, absl::Seconds(10),
          "Time a client has to send a whole request head (slowloris); then 408 and close.");
ABSL_FLAG(absl::Duration, client_body_timeout, absl::Seconds(60),
          "Longest silence from a client while its request body is expected; then 408 and "
          "close, and the backend request is aborted.");
ABSL_FLAG(bool, abort_on_client_close, true,
          "A client that closes (FIN) after a whole request, before its response, aborts the "
          "backend request (nginx); false answers half-closed clients (HAProxy's default). "
          "Requests pipelined before the FIN are answered either way.");
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
          "Active TCP health-check period per backend (proxy-only mode).");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(5),
          "On SIGTERM: keep serving, with /readyz failing, this long before closing the listener.");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(30),
          "On SIGTERM or SIGINT: exit within this, whatever is left.");

// Sticky sessions.
ABSL_FLAG(std::string, sticky, "cookie",
          "Session affinity: cookie (inserted, HAProxy 'insert indirect nocache'), "
          "app-cookie:NAME, header:NAME, query:NAME, path:N, source-ip, or none.");
ABSL_FLAG(std::string, cookie_name, "DROVERID", "Name of the inserted session cookie.");
ABSL_FLAG(std::string, cookie_secret_file, "",
          "File with a secret (first line) and optionally the previous one (second line): "
          "cookies carry an HMAC, and the previous secret is still accepted during a rotation.");
ABSL_FLAG(absl::Duration, cookie_max_age, absl::ZeroDuration(),
          "Max-Age of the session cookie; 0 = a browser-session cookie.");
ABSL_FLAG(absl::Duration, cookie_max_idle, absl::ZeroDuration(),
          "A session unused this long starts over; 0 = no idle expiry.");
ABSL_FLAG(std::string, trusted_proxies, "",
          "CIDRs whose X-Forwarded-For and X-Forwarded-Proto are believed (source-ip, Secure).");
ABSL_FLAG(std::string, member_id, "",
          "This sidecar's member id in the member table; default $POD_NAME, else the host name.");
ABSL_FLAG(std::string, peers, "",
          "Member table file (lines 'ID HOST:PORT SLOTS [ready|draining]'), reloaded when it "
          "changes: sessions "
          "of other members are forwarded to their peer listener.");
ABSL_FLAG(std::string, peer_listen, "",
          "Listener for requests other members forward here (never forwarded again).");
ABSL_FLAG(std::string, controller, "",
          "drover-controller address(es), HOST:PORT[,HOST:PORT...]: the member table comes from "
          "the controller (not with --peers). The sidecar fails over between them and keeps "
          "its last table while none is reachable.");
ABSL_FLAG(std::string, controller_token_file, "",
          "File with the token presented to the controller (its --sidecar-token-file).");
ABSL_FLAG(std::string, controller_tls_ca, "",
          "PEM CA bundle: talk TLS to the controller and trust this CA.");
ABSL_FLAG(std::string, controller_tls_cert, "",
          "PEM client certificate for the controller (mTLS), with --controller-tls-key.");
ABSL_FLAG(std::string, controller_tls_key, "", "PEM key of --controller-tls-cert.");
ABSL_FLAG(std::string, pod_namespace, "",
          "This pod's namespace, told to the controller; default $POD_NAMESPACE.");
ABSL_FLAG(std::string, pod_ip, "",
          "This pod's IP, told to the controller; default $POD_IP, else the --peer-listen host.");
ABSL_FLAG(std::string, pod_uid, "", "This pod's uid, told to the controller; default $POD_UID.");

// Supervisor mode: drover-sidecar [flags] -- CMD ARGS...
ABSL_FLAG(std::string, workers, "auto",
          "Worker processes to run: N, or auto (CPUs usable under affinity and cgroup limits).");
ABSL_FLAG(int, worker_port_base, 3000,
          "PORT of worker slot 0; slots use base..base+N-1, replacements base+N..base+2N-1.");
ABSL_FLAG(std::string, worker_host, "127.0.0.1", "Address the workers listen on.");
ABSL_FLAG(std::string, worker_transport, "tcp",
          "tcp: each worker gets PORT=<port>; unix: PORT=<socket path> in a private directory "
          "(mode 0700, under $XDG_RUNTIME_DIR or /tmp, removed at exit).");
ABSL_FLAG(bool, pin, true, "Pin each worker to its own CPU (SMT siblings last).");
ABSL_FLAG(std::string, ready_path, "",
          "If set, a worker is ready once GET of this path answers 2xx; else once its port "
          "accepts connections.");
ABSL_FLAG(absl::Duration, start_timeout, absl::Seconds(30),
          "A worker not ready within this is killed (a reload then keeps the old process).");
ABSL_FLAG(absl::Duration, kill_timeout, absl::Seconds(5),
          "SIGTERM, then SIGKILL to a worker's process group after this.");
ABSL_FLAG(absl::Duration, restart_delay, absl::Milliseconds(100),
          "Respawn delay after the second consecutive crash (the first respawns at once); x1.5 "
          "per further crash up to 15s; reset after 30s up.");
ABSL_FLAG(int, restart_burst, 10,
          "More crashes than this within --restart-interval mark the slot failed.");
ABSL_FLAG(absl::Duration, restart_interval, absl::Seconds(60), "Window of --restart-burst.");
ABSL_FLAG(int64_t, max_requests, 0, "Recycle a worker after this many responses; 0 = off.");
ABSL_FLAG(std::string, max_memory, "0",
          "Recycle a worker whose RSS exceeds this (bytes, or 512M, 1G); 0 = off.");
ABSL_FLAG(absl::Duration, max_age, absl::ZeroDuration(),
          "Recycle a worker older than this; 0 = off.");
ABSL_FLAG(std::string, log_format, "text",
          "Worker output: text ([worker i] line) or json (one object per line).");
ABSL_FLAG(int, worker_max_inflight, 0,
          "Requests in flight per worker (backend) at once, across all threads; more wait in the "
          "sidecar's queue. 0 = unlimited.");
ABSL_FLAG(int64_t, max_queue, 1024,
          "Requests waiting for a worker at most (--worker-max-inflight); more get 503.");
ABSL_FLAG(absl::Duration, queue_timeout, absl::Seconds(10),
          "Longest wait for a worker with room (--worker-max-inflight); then 503.");
ABSL_FLAG(std::string, access_log, "off",
          "One line per request on stdout: off, text (HAProxy-like) or json.");

namespace {

using drover::net::SocketAddress;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "drover-sidecar: %s\n", message.c_str());
  std::exit(2);
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

// "1073741824", "512M", "512MiB", "1G", "64k": powers of 1024.
std::optional<uint64_t> ParseBytes(const std::string& text) {
  if (text.empty()) return std::nullopt;
  uint64_t multiplier = 1;
  std::string lower = absl::AsciiStrToLower(text);
  for (const char* suffix : {"ib", "b"}) {
    if (absl::EndsWith(lower, suffix) && lower.size() > strlen(suffix)) {
      lower.resize(lower.size() - strlen(suffix));
      break;
    }
  }
  switch (lower.back()) {
    case 'k':
      multiplier = 1ULL << 10;
      break;
    case 'm':
      multiplier = 1ULL << 20;
      break;
    case 'g':
      multiplier = 1ULL << 30;
      break;
    default:
      break;
  }
  if (multiplier != 1) lower.pop_back();
  uint64_t value = 0;
  if (!absl::SimpleAtoi(lower, &value) || lower.empty() || lower[0] == '-' || lower[0] == '+') {
    return std::nullopt;
  }
  return value * multiplier;
}

absl::Duration PositiveDuration(const absl::Flag<absl::Duration>& flag, const char* name) {
  absl::Duration d = absl::GetFlag(flag);
  if (d <= absl::ZeroDuration()) Die(absl::StrCat("--", name, " must be positive"));
  return d;
}

// --listen, --mode, --balance, --threads, the limits and timeouts, --admin.
void ReadProxyFlags(drover::SidecarOptions& options) {
  drover::proxy::ProxyConfig& config = options.proxy;
  absl::StatusOr<SocketAddress> listen = SocketAddress::Parse(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) Die(absl::StrCat("--listen: ", listen.status().message()));
  config.listen = *listen;

  options.mode_name = absl::GetFlag(FLAGS_mode);
  if (options.mode_name == "http") {
    config.mode = drover::proxy::ProxyMode::kHttp;
  } else if (options.mode_name == "tcp") {
    config.mode = drover::proxy::ProxyMode::kTcp;
  } else {
    Die(absl::StrCat("--mode: unknown mode '", options.mode_name, "': want http or tcp"));
  }
  options.balance_name = absl::GetFlag(FLAGS_balance);
  absl::StatusOr<drover::balance::BalanceMode> balance =
      drover::balance::ParseBalanceMode(options.balance_name);
  if (!balance.ok()) Die(absl::StrCat("--balance: ", balance.status().message()));
  config.balance = *balance;

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
  config.client_body_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_client_body_timeout, "client-body-timeout"));
  config.abort_on_client_close = absl::GetFlag(FLAGS_abort_on_client_close);
  config.idle_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_idle_timeout, "idle-timeout"));
  options.connect_timeout = PositiveDuration(FLAGS_connect_timeout, "connect-timeout");
  config.connect_timeout_ms = absl::ToInt64Milliseconds(options.connect_timeout);
  config.response_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_response_timeout, "response-timeout"));
  config.tunnel_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_tunnel_timeout, "tunnel-timeout"));
  config.upstream_idle_timeout_ms = absl::ToInt64Milliseconds(
      PositiveDuration(FLAGS_upstream_idle_timeout, "upstream-idle-timeout"));
  options.health_interval = PositiveDuration(FLAGS_health_interval, "health-interval");
  options.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  if (options.drain_delay < absl::ZeroDuration()) Die("--drain-delay must not be negative");
  options.grace_period = PositiveDuration(FLAGS_grace_period, "grace-period");
  options.admin = absl::GetFlag(FLAGS_admin);
  if (!options.admin.empty()) {
    absl::StatusOr<SocketAddress> admin_address = SocketAddress::Parse(options.admin);
    if (!admin_address.ok()) Die(absl::StrCat("--admin: ", admin_address.status().message()));
  }
  options.admin_token_file = absl::GetFlag(FLAGS_admin_token_file);
  options.admin_head_timeout = PositiveDuration(FLAGS_admin_head_timeout, "admin-head-timeout");
}

// --worker-max-inflight and its queue, --access-log.
void ReadQueueAndLogFlags(drover::SidecarOptions& options) {
  drover::proxy::ProxyConfig& config = options.proxy;
  config.worker_max_inflight = absl::GetFlag(FLAGS_worker_max_inflight);
  if (config.worker_max_inflight < 0) Die("--worker-max-inflight must not be negative");
  config.max_queue = absl::GetFlag(FLAGS_max_queue);
  if (config.max_queue < 0) Die("--max-queue must not be negative");
  config.queue_timeout_ms =
      absl::ToInt64Milliseconds(PositiveDuration(FLAGS_queue_timeout, "queue-timeout"));
  absl::StatusOr<drover::log::AccessLogFormat> access_log =
      drover::log::ParseAccessLogFormat(absl::GetFlag(FLAGS_access_log));
  if (!access_log.ok()) Die(absl::StrCat("--access-log: ", access_log.status().message()));
  config.access_log = *access_log;
}

// --sticky and the cookie, --member-id, --peer-listen (the member table's source is separate).
void ReadStickyFlags(drover::SidecarOptions& options) {
  absl::StatusOr<drover::sticky::StickyConfig> sticky =
      drover::sticky::ParseStickyMode(absl::GetFlag(FLAGS_sticky));
  if (!sticky.ok()) Die(absl::StrCat("--sticky: ", sticky.status().message()));
  drover::sticky::StickyConfig& sticky_config = options.proxy.sticky;
  sticky_config = *sticky;
  sticky_config.cookie_name = absl::GetFlag(FLAGS_cookie_name);
  if (sticky_config.cookie_name.empty() ||
      sticky_config.cookie_name.find_first_of("=;, \t\"") != std::string::npos) {
    Die("--cookie-name must be a cookie name token");
  }
  sticky_config.cookie_max_age_s =
      static_cast<uint32_t>(absl::ToInt64Seconds(absl::GetFlag(FLAGS_cookie_max_age)));
  sticky_config.cookie_max_idle_s =
      static_cast<uint32_t>(absl::ToInt64Seconds(absl::GetFlag(FLAGS_cookie_max_idle)));
  absl::StatusOr<std::vector<drover::sticky::Cidr>> trusted =
      drover::sticky::ParseCidrs(absl::GetFlag(FLAGS_trusted_proxies));
  if (!trusted.ok()) Die(absl::StrCat("--trusted-proxies: ", trusted.status().message()));
  sticky_config.trusted_proxies = *trusted;
  sticky_config.member_id = absl::GetFlag(FLAGS_member_id);
  if (sticky_config.member_id.empty()) {
    const char* pod = getenv("POD_NAME");
    char host[256] = {0};
    if (pod != nullptr && *pod != '\0') {
      sticky_config.member_id = pod;
    } else if (gethostname(host, sizeof(host) - 1) == 0) {
      sticky_config.member_id = host;
    } else {
      sticky_config.member_id = "local";
    }
  }
  options.cookie_secret_file = absl::GetFlag(FLAGS_cookie_secret_file);
  if (!absl::GetFlag(FLAGS_peer_listen).empty()) {
    absl::StatusOr<SocketAddress> peer_listen =
        SocketAddress::Parse(absl::GetFlag(FLAGS_peer_listen));
    if (!peer_listen.ok()) Die(absl::StrCat("--peer-listen: ", peer_listen.status().message()));
    options.proxy.peer_listen = *peer_listen;
  }
}

// --backends (proxy-only mode) or, with a command after --, the supervisor's flags.
void ReadBackendFlags(const std::vector<std::string>& command, drover::SidecarOptions& options) {
  options.backends = absl::GetFlag(FLAGS_backends);
  if (command.empty()) {
    if (options.backends.empty()) {
      Die("--backends is required (e.g. --backends=127.0.0.1:3000,127.0.0.1:3001), or give a "
          "worker command after --");
    }
    absl::StatusOr<std::unique_ptr<drover::balance::BackendSet>> backends =
        drover::balance::BackendSet::Parse(options.backends);
    if (!backends.ok()) Die(absl::StrCat("--backends: ", backends.status().message()));
  } else {
    if (!options.backends.empty()) {
      Die("--backends: not with a worker command: the workers are the backends");
    }
    drover::supervisor::SupervisorConfig sup;
    sup.command = command;
    std::string workers = absl::GetFlag(FLAGS_workers);
    absl::StatusOr<drover::supervisor::CpuDecision> cpus = drover::supervisor::DecideCpus();
    if (workers == "auto") {
      if (!cpus.ok()) Die(absl::StrCat("--workers=auto: ", cpus.status().message()));
      sup.workers = cpus->workers;
      std::fprintf(stderr, "drover-sidecar: --workers=auto: %s\n", cpus->reason.c_str());
    } else if (!absl::SimpleAtoi(workers, &sup.workers) || sup.workers < 1 || sup.workers > 1024) {
      Die(absl::StrCat("--workers: '", workers, "' is not auto or a number from 1 to 1024"));
    }
    if (absl::GetFlag(FLAGS_pin) && cpus.ok()) sup.cpus = cpus->cpus;
    sup.port_base = absl::GetFlag(FLAGS_worker_port_base);
    if (sup.port_base < 1 || sup.port_base + 2 * sup.workers - 1 > 65535) {
      Die(absl::StrCat("--worker-port-base: ports ", sup.port_base, "..",
                       sup.port_base + 2 * sup.workers - 1, " are not all valid"));
    }
    absl::StatusOr<SocketAddress> host =
        SocketAddress::Parse(absl::StrCat(absl::GetFlag(FLAGS_worker_host), ":0"));
    if (!host.ok()) Die(absl::StrCat("--worker-host: ", host.status().message()));
    options.worker_host = *host;
    absl::StatusOr<drover::supervisor::WorkerTransport> transport =
        drover::supervisor::ParseWorkerTransport(absl::GetFlag(FLAGS_worker_transport));
    if (!transport.ok()) Die(absl::StrCat("--worker-transport: ", transport.status().message()));
    sup.transport = *transport;
    sup.ready_path = absl::GetFlag(FLAGS_ready_path);
    if (!sup.ready_path.empty() && sup.ready_path[0] != '/') {
      Die("--ready-path must start with /");
    }
    sup.start_timeout = PositiveDuration(FLAGS_start_timeout, "start-timeout");
    sup.kill_timeout = PositiveDuration(FLAGS_kill_timeout, "kill-timeout");
    sup.restart_delay = PositiveDuration(FLAGS_restart_delay, "restart-delay");
    sup.restart_burst = absl::GetFlag(FLAGS_restart_burst);
    if (sup.restart_burst < 0) Die("--restart-burst must not be negative");
    sup.restart_interval = PositiveDuration(FLAGS_restart_interval, "restart-interval");
    int64_t max_requests = absl::GetFlag(FLAGS_max_requests);
    if (max_requests < 0) Die("--max-requests must not be negative");
    sup.max_requests = static_cast<uint64_t>(max_requests);
    std::optional<uint64_t> max_memory = ParseBytes(absl::GetFlag(FLAGS_max_memory));
    if (!max_memory) {
      Die(absl::StrCat("--max-memory: '", absl::GetFlag(FLAGS_max_memory),
                       "' is not a size like 512M or 1G"));
    }
    sup.max_memory = *max_memory;
    sup.max_age = absl::GetFlag(FLAGS_max_age);
    if (sup.max_age < absl::ZeroDuration()) Die("--max-age must not be negative");
    absl::StatusOr<drover::supervisor::LogFormat> log_format =
        drover::supervisor::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
    if (!log_format.ok()) Die(absl::StrCat("--log-format: ", log_format.status().message()));
    sup.log_format = *log_format;
    if (options.grace_period <= sup.kill_timeout) {
      Die("--grace-period must be longer than --kill-timeout");
    }
    options.supervisor = std::move(sup);
  }
}

std::string FlagOrEnv(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* value = std::getenv(env);
  return value == nullptr ? "" : value;
}

// The membership source the flags ask for: the --peers file, the controller, or none.
std::unique_ptr<drover::membership::MembershipSource> MakeMembershipSource(
    const drover::SidecarOptions& options) {
  std::string peers = absl::GetFlag(FLAGS_peers);
  std::string controller = absl::GetFlag(FLAGS_controller);
  if (!peers.empty() && !controller.empty()) {
    Die("--peers and --controller: give one source of the member table, not both");
  }
  if (!peers.empty()) {
    return std::make_unique<drover::membership::FileSource>(std::move(peers), absl::Seconds(1));
  }
  if (controller.empty()) {
    if (!absl::GetFlag(FLAGS_controller_token_file).empty() ||
        !absl::GetFlag(FLAGS_controller_tls_ca).empty()) {
      Die("--controller-token-file and --controller-tls-* need --controller");
    }
    return nullptr;
  }
  absl::StatusOr<std::vector<std::string>> controllers =
      drover::membership::ParseControllerList(controller);
  if (!controllers.ok()) Die(absl::StrCat("--controller: ", controllers.status().message()));
  drover::membership::ControllerSourceOptions source;
  source.controllers = *std::move(controllers);
  source.pod_name = options.proxy.sticky.member_id;
  source.namespace_name = FlagOrEnv(absl::GetFlag(FLAGS_pod_namespace), "POD_NAMESPACE");
  if (source.namespace_name.empty()) {
    Die("--controller needs this pod's namespace: --pod-namespace or $POD_NAMESPACE "
        "(the Downward API's metadata.namespace)");
  }
  source.pod_uid = FlagOrEnv(absl::GetFlag(FLAGS_pod_uid), "POD_UID");
  source.pod_ip = FlagOrEnv(absl::GetFlag(FLAGS_pod_ip), "POD_IP");
  if (options.proxy.peer_listen) {
    if (source.pod_ip.empty()) source.pod_ip = options.proxy.peer_listen->HostString();
    source.peer_port = options.proxy.peer_listen->port();
  }
  source.worker_slots = static_cast<uint32_t>(
      options.supervisor ? options.supervisor->workers
                         : std::count(options.backends.begin(), options.backends.end(), ',') + 1);
  source.build_version = std::string(drover::ProjectVersion());
  source.token_file = absl::GetFlag(FLAGS_controller_token_file);
  source.tls_ca_file = absl::GetFlag(FLAGS_controller_tls_ca);
  source.tls_cert_file = absl::GetFlag(FLAGS_controller_tls_cert);
  source.tls_key_file = absl::GetFlag(FLAGS_controller_tls_key);
  return std::make_unique<drover::membership::ControllerSource>(std::move(source));
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which keeps a global lock graph on every absl::Mutex
  // lock (measured: 543 ns per nested lock pair, 192 ns without; -19% controller instructions
  // per push). Lock order is reviewed and tested, not checked at run time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any thread exists, so every thread inherits the mask (see sidecar.h).
  drover::BlockHandledSignals();
  std::vector<std::string> command = drover::ParseFlagsOrExit(
      argc, argv,
      {.program = "drover-sidecar",
       .flag_dir = "sidecar/",
       .usage = "Drover's per-pod reverse proxy and process supervisor.\n\n"
                "  drover-sidecar --listen=0.0.0.0:8080 --backends=127.0.0.1:3000,127.0.0.1:3001\n"
                "  drover-sidecar --listen=0.0.0.0:8080 --workers=auto -- node server.js\n\n"
                "Flag names take dashes or underscores alike. Durations: 500ms, 10s, 1m. "
                "See docs/sidecar-cli.md.",
       .allow_positional = true});
  bool saw_double_dash = false;
  for (int i = 1; i < argc; ++i) saw_double_dash = saw_double_dash || std::string(argv[i]) == "--";
  if (!command.empty() && !saw_double_dash) {
    Die(absl::StrCat("unexpected argument '", command[0],
                     "': put the worker command after --, e.g. -- node server.js"));
  }

  drover::SidecarOptions options;
  ReadProxyFlags(options);
  ReadQueueAndLogFlags(options);
  ReadStickyFlags(options);
  ReadBackendFlags(command, options);

  std::unique_ptr<drover::membership::MembershipSource> source = MakeMembershipSource(options);
  absl::StatusOr<std::unique_ptr<drover::Sidecar>> sidecar =
      drover::Sidecar::Create(std::move(options), std::move(source));
  if (!sidecar.ok()) {
    // A port that another process holds is not a usage error (the flags are fine; run one
    // sidecar per port): exit 1. Every other start-up error names a flag whose value does not
    // hold up: exit 2, like a bad flag.
    std::fprintf(stderr, "drover-sidecar: %s\n", std::string(sidecar.status().message()).c_str());
    return sidecar.status().code() == absl::StatusCode::kUnavailable ? 1 : 2;
  }
  return (*sidecar)->Run();
}
