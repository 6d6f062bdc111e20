#include "sidecar/sidecar.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/membership_version.h"
#include "common/token_file.h"
#include "prometheus/text_serializer.h"
#include "sidecar/sticky/hash.h"

namespace drover {

namespace {

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

const char* JsonBool(bool b) { return b ? "true" : "false"; }

}  // namespace

void BlockHandledSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

absl::StatusOr<std::unique_ptr<Sidecar>> Sidecar::Create(
    SidecarOptions options, std::unique_ptr<membership::MembershipSource> source) {
  std::unique_ptr<Sidecar> sidecar(new Sidecar(std::move(options)));
  sidecar->has_member_table_ = source != nullptr;
  sidecar->from_controller_ = source != nullptr && source->name() == "controller";
  if (absl::Status s = sidecar->Init(); !s.ok()) return s;
  if (absl::Status s = sidecar->StartAdmin(); !s.ok()) return s;
  if (sidecar->supervisor_) {
    if (absl::Status s = sidecar->supervisor_->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("cannot start workers: ", s.message()));
    }
  } else {
    sidecar->health_->Start();
  }
  if (source != nullptr) {
    sidecar->source_ = std::move(source);
    Sidecar* self = sidecar.get();
    std::string name(self->source_->name());
    membership::SourceContext context;
    context.apply = [self, name](std::shared_ptr<const sticky::MemberTable> table) {
      return self->ApplyMembers(std::move(table), name);
    };
    context.report = [self] { return self->Report(); };
    context.reload_workers = [self](std::string command_id) {
      return self->ReloadWorkers(std::move(command_id));
    };
    context.registry = self->registry_.get();
    if (absl::Status s = self->source_->Start(std::move(context)); !s.ok()) return s;
  }
  return sidecar;
}

Sidecar::Sidecar(SidecarOptions options) : options_(std::move(options)) {}

Sidecar::~Sidecar() {
  // The source and the admin handlers call into the parts below: they stop first.
  if (source_) source_->Stop();
  if (admin_) admin_->Stop();
  if (health_) health_->Stop();
  for (auto& loop : loops_) loop->Stop();
  for (std::thread& t : loop_threads_) {
    if (t.joinable()) t.join();
  }
  // Sessions closed as the threads are destroyed must not wake a waiter on another thread.
  if (options_.proxy.queue) options_.proxy.queue->Shutdown();
  // Without Run() (a start-up error, a test), the workers still stop before their supervisor.
  if (supervisor_) {
    supervisor_->StopWorkers(SIGTERM, absl::Now() + options_.supervisor->kill_timeout);
  }
}

