#include "sidecar/membership/controller_source.h"

#include <cstdio>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/membership_version.h"
#include "common/strings.h"
#include "drover/v1/membership.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/family.h"
#include "sidecar/net/socket.h"

namespace drover::membership {
namespace {

using drover::v1::SubscribeRequest;
using drover::v1::SubscribeResponse;

drover::v1::WorkerSlotReport::State ToProto(SidecarReport::Slot::State state) {
  using S = SidecarReport::Slot::State;
  switch (state) {
    case S::kStarting:
      return drover::v1::WorkerSlotReport::STARTING;
    case S::kReady:
      return drover::v1::WorkerSlotReport::READY;
    case S::kBackoff:
      return drover::v1::WorkerSlotReport::BACKOFF;
    case S::kFailed:
      return drover::v1::WorkerSlotReport::FAILED;
    case S::kStopped:
      return drover::v1::WorkerSlotReport::STOPPED;
    case S::kExternal:
      return drover::v1::WorkerSlotReport::EXTERNAL;
  }
  return drover::v1::WorkerSlotReport::STATE_UNSPECIFIED;
}

drover::v1::ReloadProgress::Phase ToProto(SidecarReport::Reload::Phase phase) {
  using P = SidecarReport::Reload::Phase;
  switch (phase) {
    case P::kRunning:
      return drover::v1::ReloadProgress::RUNNING;
    case P::kSucceeded:
      return drover::v1::ReloadProgress::SUCCEEDED;
    case P::kFailed:
      return drover::v1::ReloadProgress::FAILED;
    case P::kNone:
      break;
  }
  return drover::v1::ReloadProgress::PHASE_UNSPECIFIED;
}

SubscribeRequest ReportMessage(const SidecarReport& r) {
  SubscribeRequest request;
  drover::v1::Report* report = request.mutable_report();
  for (const SidecarReport::Slot& s : r.slots) {
    drover::v1::WorkerSlotReport* slot = report->add_slots();
    slot->set_slot(static_cast<uint32_t>(s.slot));
    slot->set_state(ToProto(s.state));
    slot->set_pid(s.pid);
    slot->set_restarts(s.restarts);
    slot->set_rss_bytes(s.rss_bytes);
    slot->set_outstanding_requests(s.outstanding);
  }
  report->set_requests_total(r.requests_total);
  report->set_open_connections(r.open_connections);
  report->set_ready(r.ready);
  if (r.reload.phase != SidecarReport::Reload::Phase::kNone) {
    drover::v1::ReloadProgress* reload = report->mutable_reload();
    reload->set_command_id(r.reload.command_id);
    reload->set_phase(ToProto(r.reload.phase));
    reload->set_slots_done(r.reload.slots_done);
    reload->set_slots_total(r.reload.slots_total);
    reload->set_error(r.reload.error);
  }
  return request;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseControllerList(std::string_view text) {
  std::vector<std::string> result;
  for (absl::string_view part : absl::StrSplit(AsAbsl(text), ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    size_t colon = part.rfind(':');
    uint32_t port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(part.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", part, "' is not HOST:PORT (for example drover-controller:7000)"));
    }
    result.emplace_back(part);
  }
  if (result.empty()) return absl::InvalidArgumentError("no controller address given");
  return result;
}

ControllerSource::ControllerSource(ControllerSourceOptions options)
    : options_(std::move(options)) {}

absl::Status ControllerSource::Start(SourceContext context) {
  if (options_.controllers.empty()) return absl::InvalidArgumentError("--controller: no address");
  if (options_.pod_name.empty()) {
    return absl::InvalidArgumentError("--member-id (or POD_NAME) is needed with --controller");
  }
  if (options_.namespace_name.empty()) {
    return absl::InvalidArgumentError(
        "--pod-namespace (or POD_NAMESPACE) is needed with --controller");
  }
  if (!options_.token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFile>> token = TokenFile::Open(options_.token_file);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--controller-token-file: ", token.status().message()));
    }
    token_ = *std::move(token);
  }
  credentials_ = grpc::InsecureChannelCredentials();
  if (!options_.tls_ca_file.empty() || !options_.tls_cert_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!options_.tls_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadSmallFile(options_.tls_ca_file, 1 << 20);
      if (!ca.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--controller-tls-ca: ", ca.status().message()));
      }
      ssl.pem_root_certs = *ca;
    }
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "--controller-tls-cert and --controller-tls-key go together");
    }
    if (!options_.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadSmallFile(options_.tls_cert_file, 1 << 20);
      absl::StatusOr<std::string> key = ReadSmallFile(options_.tls_key_file, 1 << 20);
      if (!cert.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--controller-tls-cert: ", cert.status().message()));
      }
      if (!key.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--controller-tls-key: ", key.status().message()));
      }
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials_ = grpc::SslCredentials(ssl);
  }
  context_ = std::move(context);
  if (context_.registry != nullptr) {
    connected_ = &prometheus::BuildGauge()
                      .Name("drover_controller_connected")
                      .Help("1 while a Subscribe stream to a drover-controller is open.")
                      .Register(*context_.registry)
                      .Add({});
    reconnects_ = &prometheus::BuildCounter()
                       .Name("drover_controller_reconnects_total")
                       .Help("Subscribe streams to the controller that ended or failed.")
                       .Register(*context_.registry)
                       .Add({});
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ControllerSource::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void ControllerSource::Run() {
  absl::BitGen rng;
  absl::Duration backoff = options_.backoff_initial;
  size_t next = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    const std::string& target = options_.controllers[next % options_.controllers.size()];
    bool healthy = RunStream(target);
    if (reconnects_ != nullptr) reconnects_->Increment();
    if (healthy) backoff = options_.backoff_initial;
    // Fail over: the next attempt goes to the next controller of the list.
    ++next;
    // Full jitter (AWS's "exponential backoff and jitter"): a fleet of sidecars that lost the
    // same controller does not come back in one wave.
    absl::Duration wait = backoff * absl::Uniform(rng, 0.0, 1.0);
    backoff = std::min(backoff * 2, options_.backoff_max);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), wait);
  }
}

