#include "bench/controller/swarm.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "bench/controller/source_address.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace drover::bench {
namespace {

double MillisBetween(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

SteadyClock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<SteadyClock::duration>(absl::ToChronoNanoseconds(d));
}

absl::Duration Until(SteadyClock::time_point deadline) {
  return std::max(absl::ZeroDuration(), absl::FromChrono(deadline - SteadyClock::now()));
}

// "127.0.0.1:7000" -> "ipv4:127.0.0.1:7000": an address literal needs no DNS resolver, and
// 10,000 channels resolving through one would add its queue to the measured connect time.
std::string ChannelTarget(const std::string& target) {
  size_t colon = target.rfind(':');
  in_addr addr{};
  if (colon != std::string::npos &&
      inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr) == 1) {
    return absl::StrCat("ipv4:", target);
  }
  return target;
}

}  // namespace

std::string PodIp(int index) { return absl::StrCat("127.0.0.", 2 + index % 254); }

uint32_t PeerPort(const SwarmOptions& options, int index) {
  return options.peer_port_base + static_cast<uint32_t>(index);
}

Distribution Distribution::Of(std::vector<double> values) {
  Distribution d;
  d.count = values.size();
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  auto rank = [&values](double p) {
    auto k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(k, 1, values.size()) - 1];
  };
  d.min = values.front();
  d.max = values.back();
  d.p50 = rank(50);
  d.p90 = rank(90);
  d.p99 = rank(99);
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return d;
}

absl::StatusOr<std::unique_ptr<Swarm>> Swarm::Create(SwarmOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no controller address");
  if (options.streams < 1) return absl::InvalidArgumentError("streams must be at least 1");
  if (options.connections < 0) return absl::InvalidArgumentError("connections must be >= 0");
  if (options.max_pending < 1) return absl::InvalidArgumentError("max_pending must be >= 1");
  if (options.report_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("report interval must be positive");
  }
  if (options.peer_port_base + static_cast<uint64_t>(options.streams) > 65536) {
    return absl::InvalidArgumentError("peer port base + streams goes past port 65535");
  }
  return std::unique_ptr<Swarm>(new Swarm(std::move(options)));
}

Swarm::Swarm(SwarmOptions options) : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  streams_.resize(static_cast<size_t>(options_.streams));
}

Swarm::~Swarm() { Stop(absl::Seconds(10)); }

SidecarIdentity Swarm::IdentityOf(int index) const {
  SidecarIdentity id;
  id.pod_name = absl::StrCat(options_.pod_prefix, index);
  id.pod_namespace = options_.pod_namespace;
  auto uid = options_.pod_uids.find(id.pod_name);
  if (uid != options_.pod_uids.end()) id.pod_uid = uid->second;
  id.pod_ip = PodIp(index);
  id.peer_port = PeerPort(options_, index);
  id.worker_slots = options_.worker_slots;
  id.build_version = options_.build_version;
  return id;
}

size_t Swarm::ChannelSlot(int index) const {
  return static_cast<size_t>(options_.connections == 0 ? index : index % options_.connections);
}

SubscribeStub& Swarm::StubFor(int index) {
  size_t slot = ChannelSlot(index);
  while (slot >= stubs_.size()) {
    grpc::ChannelArguments args;
    // gRPC lets channels with equal arguments to one address share a subchannel (one TCP
    // connection) through its global subchannel pool. A local pool per channel gives each
    // simulated sidecar a connection of its own, as each real sidecar has.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // What drover-sidecar's membership client sets (sidecar/membership/controller_source.cc):
    // its keepalive pings are part of the load 10,000 sidecars put on a controller.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    if (options_.connections == 0 && options_.bind_pod_ip) {
      args.SetSocketMutator(NewSourceAddressMutator(PodIp(index)));
    }
    for (const auto& [name, value] : options_.channel_args) args.SetInt(name, value);
    stubs_.push_back(std::make_unique<SubscribeStub>(grpc::CreateCustomChannel(
        ChannelTarget(options_.target), grpc::InsecureChannelCredentials(), args)));
  }
  return *stubs_[slot];
}