absl::Status Sidecar::Init() {
  RaiseFileLimit();
  proxy::ProxyConfig& config = options_.proxy;
  const bool supervised = options_.supervisor.has_value();
  if (supervised) {
    // Orphans of our workers come to us, not to init, so we reap them (and as PID 1 we must).
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    backends_ = balance::BackendSet::ForSlots(options_.worker_host, options_.supervisor->port_base,
                                              options_.supervisor->workers);
  } else {
    absl::StatusOr<std::unique_ptr<balance::BackendSet>> parsed =
        balance::BackendSet::Parse(options_.backends);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--backends: ", parsed.status().message()));
    }
    backends_ = std::move(*parsed);
  }

  if (config.worker_max_inflight > 0 && config.mode == proxy::ProxyMode::kHttp) {
    config.queue = std::make_shared<balance::RequestQueue>(*backends_, config.worker_max_inflight,
                                                           config.max_queue);
  }
  if (config.access_log != log::AccessLogFormat::kOff) {
    config.access_logger =
        std::make_shared<log::AccessLog>(config.access_log, STDOUT_FILENO, config.threads);
    config.access_logger->Start();
  }
  config.sticky.slots = static_cast<int>(backends_->size());
  config.sticky.member_hash = sticky::MemberHash(config.sticky.member_id);
  if (absl::Status s = InitCookieCodec(); !s.ok()) return s;

  // One listener per thread, in a SO_REUSEPORT group that only this process can form (see
  // net::ListenGroup): a port that another process holds is an error here, not a silent share
  // of its traffic. With port 0 the group's first socket picks the port. A thread owns its
  // listeners from the moment it exists; until then they are closed here on errors.
  std::vector<int> listen_fds;
  std::vector<int> peer_listen_fds(static_cast<size_t>(config.threads), -1);
  auto close_unowned = [&] {
    for (size_t i = loops_.size(); i < listen_fds.size(); ++i) close(listen_fds[i]);
    for (size_t i = loops_.size(); i < peer_listen_fds.size(); ++i) {
      if (peer_listen_fds[i] >= 0) close(peer_listen_fds[i]);
    }
  };
  {
    absl::StatusOr<std::vector<int>> fds = net::ListenGroup(config.listen, config.threads, 4096);
    if (!fds.ok()) {
      return {fds.status().code(), absl::StrCat("--listen ", fds.status().message())};
    }
    listen_fds = *std::move(fds);
    absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(listen_fds[0]);
    if (bound.ok()) config.listen = *bound;
  }
  if (config.peer_listen) {
    absl::StatusOr<std::vector<int>> fds =
        net::ListenGroup(*config.peer_listen, config.threads, 4096);
    if (!fds.ok()) {
      close_unowned();
      return {fds.status().code(), absl::StrCat("--peer-listen ", fds.status().message())};
    }
    peer_listen_fds = *std::move(fds);
    absl::StatusOr<net::SocketAddress> bound = net::LocalAddress(peer_listen_fds[0]);
    if (bound.ok()) config.peer_listen = *bound;
  }

  for (int i = 0; i < config.threads; ++i) {
    auto loop = proxy::LoopThread::Create(config, *backends_, &open_connections_,
                                          listen_fds[static_cast<size_t>(i)],
                                          peer_listen_fds[static_cast<size_t>(i)], i);
    if (!loop.ok()) {
      close_unowned();
      return {loop.status().code(),
              absl::StrCat("cannot start thread ", i, ": ", loop.status().message())};
    }
    loops_.push_back(std::move(*loop));
  }
  thread_stats_.reserve(loops_.size());
  for (const auto& loop : loops_) thread_stats_.push_back(&loop->stats());

  if (supervised) {
    std::vector<const metrics::ThreadStats*> stats = thread_stats_;
    auto served = [stats](size_t slot) {
      uint64_t n = 0;
      for (const metrics::ThreadStats* t : stats) n += t->served(slot);
      return n;
    };
    auto outstanding_on = [stats](size_t slot, size_t parity) {
      int64_t n = 0;
      for (const metrics::ThreadStats* t : stats) n += t->outstanding_on(slot, parity);
      return n;
    };
    supervisor_ = std::make_unique<supervisor::Supervisor>(*options_.supervisor, *backends_, served,
                                                           outstanding_on);
  } else {
    health_ = std::make_unique<balance::HealthChecker>(*backends_, options_.health_interval,
                                                       options_.connect_timeout);
  }

  std::vector<metrics::BackendInfo> backend_info;
  backend_info.reserve(backends_->size());
  for (size_t i = 0; i < backends_->size(); ++i) {
    backend_info.push_back({(*backends_)[i].name, &(*backends_)[i].up});
  }
  collector_ = std::make_shared<metrics::StatsCollector>(thread_stats_, std::move(backend_info));
  RegisterMembershipMetrics();
  return absl::OkStatus();
}

