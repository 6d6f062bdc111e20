// sidecar_swarm: N simulated drover-sidecars subscribed to one drover-controller, measuring how
// fast a cluster change reaches all of them and what each costs the controller. Parses flags and
// wires the parts; see bench/README.md ("Controller") and bench/controller.sh, which runs it.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/controller/host.h"
#include "bench/controller/http_client.h"
#include "bench/controller/swarm.h"
#include "common/cli.h"
#include "common/files.h"

ABSL_FLAG(std::string, controller, "", "The controller's gRPC address, HOST:PORT (required).");
ABSL_FLAG(int, streams, 1000, "Simulated sidecars, one Subscribe stream each.");
ABSL_FLAG(int, connections, 0,
          "0: every stream on its own channel and TCP connection, as real sidecars are; "
          "K > 0: the streams share K channels (HTTP/2 multiplexing), for comparison.");
ABSL_FLAG(int, max_pending, 256,
          "Streams opened but not yet holding a table, at most: the ramp's pace. "
          "Larger approaches a controller restart with every sidecar reconnecting at once.");
ABSL_FLAG(std::string, namespace, "default", "Namespace every sidecar's Hello names.");
ABSL_FLAG(std::string, pod_prefix, "swarm-",
          "Sidecar i says it is pod PREFIXi, at pod IP 127.0.0.(2 + i % 254).");
ABSL_FLAG(int, peer_port_base, 20000, "Sidecar i's peer port is this + i.");
ABSL_FLAG(int, worker_slots, 2, "Worker slots every sidecar reports.");
ABSL_FLAG(std::string, build_version, "sidecar-swarm", "Build version in every Hello.");
ABSL_FLAG(std::string, pod_uids, "",
          "File of 'NAME UID' lines (bench/controller/pods.mjs writes it): each Hello carries "
          "its pod's metadata.uid. Empty: no uid is sent.");
ABSL_FLAG(absl::Duration, report_interval, absl::Seconds(10),
          "Every sidecar sends a Report this often (+-10% jitter; the first at random within "
          "one interval).");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Minutes(3),
          "Time for all streams to get and ACK their first table.");
ABSL_FLAG(absl::Duration, converge_timeout, absl::Seconds(30),
          "Time for every stream to hold the same version, after the ramp and after each change.");
ABSL_FLAG(std::string, kube_api, "",
          "The Kubernetes API simulator, http://127.0.0.1:PORT: where the changes are made. "
          "Required with --changes > 0.");
ABSL_FLAG(std::string, change_pod, "",
          "The pod whose readiness the changes flip (change k sets Ready to False for odd k, "
          "True for even k); default: PREFIX0.");
ABSL_FLAG(int, changes, 10, "One-pod changes to make and measure, one at a time.");
ABSL_FLAG(absl::Duration, change_interval, absl::Seconds(3),
          "Pause before each change, after the previous one reached every sidecar: longer than "
          "the controller's --debounce-max so that each change is its own version.");
ABSL_FLAG(absl::Duration, change_timeout, absl::Seconds(30),
          "Time for a change to reach every sidecar before it counts as incomplete.");
ABSL_FLAG(int, controller_pid, 0,
          "The controller's pid: its VmRSS before, with the swarm subscribed and at the end, and "
          "its CPU time per change. 0: not measured.");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(2),
          "Wait after every stream holds the table, before reading the controller's memory.");
ABSL_FLAG(absl::Duration, hold, absl::ZeroDuration(),
          "Keep the streams open this long after the changes (to profile the controller).");
ABSL_FLAG(std::vector<std::string>, grpc_arg, {},
          "Extra integer channel arguments, NAME=VALUE,... (e.g. grpc.http2.bdp_probe=0).");
ABSL_FLAG(std::string, label, "", "Copied into every JSON line, to tell runs apart.");