bool ControllerSource::RunStream(const std::string& target) {
  grpc::ChannelArguments args;
  // Notice a dead controller within a minute, even on a quiet stream.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, credentials_, args);
  std::unique_ptr<drover::v1::Membership::Stub> stub = drover::v1::Membership::NewStub(channel);
  grpc::ClientContext context;
  if (token_ != nullptr)
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token_->Current()));
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return false;
    active_ = &context;
  }
  std::unique_ptr<grpc::ClientReaderWriter<SubscribeRequest, SubscribeResponse>> stream =
      stub->Subscribe(&context);

  absl::Mutex write_mu;  // the sync API allows one writer at a time
  auto write = [&](const SubscribeRequest& request) {
    absl::MutexLock lock(&write_mu);
    return stream->Write(request);
  };

  SubscribeRequest hello;
  drover::v1::Hello* h = hello.mutable_hello();
  h->set_pod_name(options_.pod_name);
  h->set_namespace_(options_.namespace_name);
  h->set_pod_uid(options_.pod_uid);
  h->set_pod_ip(options_.pod_ip);
  h->set_peer_port(options_.peer_port);
  h->set_worker_slots(options_.worker_slots);
  h->set_applied_version(held_version_);
  h->set_build_version(options_.build_version);
  bool healthy = false;
  if (write(hello)) {
    // Reports go up from their own thread, every report_interval and faster while a reload
    // that the controller asked for runs.
    absl::Mutex report_mu;
    bool report_stop = false;
    bool report_now = true;
    std::thread reporter([&] {
      while (true) {
        {
          absl::MutexLock lock(&report_mu);
          auto woken = [&] { return report_stop || report_now; };
          report_mu.AwaitWithTimeout(absl::Condition(&woken), options_.report_interval);
          if (report_stop) return;
          report_now = false;
        }
        if (!context_.report) continue;
        SidecarReport report = context_.report();
        if (!write(ReportMessage(report))) return;
        if (report.reload.phase == SidecarReport::Reload::Phase::kRunning) {
          absl::MutexLock lock(&report_mu);
          auto stopped = [&] { return report_stop; };
          report_mu.AwaitWithTimeout(absl::Condition(&stopped), absl::Milliseconds(500));
          report_now = true;
        }
      }
    });

    if (connected_ != nullptr) connected_->Set(1);
    SubscribeResponse response;
    while (stream->Read(&response)) {
      if (response.has_update()) {
        const drover::v1::Update& update = response.update();
        std::string error = ApplyUpdate(update);
        SubscribeRequest answer;
        if (error.empty()) {
          answer.mutable_ack()->set_nonce(update.nonce());
          answer.mutable_ack()->set_version(update.version());
          healthy = true;
        } else {
          std::fprintf(stderr,
                       "drover-sidecar: refused member table %s from the controller: %s "
                       "(keeping %s)\n",
                       update.version().c_str(), error.c_str(),
                       held_version_.empty() ? "none" : held_version_.c_str());
          answer.mutable_nack()->set_nonce(update.nonce());
          answer.mutable_nack()->set_version(update.version());
          answer.mutable_nack()->set_error(error);
          answer.mutable_nack()->set_applied_version(held_version_);
        }
        if (!write(answer)) break;
      } else if (response.has_command() && response.command().has_reload_workers()) {
        absl::Status s = context_.reload_workers
                             ? context_.reload_workers(response.command().id())
                             : absl::UnimplementedError("reload is not available");
        if (!s.ok()) {
          std::fprintf(stderr, "drover-sidecar: controller's reload %s not started: %s\n",
                       response.command().id().c_str(), std::string(s.message()).c_str());
        }
        absl::MutexLock lock(&report_mu);
        report_now = true;
      }
    }
    {
      absl::MutexLock lock(&report_mu);
      report_stop = true;
    }
    reporter.join();
  }
  {
    absl::MutexLock lock(&write_mu);
    stream->WritesDone();
  }
  grpc::Status status = stream->Finish();
  if (connected_ != nullptr) connected_->Set(0);
  {
    absl::MutexLock lock(&mu_);
    active_ = nullptr;
    if (stop_) return healthy;
  }
  std::string line = absl::StrCat(
      "drover-sidecar: controller ", target, ": stream ended (",
      status.ok() ? "OK" : absl::StrCat("code ", status.error_code(), ": ", status.error_message()),
      "); keeping member table ", held_version_.empty() ? "(none yet)" : held_version_);
  // A controller that stays down is said once, not on every retry; a change is said again.
  if (healthy || line != last_logged_) std::fprintf(stderr, "%s\n", line.c_str());
  last_logged_ = healthy ? "" : line;
  return healthy;
}