absl::Status Sidecar::InitCookieCodec() {
  sticky::StickyConfig& sticky = options_.proxy.sticky;
  absl::StatusOr<sticky::CookieCodec> codec = absl::InternalError("unset");
  if (!options_.cookie_secret_file.empty()) {
    absl::StatusOr<std::string> text = ReadSmallFile(options_.cookie_secret_file, 64 * 1024);
    if (text.ok()) cookie_secret_text_ = *std::move(text);
    codec = sticky::CookieCodec::FromSecretFile(options_.cookie_secret_file);
  } else if (!has_member_table_) {
    // No other member reads this sidecar's cookies: a key of its own makes them unforgeable.
    codec = sticky::CookieCodec::PerProcess();
  } else {
    codec = sticky::CookieCodec::Create({});
    std::fprintf(stderr,
                 "drover-sidecar: warning: a member table without --cookie-secret-file: cookies "
                 "are unsigned (anyone can forge one to pick a member and slot) and peers are "
                 "recognised by source address only; give every member the same secret "
                 "(docs/security.md)\n");
  }
  if (!codec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cookie-secret-file: ", codec.status().message()));
  }
  sticky.codec = std::make_shared<const sticky::CookieCodec>(*std::move(codec));
  codec_ = sticky.codec;
  switch (codec_->origin()) {
    case sticky::CookieCodec::KeyOrigin::kShared:
      cookie_secret_state_ = "set";
      break;
    case sticky::CookieCodec::KeyOrigin::kPerProcess:
      cookie_secret_state_ = "per-process";
      break;
    case sticky::CookieCodec::KeyOrigin::kNone:
      cookie_secret_state_ = "missing";
      break;
  }
  return absl::OkStatus();
}

void Sidecar::ReloadCookieSecret() {
  if (options_.cookie_secret_file.empty()) return;
  // Read whole and compared: a mounted Secret changes by a symlink swap, which neither the
  // path's mtime nor an inotify watch on the file reliably shows.
  absl::StatusOr<std::string> text = ReadSmallFile(options_.cookie_secret_file, 64 * 1024);
  if (!text.ok() || *text == cookie_secret_text_) return;
  cookie_secret_text_ = *std::move(text);
  absl::StatusOr<sticky::CookieCodec> loaded =
      sticky::CookieCodec::FromSecretFile(options_.cookie_secret_file);
  if (!loaded.ok()) {
    secret_reloads_rejected_->Increment();
    std::fprintf(stderr, "drover-sidecar: cookie secret not reloaded (the keys stay): %s\n",
                 std::string(loaded.status().message()).c_str());
    return;
  }
  // The threads copied the config at start; options_ stays as it was.
  codec_ = std::make_shared<const sticky::CookieCodec>(
      sticky::CookieCodec::AfterReload(*codec_, *std::move(loaded)));
  for (auto& loop : loops_) loop->SetCookieCodec(codec_);
  secret_reloads_applied_->Increment();
  std::fprintf(stderr, "drover-sidecar: cookie secret reloaded (%zu keys accepted)\n",
               codec_->key_count());
}

void Sidecar::RegisterMembershipMetrics() {
  auto& updates = prometheus::BuildCounter()
                      .Name("drover_membership_updates_total")
                      .Help(
                          "Member tables offered by the membership source, by result "
                          "(applied, or rejected: the previous table stayed).")
                      .Register(*registry_);
  updates_applied_ = &updates.Add({{"result", "applied"}});
  updates_rejected_ = &updates.Add({{"result", "rejected"}});
  auto& reloads = prometheus::BuildCounter()
                      .Name("drover_cookie_secret_reloads_total")
                      .Help(
                          "Changes of --cookie-secret-file seen, by result (applied, or "
                          "rejected: the keys in force stayed).")
                      .Register(*registry_);
  secret_reloads_applied_ = &reloads.Add({{"result", "applied"}});
  secret_reloads_rejected_ = &reloads.Add({{"result", "rejected"}});
  version_info_ = &prometheus::BuildGauge()
                       .Name("drover_membership_version_info")
                       .Help("1 for the version of the member table in force.")
                       .Register(*registry_);
}

