// Turns a stream of pod changes into member-table versions: changes are debounced (a quiet
// period, bounded by a maximum delay from the first change) and then the whole state is
// rebuilt from the pod store, level-triggered, as sample-controller reconciles from its cache.
//
//   Publisher publisher(store, rules, {.quiet = absl::Milliseconds(100),
//                                      .max_delay = absl::Seconds(1)},
//                       [&](const Membership& m) { service.Publish(m); });
//   store.SetOnChange([&] { publisher.Notify(); });
//   publisher.Start();
#ifndef DROVER_CONTROLLER_MEMBERS_PUBLISHER_H_
#define DROVER_CONTROLLER_MEMBERS_PUBLISHER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/kube/pod_store.h"
#include "controller/members/membership.h"

namespace drover::members {

struct DebounceOptions {
  absl::Duration quiet = absl::Milliseconds(100);  // --debounce
  absl::Duration max_delay = absl::Seconds(1);     // --debounce-max
};

class Publisher {
 public:
  using PublishFn = std::function<void(const Membership&)>;

  Publisher(kube::PodStore& store, MemberRules rules, DebounceOptions debounce, PublishFn publish);
  ~Publisher() { Stop(); }
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Marks the state dirty; the next build happens after the quiet period. Any thread.
  void Notify();
  void Start();
  void Stop();

  // How many states were built and published (for readiness: > 0 once the first list synced).
  uint64_t published() const;

 private:
  void Run();

  kube::PodStore& store_;
  const MemberRules rules_;
  const DebounceOptions debounce_;
  const PublishFn publish_;
  mutable absl::Mutex mu_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time first_change_ ABSL_GUARDED_BY(mu_);
  absl::Time last_change_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace drover::members

#endif  // DROVER_CONTROLLER_MEMBERS_PUBLISHER_H_