RampResult Swarm::Connect(absl::Duration timeout) {
  SteadyClock::time_point start = SteadyClock::now();
  SteadyClock::time_point deadline = start + ToSteady(timeout);
  absl::BitGen rng;
  for (int i = 0; i < options_.streams; ++i) {
    {
      absl::MutexLock lock(&mu_);
      auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || started_ - subscribed_ - failed_ < options_.max_pending;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&room), Until(deadline)) || stopping_) break;
    }
    SubscribeStub& stub = StubFor(i);
    auto sidecar = std::make_unique<SimulatedSidecar>(i, IdentityOf(i), this);
    SimulatedSidecar* raw = sidecar.get();
    {
      absl::MutexLock lock(&mu_);
      Stream& stream = streams_[static_cast<size_t>(i)];
      stream.sidecar = std::move(sidecar);
      stream.started = SteadyClock::now();
      ++started_;
      ++live_;
      // The first report goes out somewhere in the first interval, so they do not all coincide.
      report_due_.emplace(
          stream.started + ToSteady(options_.report_interval * absl::Uniform(rng, 0.0, 1.0)), i);
    }
    raw->Start(stub);
  }
  if (!report_timer_.joinable()) report_timer_ = std::thread([this] { RunReportTimer(); });

  absl::MutexLock lock(&mu_);
  auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return subscribed_ + failed_ >= started_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&settled), Until(deadline));
  RampResult result;
  result.streams = options_.streams;
  result.subscribed = subscribed_;
  result.failed = failed_;
  result.elapsed = absl::FromChrono(SteadyClock::now() - start);
  std::vector<double> time_to_table;
  std::vector<double> bytes;
  for (const Stream& stream : streams_) {
    if (!stream.table) continue;
    time_to_table.push_back(stream.time_to_table_ms);
    bytes.push_back(stream.first_table_bytes);
  }
  result.time_to_table_ms = Distribution::Of(std::move(time_to_table));
  result.table_bytes = Distribution::Of(std::move(bytes));
  result.table_members = table_members_;
  return result;
}

absl::StatusOr<std::string> Swarm::AwaitConverged(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  // O(1): absl::Mutex evaluates the condition on every unlock, thousands of times a second.
  auto converged = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return live_ > 0 && version_count_.size() == 1 && version_count_.begin()->second == live_;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&converged), timeout)) {
    int holding = 0;
    for (const auto& [version, count] : version_count_) holding += count;
    return absl::DeadlineExceededError(
        absl::StrCat(live_, " live streams hold ", version_count_.size(), " different versions (",
                     live_ - holding, " hold none) after ", absl::FormatDuration(timeout)));
  }
  return version_count_.begin()->first;
}

ChangeResult Swarm::MeasureChange(int index, const std::function<absl::Status()>& trigger,
                                  absl::Duration timeout) {
  ChangeResult result;
  result.index = index;
  SteadyClock::time_point deadline = SteadyClock::now() + ToSteady(timeout);
  {
    absl::MutexLock lock(&mu_);
    Window& w = window_.emplace();
    // The version most streams hold (all of them after AwaitConverged).
    int best = -1;
    for (const auto& [version, count] : version_count_) {
      if (count > best) {
        best = count;
        w.baseline = version;
      }
    }
    size_t n = streams_.size();
    w.ack_ms.assign(n, -1);
    w.receive_ms.assign(n, -1);
    w.bytes.assign(n, 0);
    w.messages.assign(n, 0);
    result.baseline = w.baseline;
    result.live = live_;
    w.t0 = SteadyClock::now();
  }
  // The clock runs from just before the request that changes the cluster.
  result.trigger_status = trigger();

  absl::MutexLock lock(&mu_);
  Window& w = *window_;
  if (result.trigger_status.ok()) {
    auto all_acked = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return window_->acked >= live_; };
    mu_.AwaitWithTimeout(absl::Condition(&all_acked), Until(deadline));
  }
  std::vector<double> acks;
  std::vector<double> receives;
  std::vector<double> bytes;
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (w.ack_ms[i] >= 0) acks.push_back(w.ack_ms[i]);
    if (w.receive_ms[i] >= 0) receives.push_back(w.receive_ms[i]);
    if (streams_[i].sidecar != nullptr && !streams_[i].done) bytes.push_back(w.bytes[i]);
    result.max_messages_per_sidecar = std::max(result.max_messages_per_sidecar, w.messages[i]);
  }
  result.acked = w.acked;
  result.ack_ms = Distribution::Of(acks);
  result.ack_ms_values = std::move(acks);
  result.receive_ms = Distribution::Of(std::move(receives));
  result.bytes_per_sidecar = Distribution::Of(std::move(bytes));
  result.elapsed = result.acked > 0 && result.complete()
                       ? absl::Milliseconds(result.ack_ms.max)
                       : absl::FromChrono(SteadyClock::now() - w.t0);
  for (const auto& [version, count] : w.versions) result.versions.push_back(version);
  result.fulls = w.fulls;
  result.deltas = w.deltas;
  result.nacks = w.nacks;
  window_.reset();
  return result;
}

SwarmCounters Swarm::counters() const {
  absl::MutexLock lock(&mu_);
  SwarmCounters c = counters_;
  c.live = live_;
  return c;
}

void Swarm::Stop(absl::Duration timeout) {
  std::vector<SimulatedSidecar*> open;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  if (report_timer_.joinable()) report_timer_.join();
  {
    absl::MutexLock lock(&mu_);
    for (Stream& stream : streams_) {
      if (stream.sidecar != nullptr && !stream.done) open.push_back(stream.sidecar.get());
    }
  }
  for (SimulatedSidecar* sidecar : open) sidecar->Stop();
  std::vector<std::unique_ptr<SimulatedSidecar>> finished;
  {
    absl::MutexLock lock(&mu_);
    auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= started_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_done), timeout)) {
      std::fprintf(stderr, "sidecar_swarm: %d streams did not end within %s; leaving them\n",
                   started_ - done_, absl::FormatDuration(timeout).c_str());
    }
    for (Stream& stream : streams_) {
      // A stream gRPC has not finished with must outlive this call: leak it rather than free it.
      if (stream.sidecar != nullptr && !stream.done) {
        static_cast<void>(stream.sidecar.release());
      } else if (stream.sidecar != nullptr) {
        finished.push_back(std::move(stream.sidecar));
      }
    }
  }
  finished.clear();
  stubs_.clear();
}