absl::Status Sidecar::StartAdmin() {
  if (options_.admin.empty()) return absl::OkStatus();
  absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(options_.admin);
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--admin: ", address.status().message()));
  }
  admin::AdminOptions admin_options;
  admin_options.address = *address;
  admin_options.head_timeout_ms = absl::ToInt64Milliseconds(options_.admin_head_timeout);
  if (!options_.admin_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFile>> token = TokenFile::Open(options_.admin_token_file);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--admin-token-file: ", token.status().message()));
    }
    admin_options.token = *std::move(token);
  }
  admin_ = std::make_unique<admin::AdminServer>(std::move(admin_options));
  std::shared_ptr<prometheus::Collectable> worker_collector =
      supervisor_ ? supervisor_->Collector() : nullptr;
  admin_->Handle("GET", "/metrics", [this, worker_collector] {
    std::vector<prometheus::MetricFamily> families = collector_->Collect();
    if (worker_collector) {
      for (auto& f : worker_collector->Collect()) families.push_back(std::move(f));
    }
    for (auto& f : registry_->Collect()) families.push_back(std::move(f));
    return admin::AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                prometheus::TextSerializer().Serialize(families)};
  });
  admin_->Handle("GET", "/healthz", [] { return admin::AdminResponse{200, {}, "ok\n"}; });
  admin_->Handle("GET", "/readyz", [this] {
    std::string detail;
    bool ready = Ready(&detail);
    return admin::AdminResponse{ready ? 200 : 503, {}, std::move(detail)};
  });
  admin_->Handle("GET", "/status", [this] {
    return admin::AdminResponse{200, "application/json", StatusJson()};
  });
  admin_->Handle("POST", "/reload", [this] {
    absl::Status s = ReloadWorkers("");
    if (!s.ok()) return admin::AdminResponse{409, {}, absl::StrCat(s.message(), "\n")};
    return admin::AdminResponse{202, {}, "reload started\n"};
  });
  if (absl::Status s = admin_->Start(); !s.ok()) {
    return {s.code(), absl::StrCat("--admin ", s.message())};
  }
  if (admin_->mutations_refused()) {
    // Under the controller this is the expected set-up (the chart's): restarts come from it.
    const bool controller = from_controller_;
    std::fprintf(stderr,
                 "drover-sidecar: %s: --admin %s is not a loopback address and "
                 "--admin-token-file is not set: POST /reload answers 403%s\n",
                 controller ? "note" : "warning", admin_->address().ToString().c_str(),
                 controller ? " (restarts come from the controller: droverctl restart)" : "");
  }
  return absl::OkStatus();
}

bool Sidecar::Ready(std::string* detail) const {
  if (draining_.load()) {
    if (detail != nullptr) *detail = "not ready: draining\n";
    return false;
  }
  if (supervisor_) {
    std::string text;
    bool ready = supervisor_->Ready(text);
    if (detail != nullptr) {
      *detail = absl::StrCat(ready ? "ready\n" : "not ready: no worker is ready\n", text);
    }
    return ready;
  }
  bool ready = backends_->AnyUp();
  if (detail != nullptr) *detail = ready ? "ready\n" : "not ready: no backend is up\n";
  return ready;
}

std::string Sidecar::StatusJson() const {
  std::string json;
  if (supervisor_) {
    json = supervisor_->StatusJson();  // {"workers":...}\n
    json.insert(1, absl::StrCat("\"draining\":", JsonBool(draining_.load()), ","));
  } else {
    std::vector<std::string> items;
    for (size_t i = 0; i < backends_->size(); ++i) {
      items.push_back(absl::StrCat("{\"backend\":\"", (*backends_)[i].name,
                                   "\",\"up\":", JsonBool((*backends_)[i].up.load()), "}"));
    }
    json = absl::StrCat("{\"draining\":", JsonBool(draining_.load()), ",\"backends\":[",
                        absl::StrJoin(items, ","), "]}\n");
  }
  // Both forms end in "}\n": the membership goes in before the closing brace.
  json.resize(json.rfind('}'));
  absl::StrAppend(&json, ",\"cookie_secret\":\"", cookie_secret_state_,
                  "\",\"membership\":", MembershipJson(), "}\n");
  return json;
}

std::string Sidecar::MembershipJson() const {
  absl::MutexLock lock(&members_mu_);
  if (members_ == nullptr) {
    return absl::StrCat("{\"source\":\"", source_name_,
                        "\",\"version\":null,\"applied_at\":null,\"members\":[]}");
  }
  // Ids are [A-Za-z0-9._-] and addresses are literals (MemberTable checks both): nothing to
  // escape.
  std::vector<std::string> members;
  members.reserve(members_->members().size());
  for (const sticky::Member& m : members_->members()) {
    members.push_back(absl::StrCat("{\"id\":\"", m.id, "\",\"state\":\"",
                                   m.state == sticky::MemberState::kDraining ? "draining" : "ready",
                                   "\",\"slots\":", m.slots, ",\"address\":\"",
                                   m.peer_address.ToString(), "\"}"));
  }
  return absl::StrCat("{\"source\":\"", source_name_, "\",\"version\":\"",
                      VersionHex(members_->version()), "\",\"applied_at\":\"",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", applied_at_, absl::UTCTimeZone()),
                      "\",\"members\":[", absl::StrJoin(members, ","), "]}");
}

