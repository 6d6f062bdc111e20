// Keeps a PodStore equal to the cluster's pods under one path and label selector, with
// client-go's reflector semantics:
//
//   list (paged: limit/continue; a 410 on an expired continue token restarts the list once)
//     -> store.Replace (pods missing from the list are deleted)
//   watch from the list's resourceVersion, allowWatchBookmarks, timeoutSeconds random in
//   [min_watch_timeout, max_watch_timeout]:
//     ADDED/MODIFIED -> Upsert, DELETED -> Delete, BOOKMARK -> remember the resourceVersion
//     ERROR 410 (Expired/Gone), or a 410 answer to the watch request -> relist at once (after a
//       backoff when the watch from a fresh list is gone again before any event)
//     clean end (timeoutSeconds reached) -> watch again at once from the last resourceVersion
//     no connection, a stream lost before any event, or a 429 -> backoff, then watch again
//       from the last resourceVersion
//     any other failure (ERROR with another code, an HTTP error answer such as a restored API
//       server's "Too large resource version", a stream broken after events) -> backoff, then
//       list afresh, as client-go does: the resourceVersion held may mean nothing any more
//     failed list -> backoff, then list again
//   backoff: 800 ms doubling to 30 s with jitter, reset after 2 minutes without a failure; a
//   429 (or 5xx) with Retry-After waits what it asks instead.
//
// Lists are consistent reads (resourceVersion ""): the API pages them exactly, and a relist
// after a 410 can never go back in time. A pod that fails to parse is skipped and logged.
//
//   PodStore store;
//   Reflector reflector(client.get(), &store,
//                       {.path = "/api/v1/namespaces/shop/pods",
//                        .label_selector = "app.kubernetes.io/part-of=drover"},
//                       &metrics);
//   reflector.Start();        // its own thread
//   reflector.WaitForSync(absl::Seconds(30));
//   ReflectorState s = reflector.state();  // for the admin API's status
//   reflector.Stop();         // cancels the watch, joins
#ifndef DROVER_CONTROLLER_KUBE_REFLECTOR_H_
#define DROVER_CONTROLLER_KUBE_REFLECTOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/kube/backoff.h"
#include "controller/kube/client.h"
#include "controller/kube/metrics.h"
#include "controller/kube/pod_store.h"

namespace drover::kube {

struct ReflectorOptions {
  std::string path;  // "/api/v1/namespaces/shop/pods", or "/api/v1/pods" for all namespaces
  std::string label_selector;
  int64_t page_size = 500;
  // Watches end on their own after a random time in this range, so that replicas (and a
  // server that drops a watch silently) do not stay on one stream forever.
  absl::Duration min_watch_timeout = absl::Seconds(300);
  absl::Duration max_watch_timeout = absl::Seconds(600);
  BackoffPolicy backoff;
  // A watch that ends cleanly before this without an event is treated as a failure (backoff),
  // so a server that closes watches at once cannot make the reflector spin.
  absl::Duration min_healthy_watch = absl::Seconds(1);

  // Test seams. `now` is the clock the backoff reads; `sleep` waits between attempts (default:
  // a wait that Stop() interrupts; a test's returns at once and may advance its clock).
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
};

// What the admin API's status shows.
struct ReflectorState {
  std::string resource_version;  // the last one seen (list, event or bookmark)
  bool synced = false;           // the first list has been stored
  bool watching = false;         // a watch request is open (from its start to its end)
  std::string last_error;        // "" until something fails
  absl::Time last_error_time = absl::InfinitePast();
  int64_t lists = 0;    // lists stored
  int64_t relists = 0;  // lists stored after the first
  int64_t watches = 0;  // watch requests made
  int64_t events = 0;   // watch events received
};

class Reflector {
 public:
  // `client` and `store` (and `metrics`, which may be null) must outlive the reflector.
  Reflector(KubeClient* client, PodStore* store, ReflectorOptions options,
            KubeMetrics* metrics = nullptr);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the list-and-watch loop on its own thread. Once only.
  void Start();
  // Cancels the watch (or wait) in progress and joins. A list in flight is not interruptible
  // and is waited for (the client's request timeout bounds it). Idempotent.
  void Stop();

  ReflectorState state() const;
  // True once the first list is stored; false when `timeout` passes first or on Stop().
  bool WaitForSync(absl::Duration timeout) const;

 private:
  enum class WatchOutcome { kEnded, kGone, kFailed, kStopped };
  struct WatchResult {
    WatchOutcome outcome;
    absl::Status status;
    int64_t events = 0;  // other than ERROR
  };

  void Run();
  // Whether a failed watch is tried again as it was (else the reflector lists afresh).
  static bool RetryWatch(const WatchResult& result);
  absl::Status ListAll();
  WatchResult WatchOnce();
  // The ADDED/MODIFIED/DELETED/BOOKMARK events; false for ERROR, with its status in `error`.
  bool Apply(const WatchEvent& event, absl::Status& error);
  void SetResourceVersion(const std::string& rv);
  void RecordError(const absl::Status& status);
  absl::Duration DelayFor(const absl::Status& status);
  // False when stopping.
  bool Wait(absl::Duration delay);
  bool stopping() const;
  absl::Time Now() const;
  absl::Duration RandomWatchTimeout();

  KubeClient* const client_;
  PodStore* const store_;
  const ReflectorOptions options_;
  KubeMetrics* const metrics_;
  Backoff backoff_;   // the reflector thread's only
  absl::BitGen rng_;  // the reflector thread's only

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  WatchStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;  // the open watch, for Stop()
  ReflectorState state_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_REFLECTOR_H_
