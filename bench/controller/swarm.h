// A swarm of simulated sidecars subscribed to one drover-controller, and the measurements the
// controller benchmark makes with it: how long N streams take to get their first table, and for
// each cluster change, the time from the change to every sidecar's Ack of the new version and
// the bytes each sidecar received for it.
//
//   SwarmOptions options{.target = "127.0.0.1:7000", .streams = 1000};
//   absl::StatusOr<std::unique_ptr<Swarm>> swarm = Swarm::Create(options);
//   RampResult ramp = (*swarm)->Connect(absl::Minutes(2));
//   absl::StatusOr<std::string> version = (*swarm)->AwaitConverged(absl::Seconds(30));
//   ChangeResult change = (*swarm)->MeasureChange(1, [] { return PatchSomePod(); },
//                                                 absl::Seconds(30));
//   (*swarm)->Stop(absl::Seconds(10));
//
// Each stream gets its own gRPC channel, and so its own TCP connection, as real sidecars have
// (SwarmOptions::connections multiplexes them over fewer, for comparison). The streams run on
// gRPC's callback API: a handful of threads serve all of them.
#ifndef DROVER_BENCH_CONTROLLER_SWARM_H_
#define DROVER_BENCH_CONTROLLER_SWARM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/controller/simulated_sidecar.h"

namespace drover::bench {

struct SwarmOptions {
  std::string target;     // the controller's gRPC address, HOST:PORT
  int streams = 1000;     // simulated sidecars, one stream each
  int connections = 0;    // 0: one channel (TCP connection) per stream; K: streams share K
  int max_pending = 256;  // streams opened but not yet holding a table, at most
  // Identity: sidecar i is pod `pod_prefix`i in `pod_namespace`, at pod_ip 127.0.0.(2 + i % 254)
  // and peer port `peer_port_base` + i (see PodIp, PeerPort).
  std::string pod_prefix = "swarm-";
  std::string pod_namespace = "default";
  uint32_t peer_port_base = 20000;
  uint32_t worker_slots = 2;
  std::string build_version = "sidecar-swarm";
  absl::flat_hash_map<std::string, std::string> pod_uids;  // pod name -> metadata.uid, if known
  absl::Duration report_interval = absl::Seconds(10);      // jittered by +-10%
  // Extra integer channel args, after the sidecar's own keepalive settings (so they win).
  std::vector<std::pair<std::string, int>> channel_args;
  // With a channel per stream: connect from the sidecar's pod IP (127.0.0.x), as a real sidecar
  // does and as the controller's --verify-peer-ip checks. Shared channels connect from the
  // default 127.0.0.1.
  bool bind_pod_ip = true;
};

// The pod address sidecar `index` claims; bench/controller/pods.mjs creates pods to match.
std::string PodIp(int index);
uint32_t PeerPort(const SwarmOptions& options, int index);

// Percentiles over sidecars (nearest rank), in milliseconds or bytes.
struct Distribution {
  size_t count = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
  static Distribution Of(std::vector<double> values);
};

struct RampResult {
  int streams = 0;
  int subscribed = 0;  // ACKed a first table
  int failed = 0;      // stream ended before that
  absl::Duration elapsed;
  Distribution time_to_table_ms;  // stream opened -> Ack of its first table
  Distribution table_bytes;       // first update's wire bytes per sidecar
  uint32_t table_members = 0;     // members in the largest first table
};

struct ChangeResult {
  int index = 0;
  absl::Status trigger_status;
  std::string baseline;               // the version every sidecar held before
  std::vector<std::string> versions;  // new versions ACKed during the window
  int live = 0;                       // streams up when the change was made
  int acked = 0;                      // of them, ACKed a new version in time
  absl::Duration elapsed;             // trigger -> last Ack (or the timeout)
  Distribution ack_ms;                // trigger -> Ack sent, over sidecars
  std::vector<double> ack_ms_values;  // the same, one per sidecar that ACKed, unsorted
  Distribution receive_ms;            // trigger -> update received, over sidecars
  Distribution bytes_per_sidecar;     // wire bytes received in the window
  int max_messages_per_sidecar = 0;
  int fulls = 0;  // full tables received in the window (a delta was expected)
  int deltas = 0;
  int nacks = 0;
  bool complete() const { return trigger_status.ok() && live > 0 && acked == live; }
};

struct SwarmCounters {
  int64_t updates = 0;
  int64_t fulls = 0;
  int64_t nacks = 0;      // updates refused: a delta on the wrong base, no version
  int64_t malformed = 0;  // messages that did not parse
  int64_t commands = 0;
  int64_t unexpected = 0;  // updates after the first table outside any change window
  int64_t reports = 0;
  int live = 0;
  std::map<int, int> ended_by_code;  // streams that ended before Stop(), by gRPC status code
  std::string first_error;           // the first of those, or the first NACK's error
};

class Swarm final : public SidecarObserver {
 public:
  static absl::StatusOr<std::unique_ptr<Swarm>> Create(SwarmOptions options);
  ~Swarm() override;
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Opens the streams, at most max_pending waiting for a table at a time, and waits until each
  // has ACKed its first table or failed, for at most `timeout`.
  RampResult Connect(absl::Duration timeout);
  // Waits until every live stream has ACKed the same version; that version.
  absl::StatusOr<std::string> AwaitConverged(absl::Duration timeout);
  // Runs `trigger` (which changes the cluster) and measures until every stream that was live
  // has ACKed a version other than the one they all held, or `timeout`.
  ChangeResult MeasureChange(int index, const std::function<absl::Status()>& trigger,
                             absl::Duration timeout);
  SwarmCounters counters() const;
  // Cancels every stream and waits for them to end, for at most `timeout`.
  void Stop(absl::Duration timeout);