absl::Status Sidecar::ApplyMembers(std::shared_ptr<const sticky::MemberTable> table,
                                   std::string_view source_name) {
  const sticky::StickyConfig& sticky = options_.proxy.sticky;
  if (const sticky::Member* self = table->FindById(sticky.member_id);
      self != nullptr && self->slots != sticky.slots) {
    updates_rejected_->Increment();
    absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
        "member table version ", VersionHex(table->version()), " gives this member (",
        sticky.member_id, ") ", self->slots, " slots, but this sidecar runs ", sticky.slots));
    std::fprintf(stderr, "drover-sidecar: member table refused: %s\n",
                 std::string(refused.message()).c_str());
    return refused;
  }
  // Under the lock, so that concurrent applies reach the threads in the order they record.
  absl::MutexLock lock(&members_mu_);
  std::fprintf(stderr, "drover-sidecar: member table: %zu members\n", table->members().size());
  for (auto& loop : loops_) loop->SetMembers(table);
  if (version_gauge_ != nullptr) version_info_->Remove(version_gauge_);
  version_gauge_ = &version_info_->Add({{"version", VersionHex(table->version())}});
  version_gauge_->Set(1);
  source_name_ = std::string(source_name);
  members_ = std::move(table);
  applied_at_ = absl::Now();
  updates_applied_->Increment();
  return absl::OkStatus();
}

membership::SidecarReport Sidecar::Report() const {
  using Slot = membership::SidecarReport::Slot;
  membership::SidecarReport report;
  for (const metrics::ThreadStats* t : thread_stats_) report.requests_total += t->requests();
  const int64_t open = open_connections_.load(std::memory_order_relaxed);
  report.open_connections = open > 0 ? static_cast<uint32_t>(open) : 0;
  report.ready = Ready(nullptr);
  auto outstanding = [this](size_t slot) {
    int64_t n = 0;
    for (const metrics::ThreadStats* t : thread_stats_) n += t->outstanding(slot);
    return n > 0 ? static_cast<uint32_t>(n) : 0;
  };
  if (supervisor_) {
    for (const supervisor::Supervisor::SlotView& view : supervisor_->slot_views()) {
      Slot slot;
      slot.slot = view.slot;
      switch (view.state) {
        case supervisor::Supervisor::SlotView::State::kStarting:
          slot.state = Slot::State::kStarting;
          break;
        case supervisor::Supervisor::SlotView::State::kReady:
          slot.state = Slot::State::kReady;
          break;
        case supervisor::Supervisor::SlotView::State::kBackoff:
          slot.state = Slot::State::kBackoff;
          break;
        case supervisor::Supervisor::SlotView::State::kFailed:
          slot.state = Slot::State::kFailed;
          break;
        case supervisor::Supervisor::SlotView::State::kStopped:
          slot.state = Slot::State::kStopped;
          break;
      }
      slot.pid = view.pid;
      slot.restarts = view.restarts;
      slot.rss_bytes = view.rss_bytes;
      slot.outstanding = outstanding(static_cast<size_t>(view.slot));
      report.slots.push_back(slot);
    }
    supervisor::Supervisor::ReloadView reload = supervisor_->reload_view();
    using Phase = membership::SidecarReport::Reload::Phase;
    report.reload.command_id = reload.tag;
    report.reload.phase = !reload.ever     ? Phase::kNone
                          : reload.running ? Phase::kRunning
                          : reload.ok      ? Phase::kSucceeded
                                           : Phase::kFailed;
    report.reload.slots_done = reload.slots_done;
    report.reload.slots_total = reload.slots_total;
    if (report.reload.phase == Phase::kFailed) report.reload.error = reload.error;
  } else {
    for (size_t i = 0; i < backends_->size(); ++i) {
      Slot slot;
      slot.slot = static_cast<int>(i);
      slot.state = Slot::State::kExternal;
      slot.outstanding = outstanding(i);
      report.slots.push_back(slot);
    }
  }
  return report;
}