std::string ControllerSource::ApplyUpdate(const drover::v1::Update& update) {
  std::map<std::string, HeldMember> next;
  if (!update.full()) {
    if (update.base_version() != held_version_) {
      return absl::StrCat("a delta from version ", update.base_version(),
                          " but this sidecar holds ",
                          held_version_.empty() ? "none" : held_version_);
    }
    next = held_;
  }
  for (const drover::v1::Member& m : update.members()) {
    next[m.id()] = HeldMember{m.address(), m.slots(), m.state() == drover::v1::Member::DRAINING};
  }
  for (const std::string& id : update.removed()) next.erase(id);

  std::vector<sticky::Member> members;
  members.reserve(next.size());
  for (const auto& [id, held] : next) {
    absl::StatusOr<net::SocketAddress> address = net::SocketAddress::Parse(held.address);
    if (!address.ok()) {
      return absl::StrCat("member ", id, ": bad address '", held.address,
                          "': ", address.status().message());
    }
    sticky::Member member;
    member.id = id;
    member.peer_address = *address;
    member.slots = static_cast<int>(held.slots);
    member.state = held.draining ? sticky::MemberState::kDraining : sticky::MemberState::kReady;
    members.push_back(std::move(member));
  }
  absl::StatusOr<std::shared_ptr<const sticky::MemberTable>> table =
      sticky::MemberTable::FromMembers(std::move(members), "controller");
  if (!table.ok()) return std::string(table.status().message());
  std::string computed = VersionHex((*table)->version());
  if (computed != update.version()) {
    return absl::StrCat("the table's content has version ", computed, ", not ", update.version());
  }
  if (absl::Status s = context_.apply(*table); !s.ok()) return std::string(s.message());
  held_ = std::move(next);
  held_version_ = update.version();
  return "";
}

}  // namespace drover::membership