namespace drover::bench {
namespace {

constexpr char kProgram[] = "sidecar_swarm";

// One JSON object, built field by field; every line sidecar_swarm prints on stdout is one.
class JsonObject {
 public:
  JsonObject& Str(absl::string_view key, absl::string_view value) { return Raw(key, Quote(value)); }
  JsonObject& Int(absl::string_view key, int64_t value) { return Raw(key, absl::StrCat(value)); }
  JsonObject& Num(absl::string_view key, double value) {
    return Raw(key, std::isfinite(value) ? absl::StrFormat("%.3f", value) : "null");
  }
  JsonObject& Bool(absl::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  JsonObject& Raw(absl::string_view key, absl::string_view json) {
    absl::StrAppend(&body_, body_.empty() ? "" : ",", Quote(key), ":", json);
    return *this;
  }
  std::string str() const { return absl::StrCat("{", body_, "}"); }

  static std::string Quote(absl::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        absl::StrAppend(&out, "\\", std::string(1, c));
      } else if (static_cast<unsigned char>(c) < 0x20) {
        absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
      } else {
        out.push_back(c);
      }
    }
    out.push_back('"');
    return out;
  }

 private:
  std::string body_;
};

std::string DistributionJson(const Distribution& d) {
  return JsonObject()
      .Int("count", static_cast<int64_t>(d.count))
      .Num("min", d.min)
      .Num("p50", d.p50)
      .Num("p90", d.p90)
      .Num("p99", d.p99)
      .Num("max", d.max)
      .Num("mean", d.mean)
      .str();
}

void PrintJson(JsonObject object) {
  const std::string& label = absl::GetFlag(FLAGS_label);
  if (!label.empty()) object.Str("label", label);
  std::printf("%s\n", object.str().c_str());
  std::fflush(stdout);
}

void Say(const std::string& line) { std::fprintf(stderr, "%s: %s\n", kProgram, line.c_str()); }

// VmRSS of the controller in KiB, or -1 when not measured or unreadable.
int64_t ControllerRssKib() {
  int pid = absl::GetFlag(FLAGS_controller_pid);
  if (pid <= 0) return -1;
  absl::StatusOr<int64_t> kib = VmRssKib(pid);
  return kib.ok() ? *kib : -1;
}

double ControllerCpuSeconds() {
  int pid = absl::GetFlag(FLAGS_controller_pid);
  if (pid <= 0) return -1;
  absl::StatusOr<double> s = CpuSeconds(pid);
  return s.ok() ? *s : -1;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::string>> ReadPodUids(const std::string& path) {
  absl::flat_hash_map<std::string, std::string> uids;
  if (path.empty()) return uids;
  absl::StatusOr<std::string> text = ReadSmallFile(path, 64 << 20);
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(absl::StripAsciiWhitespace(line), ' ', absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not 'NAME UID': '", line, "'"));
    }
    uids[parts[0]] = std::string(parts[1]);
  }
  return uids;
}

// The change: flip `pod`'s Ready condition through the pods/status subresource, as a kubelet
// does (a strategic merge patch: conditions merge by type, the others stay).
absl::Status FlipReadiness(const HttpEndpoint& api, const std::string& pod_namespace,
                           const std::string& pod, bool ready) {
  HttpRequest request{
      .method = "PATCH",
      .path = absl::StrCat("/api/v1/namespaces/", pod_namespace, "/pods/", pod, "/status"),
      .content_type = "application/strategic-merge-patch+json",
      .body =
          absl::StrCat("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"",
                       ready ? "True" : "False", "\"},{\"type\":\"ContainersReady\",\"status\":\"",
                       ready ? "True" : "False", "\"}]}}")};
  absl::StatusOr<HttpResponse> response = HttpCall(api, request, absl::Seconds(5));
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status > 299) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PATCH ", request.path, ": HTTP ", response->status, " ", response->body.substr(0, 200)));
  }
  return absl::OkStatus();
}

std::string Ms(double ms) { return absl::StrFormat("%.1f ms", ms); }