absl::Status Sidecar::ReloadWorkers(std::string command_id) {
  if (!supervisor_) {
    return absl::FailedPreconditionError("no workers to reload (proxy-only mode)");
  }
  if (!supervisor_->RequestReload(std::move(command_id))) {
    return absl::FailedPreconditionError("a reload is already running");
  }
  return absl::OkStatus();
}

int Sidecar::Run() {
  const proxy::ProxyConfig& config = options_.proxy;
  loop_threads_.reserve(loops_.size());
  for (auto& loop : loops_) loop_threads_.emplace_back([l = loop.get()] { l->Run(); });

  std::fprintf(stderr, "drover-sidecar: listening on %s (%s, %d threads)\n",
               config.listen.ToString().c_str(), options_.mode_name.c_str(), config.threads);
  if (admin_) {
    std::fprintf(stderr, "drover-sidecar: admin on %s\n", admin_->address().ToString().c_str());
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
    // Every 2 s without a signal, the secret file is checked for a change.
    signal_number = WaitSignal(wanted, absl::Now() + absl::Seconds(2));
    if (signal_number == 0) {
      ReloadCookieSecret();
      continue;
    }
    if (signal_number != SIGHUP) break;
    if (supervisor_) {
      if (!supervisor_->RequestReload()) {
        std::fprintf(stderr, "drover-sidecar: SIGHUP: a reload is already running\n");
      }
    } else {
      std::fprintf(stderr, "drover-sidecar: SIGHUP ignored: no workers to reload\n");
    }
  }
  Shutdown(signal_number);
  return 0;
}

void Sidecar::Shutdown(int signal_number) {
  const absl::Time stop_started = absl::Now();
  const absl::Time grace_deadline = stop_started + options_.grace_period;
  std::fprintf(stderr, "drover-sidecar: %s received: %s\n", strsignal(signal_number),
               signal_number == SIGQUIT ? "stopping now" : "draining");
  draining_.store(true);
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
      WaitSignal(stop_signals, std::min(stop_started + options_.drain_delay, grace_deadline));
    }
    for (auto& loop : loops_) loop->BeginDrain();
    // In-flight requests finish; leave the workers their kill timeout within the grace period.
    absl::Time connections_deadline =
        grace_deadline - (supervisor_ ? options_.supervisor->kill_timeout : absl::ZeroDuration()) -
        absl::Milliseconds(500);
    // Requests in flight finish first. Tunnels (WebSockets) are the app's to close when it
    // stops, so in supervisor mode they do not hold the workers' SIGTERM back.
    auto busy = [&] {
      int64_t tunnels = 0;
      if (supervisor_) {
        for (const metrics::ThreadStats* t : thread_stats_) tunnels += t->active_tunnels();
      }
      return open_connections_.load() - tunnels;
    };
    while (busy() > 0 && absl::Now() < connections_deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (busy() > 0) {
      std::fprintf(stderr, "drover-sidecar: %ld connections still open at the grace deadline\n",
                   static_cast<long>(busy()));
    }
  }
  if (supervisor_) {
    supervisor_->StopWorkers(stop_signal, grace_deadline - absl::Milliseconds(200));
  }
  // What is left (tunnels to stopped workers) ends with them; give it until the deadline.
  while (open_connections_.load() > 0 && absl::Now() < grace_deadline - absl::Milliseconds(100)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (auto& loop : loops_) loop->Stop();
  for (std::thread& t : loop_threads_) t.join();
  loop_threads_.clear();
  if (options_.proxy.queue) options_.proxy.queue->Shutdown();
  if (admin_) admin_->Stop();
  if (health_) health_->Stop();
  if (source_) source_->Stop();
  loops_.clear();
  supervisor_.reset();
  std::fprintf(
      stderr, "drover-sidecar: stopped after %s\n",
      absl::FormatDuration(absl::Trunc(absl::Now() - stop_started, absl::Milliseconds(1))).c_str());
}

}  // namespace drover