void Swarm::RunReportTimer() {
  std::vector<SimulatedSidecar*> due;
  uint64_t round = 0;
  absl::BitGen rng;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      absl::Duration wait = absl::Milliseconds(100);
      if (!report_due_.empty()) {
        wait = std::min(wait, Until(report_due_.top().first));
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
      if (stopping_) return;
      SteadyClock::time_point now = SteadyClock::now();
      while (!report_due_.empty() && report_due_.top().first <= now) {
        auto [when, i] = report_due_.top();
        report_due_.pop();
        Stream& stream = streams_[static_cast<size_t>(i)];
        if (stream.done || stream.sidecar == nullptr) continue;
        due.push_back(stream.sidecar.get());
        report_due_.emplace(
            when + ToSteady(options_.report_interval * absl::Uniform(rng, 0.9, 1.1)), i);
      }
      counters_.reports += static_cast<int64_t>(due.size());
    }
    // Sidecars live until Stop(), which joins this thread before freeing them.
    ++round;
    for (SimulatedSidecar* sidecar : due) sidecar->SendReport(round * 100);
    due.clear();
  }
}

void Swarm::SetAckedVersion(int index, const std::string& version) {
  Stream& stream = streams_[static_cast<size_t>(index)];
  if (!stream.acked_version.empty()) {
    auto it = version_count_.find(stream.acked_version);
    if (it != version_count_.end() && --it->second == 0) version_count_.erase(it);
  }
  stream.acked_version = version;
  if (!version.empty()) ++version_count_[version];
}

void Swarm::OnReceived(int index, const ReceivedMessage& message) {
  absl::MutexLock lock(&mu_);
  const ResponseSummary& summary = message.summary;
  if (summary.kind == ResponseSummary::Kind::kNone) {
    ++counters_.malformed;
    if (counters_.first_error.empty()) {
      counters_.first_error = absl::StrCat("malformed message to ", options_.pod_prefix, index,
                                           ": ", message.nack_error);
    }
    return;
  }
  if (summary.kind == ResponseSummary::Kind::kCommand) {
    ++counters_.commands;
    return;
  }
  ++counters_.updates;
  if (summary.full) ++counters_.fulls;
  if (message.nacked) {
    ++counters_.nacks;
    if (counters_.first_error.empty()) {
      counters_.first_error =
          absl::StrCat("NACK by ", options_.pod_prefix, index, ": ", message.nack_error);
    }
  }
  Stream& stream = streams_[static_cast<size_t>(index)];
  double wire = static_cast<double>(WireBytes(message.message_bytes));
  if (!stream.table && stream.first_table_bytes == 0) {
    stream.first_table_bytes = wire;
    table_members_ = std::max(table_members_, summary.members);
  }
  if (window_.has_value()) {
    Window& w = *window_;
    auto i = static_cast<size_t>(index);
    w.bytes[i] += wire;
    ++w.messages[i];
    if (summary.full) {
      ++w.fulls;
    } else {
      ++w.deltas;
    }
    if (message.nacked) ++w.nacks;
    if (w.receive_ms[i] < 0 && summary.version != w.baseline) {
      w.receive_ms[i] = MillisBetween(w.t0, message.received);
    }
  } else if (stream.table) {
    ++counters_.unexpected;
  }
}

void Swarm::OnAckSent(int index, const std::string& version, SteadyClock::time_point sent) {
  absl::MutexLock lock(&mu_);
  Stream& stream = streams_[static_cast<size_t>(index)];
  if (stream.done) return;
  SetAckedVersion(index, version);
  if (!stream.table) {
    stream.table = true;
    stream.time_to_table_ms = MillisBetween(stream.started, sent);
    ++subscribed_;
  }
  if (window_.has_value()) {
    Window& w = *window_;
    auto i = static_cast<size_t>(index);
    if (w.ack_ms[i] < 0 && version != w.baseline) {
      w.ack_ms[i] = MillisBetween(w.t0, sent);
      ++w.acked;
      ++w.versions[version];
    }
  }
}

void Swarm::OnStreamDone(int index, const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  Stream& stream = streams_[static_cast<size_t>(index)];
  stream.done = true;
  ++done_;
  --live_;
  SetAckedVersion(index, "");
  if (!stream.table) ++failed_;
  if (!stopping_) {
    ++counters_.ended_by_code[static_cast<int>(status.error_code())];
    if (counters_.first_error.empty()) {
      counters_.first_error =
          absl::StrCat("stream of ", options_.pod_prefix, index, " ended: code ",
                       static_cast<int>(status.error_code()), " ", status.error_message());
    }
  }
}

}  // namespace drover::bench