int Run() {
  SwarmOptions options;
  options.target = absl::GetFlag(FLAGS_controller);
  options.streams = absl::GetFlag(FLAGS_streams);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.max_pending = absl::GetFlag(FLAGS_max_pending);
  options.pod_prefix = absl::GetFlag(FLAGS_pod_prefix);
  options.pod_namespace = absl::GetFlag(FLAGS_namespace);
  options.build_version = absl::GetFlag(FLAGS_build_version);
  options.report_interval = absl::GetFlag(FLAGS_report_interval);
  if (options.target.empty()) ExitUsage(kProgram, "--controller=HOST:PORT is required");
  if (absl::GetFlag(FLAGS_peer_port_base) < 1 || absl::GetFlag(FLAGS_worker_slots) < 1) {
    ExitUsage(kProgram, "--peer-port-base and --worker-slots must be positive");
  }
  options.peer_port_base = static_cast<uint32_t>(absl::GetFlag(FLAGS_peer_port_base));
  options.worker_slots = static_cast<uint32_t>(absl::GetFlag(FLAGS_worker_slots));
  for (const std::string& arg : absl::GetFlag(FLAGS_grpc_arg)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    int value = 0;
    if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &value)) {
      ExitUsage(kProgram, absl::StrCat("--grpc-arg: '", arg, "' is not NAME=INTEGER"));
    }
    options.channel_args.emplace_back(kv.first, value);
  }
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> uids =
      ReadPodUids(absl::GetFlag(FLAGS_pod_uids));
  if (!uids.ok()) ExitUsage(kProgram, absl::StrCat("--pod-uids: ", uids.status().message()));
  options.pod_uids = *std::move(uids);

  int changes = absl::GetFlag(FLAGS_changes);
  HttpEndpoint api;
  if (changes < 0) ExitUsage(kProgram, "--changes must be >= 0");
  if (changes > 0) {
    absl::StatusOr<HttpEndpoint> parsed = ParseHttpUrl(absl::GetFlag(FLAGS_kube_api));
    if (!parsed.ok()) {
      ExitUsage(kProgram, absl::StrCat("--kube-api (needed with --changes > 0): ",
                                       parsed.status().message()));
    }
    api = *parsed;
  }
  std::string change_pod = absl::GetFlag(FLAGS_change_pod);
  if (change_pod.empty()) change_pod = absl::StrCat(options.pod_prefix, 0);

  // Every connection is a descriptor here and another in the controller.
  int connections = options.connections == 0 ? options.streams : options.connections;
  absl::StatusOr<FileLimit> limit = RaiseOpenFileLimit();
  if (limit.ok() && limit->soft < static_cast<uint64_t>(connections) + 256) {
    ExitUsage(kProgram, absl::StrCat("the open-file limit is ", limit->soft, " (hard ", limit->hard,
                                     "), too low for ", connections,
                                     " connections; raise the hard limit (ulimit -Hn, as root)"));
  }
  if (limit.ok()) {
    Say(absl::StrCat("open-file limit raised to the hard limit, ", limit->soft));
  }
  // All connections go from 127.0.0.1 to one controller port: the kernel's ephemeral ports for
  // that one (source, destination) pair bound how many there can be.
  absl::StatusOr<int> ports = EphemeralPortCount();
  if (ports.ok() && connections > *ports - 1000) {
    ExitUsage(kProgram, absl::StrCat(connections,
                                     " connections from 127.0.0.1 to one port need "
                                     "more than the ",
                                     *ports,
                                     " ephemeral ports the kernel offers per address pair; "
                                     "use --connections"));
  }

  int64_t rss_before = ControllerRssKib();
  absl::StatusOr<std::unique_ptr<Swarm>> created = Swarm::Create(options);
  if (!created.ok()) ExitUsage(kProgram, std::string(created.status().message()));
  Swarm& swarm = **created;
  bool ok = true;

  Say(absl::StrCat("opening ", options.streams, " streams to ", options.target, " over ",
                   connections, " connection(s)"));
  double ramp_cpu_before = ControllerCpuSeconds();
  absl::StatusOr<double> ramp_swarm_cpu_before = CpuSeconds(0);
  RampResult ramp = swarm.Connect(absl::GetFlag(FLAGS_connect_timeout));
  double ramp_cpu = ramp_cpu_before >= 0 ? ControllerCpuSeconds() - ramp_cpu_before : NAN;
  absl::StatusOr<double> ramp_swarm_cpu_after = CpuSeconds(0);
  double ramp_swarm_cpu = ramp_swarm_cpu_before.ok() && ramp_swarm_cpu_after.ok()
                              ? *ramp_swarm_cpu_after - *ramp_swarm_cpu_before
                              : NAN;
  PrintJson(JsonObject()
                .Str("type", "ramp")
                .Int("streams", ramp.streams)
                .Int("connections", connections)
                .Int("subscribed", ramp.subscribed)
                .Int("failed", ramp.failed)
                .Num("elapsed_s", absl::ToDoubleSeconds(ramp.elapsed))
                .Raw("time_to_table_ms", DistributionJson(ramp.time_to_table_ms))
                .Raw("table_bytes", DistributionJson(ramp.table_bytes))
                .Int("table_members", ramp.table_members)
                .Num("controller_cpu_s", ramp_cpu)
                .Num("swarm_cpu_s", ramp_swarm_cpu));
  Say(absl::StrFormat(
      "%d/%d streams hold a table after %.1f s (%d failed); time to table p50 %s p99 %s; "
      "first table %.0f bytes (%u members)",
      ramp.subscribed, ramp.streams, absl::ToDoubleSeconds(ramp.elapsed), ramp.failed,
      Ms(ramp.time_to_table_ms.p50), Ms(ramp.time_to_table_ms.p99), ramp.table_bytes.max,
      ramp.table_members));
  if (ramp.subscribed < ramp.streams) {
    ok = false;
    Say(absl::StrCat("not every stream got a table: ", swarm.counters().first_error));
  }

  absl::StatusOr<std::string> version = swarm.AwaitConverged(absl::GetFlag(FLAGS_converge_timeout));
  if (!version.ok()) {
    Say(absl::StrCat("the sidecars do not agree on a version: ", version.status().message()));
    swarm.Stop(absl::Seconds(10));
    return 1;
  }
  absl::SleepFor(absl::GetFlag(FLAGS_settle));
  int64_t rss_subscribed = ControllerRssKib();
  absl::StatusOr<int64_t> swarm_rss = VmRssKib(0);
  int live = swarm.counters().live;
  double per_sidecar_kib = rss_before >= 0 && rss_subscribed >= 0 && live > 0
                               ? static_cast<double>(rss_subscribed - rss_before) / live
                               : NAN;
  PrintJson(JsonObject()
                .Str("type", "subscribed")
                .Str("version", *version)
                .Int("live", live)
                .Int("controller_rss_before_kib", rss_before)
                .Int("controller_rss_subscribed_kib", rss_subscribed)
                .Num("controller_kib_per_sidecar", per_sidecar_kib)
                .Int("swarm_rss_kib", swarm_rss.ok() ? *swarm_rss : -1));
  if (rss_before >= 0) {
    Say(absl::StrFormat("controller VmRSS %d KiB before, %d KiB with %d sidecars: %.1f KiB each",
                        rss_before, rss_subscribed, live, per_sidecar_kib));
  }

  std::vector<double> all_acks;
  double all_controller_cpu = 0;  // summed over the change windows
  double all_swarm_cpu = 0;
  double max_bytes = 0;
  double max_p99 = 0;
  int complete = 0;
  for (int k = 1; k <= changes; ++k) {
    absl::SleepFor(absl::GetFlag(FLAGS_change_interval));
    bool ready = k % 2 == 0;
    double cpu_before = ControllerCpuSeconds();
    absl::StatusOr<double> swarm_cpu_before = CpuSeconds(0);
    ChangeResult change = swarm.MeasureChange(
        k, [&] { return FlipReadiness(api, options.pod_namespace, change_pod, ready); },
        absl::GetFlag(FLAGS_change_timeout));
    double cpu_after = ControllerCpuSeconds();
    absl::StatusOr<double> swarm_cpu_after = CpuSeconds(0);
    double window_s = absl::ToDoubleSeconds(change.elapsed);
    double controller_cpu = cpu_before >= 0 ? cpu_after - cpu_before : NAN;
    double swarm_cpu =
        swarm_cpu_before.ok() && swarm_cpu_after.ok() ? *swarm_cpu_after - *swarm_cpu_before : NAN;
    all_controller_cpu += controller_cpu;
    all_swarm_cpu += swarm_cpu;
    all_acks.insert(all_acks.end(), change.ack_ms_values.begin(), change.ack_ms_values.end());
    max_bytes = std::max(max_bytes, change.bytes_per_sidecar.max);
    max_p99 = std::max(max_p99, change.ack_ms.p99);
    if (change.complete()) ++complete;
    std::string versions;
    for (const std::string& v : change.versions) {
      absl::StrAppend(&versions, versions.empty() ? "" : ",", JsonObject::Quote(v));
    }
    PrintJson(JsonObject()
                  .Str("type", "change")
                  .Int("change", k)
                  .Str("pod", change_pod)
                  .Bool("ready", ready)
                  .Str("trigger_error", change.trigger_status.ok()
                                            ? ""
                                            : std::string(change.trigger_status.message()))
                  .Str("baseline", change.baseline)
                  .Raw("versions", absl::StrCat("[", versions, "]"))
                  .Int("live", change.live)
                  .Int("acked", change.acked)
                  .Bool("complete", change.complete())
                  .Num("last_ack_ms", absl::ToDoubleMilliseconds(change.elapsed))
                  .Raw("ack_ms", DistributionJson(change.ack_ms))
                  .Raw("receive_ms", DistributionJson(change.receive_ms))
                  .Raw("bytes_per_sidecar", DistributionJson(change.bytes_per_sidecar))
                  .Int("max_messages_per_sidecar", change.max_messages_per_sidecar)
                  .Int("deltas", change.deltas)
                  .Int("fulls", change.fulls)
                  .Int("nacks", change.nacks)
                  // CPU used from the trigger to the last ACK (10 ms resolution), and as a
                  // share of that time: near 1.0 the process was the bottleneck, or starved.
                  .Num("controller_cpu_s", controller_cpu)
                  .Num("swarm_cpu_s", swarm_cpu)
                  .Num("controller_cpu_share", window_s > 0 ? controller_cpu / window_s : NAN)
                  .Num("swarm_cpu_share", window_s > 0 ? swarm_cpu / window_s : NAN));
    Say(absl::StrFormat(
        "change %d (%s Ready=%s): %d/%d acked; trigger->ack p50 %s p99 %s max %s "
        "(first update at %s); %.0f bytes per sidecar (max %.0f); %d deltas, %d fulls, %d nacks",
        k, change_pod, ready ? "True" : "False", change.acked, change.live, Ms(change.ack_ms.p50),
        Ms(change.ack_ms.p99), Ms(change.ack_ms.max), Ms(change.receive_ms.min),
        change.bytes_per_sidecar.mean, change.bytes_per_sidecar.max, change.deltas, change.fulls,
        change.nacks));
    if (!change.complete()) {
      ok = false;
      Say(absl::StrCat("change ", k, " did not reach every sidecar",
                       change.trigger_status.ok()
                           ? std::string()
                           : absl::StrCat(": ", change.trigger_status.message())));
    }
    absl::StatusOr<std::string> next = swarm.AwaitConverged(absl::GetFlag(FLAGS_converge_timeout));
    if (!next.ok()) {
      Say(absl::StrCat("after change ", k, ": ", next.status().message()));
      ok = false;
      break;
    }
  }

  absl::SleepFor(absl::GetFlag(FLAGS_hold));
  int64_t rss_end = ControllerRssKib();
  SwarmCounters counters = swarm.counters();
  Distribution pooled = Distribution::Of(all_acks);
  auto pushes = static_cast<double>(all_acks.size());
  std::string ended;
  for (const auto& [code, count] : counters.ended_by_code) {
    absl::StrAppend(&ended, ended.empty() ? "" : ",", "\"", code, "\":", count);
  }
  if (counters.nacks > 0 || counters.malformed > 0 || !counters.ended_by_code.empty()) ok = false;
  PrintJson(JsonObject()
                .Str("type", "summary")
                .Int("streams", options.streams)
                .Int("connections", connections)
                .Int("subscribed", ramp.subscribed)
                .Int("live_at_end", counters.live)
                .Int("changes", changes)
                .Int("changes_complete", complete)
                .Raw("ack_ms", DistributionJson(pooled))
                .Num("worst_change_p99_ms", max_p99)
                .Num("max_bytes_per_sidecar", max_bytes)
                .Num("table_bytes", ramp.table_bytes.max)
                .Int("controller_rss_before_kib", rss_before)
                .Int("controller_rss_subscribed_kib", rss_subscribed)
                .Int("controller_rss_end_kib", rss_end)
                .Num("controller_kib_per_sidecar", per_sidecar_kib)
                // CPU per sidecar per change in microseconds, over the change windows.
                .Num("controller_us_per_push", pushes > 0 ? all_controller_cpu * 1e6 / pushes : NAN)
                .Num("swarm_us_per_push", pushes > 0 ? all_swarm_cpu * 1e6 / pushes : NAN)
                .Int("updates", counters.updates)
                .Int("fulls", counters.fulls)
                .Int("nacks", counters.nacks)
                .Int("malformed", counters.malformed)
                .Int("unexpected_updates", counters.unexpected)
                .Int("commands", counters.commands)
                .Int("reports", counters.reports)
                .Raw("streams_ended_by_code", absl::StrCat("{", ended, "}"))
                .Str("first_error", counters.first_error)
                .Bool("ok", ok));
  Say(absl::StrFormat(
      "%d streams, %d/%d changes complete: trigger->last-ack p50 %s p99 %s max %s over all "
      "changes; <= %.0f bytes per sidecar per change; %d NACKs; %d streams lost",
      options.streams, complete, changes, Ms(pooled.p50), Ms(pooled.p99), Ms(pooled.max), max_bytes,
      counters.nacks, options.streams - counters.live));
  if (pushes > 0) {
    Say(absl::StrFormat("CPU per sidecar per change: controller %.0f us, swarm %.0f us%s",
                        all_controller_cpu * 1e6 / pushes, all_swarm_cpu * 1e6 / pushes,
                        all_swarm_cpu > all_controller_cpu
                            ? " (the swarm worked harder than the controller: part of the "
                              "latency is the load generator's)"
                            : ""));
  }
  if (!counters.first_error.empty()) Say(absl::StrCat("first error: ", counters.first_error));
  swarm.Stop(absl::Seconds(10));
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detector on: every
  // lock, gRPC's own included, updates a global lock graph. Measured on the controller, that
  // was a fifth of its CPU per push; the load generator must not spend its CPU there either.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  drover::ParseFlagsOrExit(
      argc, argv,
      {.program = "sidecar_swarm",
       // common/cli.cc shortens this file's path to "controller/sidecar_swarm.cc" (its first
       // matching root), so the file name is what picks our flags for --help.
       .flag_dir = "sidecar_swarm.cc",
       .usage = "sidecar_swarm --controller=127.0.0.1:PORT --streams=1000 "
                "--kube-api=http://127.0.0.1:PORT [--changes=10] [--controller-pid=PID]\n"
                "N simulated drover-sidecars subscribed to one drover-controller: time from a "
                "pod change to every sidecar's ACK, bytes per sidecar, controller memory per "
                "sidecar. JSON lines on stdout, a summary on stderr."});
  return drover::bench::Run();
}