  void OnReceived(int index, const ReceivedMessage& message) override;
  void OnAckSent(int index, const std::string& version, SteadyClock::time_point sent) override;
  void OnStreamDone(int index, const grpc::Status& status) override;

 private:
  struct Stream {
    std::unique_ptr<SimulatedSidecar> sidecar;
    SteadyClock::time_point started;
    std::string acked_version;  // "" before the first Ack
    bool table = false;         // has ACKed a first table
    bool done = false;
    double first_table_bytes = 0;  // wire bytes of its first update
    double time_to_table_ms = -1;  // stream opened -> first Ack
  };
  // One change being measured; per-stream vectors indexed like streams_. No member
  // initializers: emplace() value-initializes it (zero counts), and clang cannot use them inside
  // the enclosing class's own definition (std::optional<Window> below).
  struct Window {
    SteadyClock::time_point t0;
    std::string baseline;
    std::vector<double> ack_ms;      // -1 until ACKed
    std::vector<double> receive_ms;  // -1 until received
    std::vector<double> bytes;
    std::vector<int> messages;
    std::map<std::string, int> versions;
    int acked;
    int fulls;
    int deltas;
    int nacks;
  };

  explicit Swarm(SwarmOptions options);
  SidecarIdentity IdentityOf(int index) const;
  // Streams on one channel share its connection: stream i uses channel ChannelSlot(i).
  size_t ChannelSlot(int index) const;
  SubscribeStub& StubFor(int index);  // creates the channel on first use
  void RunReportTimer();
  // Stream `index` ACKed `version` (or ended, with ""): keeps version_count_ in step.
  void SetAckedVersion(int index, const std::string& version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SwarmOptions options_;
  std::vector<std::unique_ptr<SubscribeStub>> stubs_;  // one per channel; Connect()'s thread
  std::thread report_timer_;

  mutable absl::Mutex mu_;
  std::vector<Stream> streams_ ABSL_GUARDED_BY(mu_);
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int subscribed_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;  // ended before a first table
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t table_members_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // How many live streams hold each version: converged when one version counts them all.
  absl::flat_hash_map<std::string, int> version_count_ ABSL_GUARDED_BY(mu_);
  std::optional<Window> window_ ABSL_GUARDED_BY(mu_);
  SwarmCounters counters_ ABSL_GUARDED_BY(mu_);
  // Report schedule: (due, stream index), earliest first.
  using Due = std::pair<SteadyClock::time_point, int>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> report_due_ ABSL_GUARDED_BY(mu_);
};

}  // namespace drover::bench

#endif  // DROVER_BENCH_CONTROLLER_SWARM_H_
