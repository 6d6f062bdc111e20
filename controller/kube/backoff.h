// Exponential backoff with jitter that forgets after a healthy spell, as client-go's reflector
// waits between failed lists and watches: 800 ms doubling to 30 s, each delay stretched by a
// random fraction up to `jitter` (so replicas that failed together do not retry together), and
// back to 800 ms once `reset_after` has passed since the last failure.
//
//   Backoff backoff(BackoffPolicy{});
//   while (!Try()) Sleep(backoff.Next(absl::Now()));
#ifndef DROVER_CONTROLLER_KUBE_BACKOFF_H_
#define DROVER_CONTROLLER_KUBE_BACKOFF_H_

#include <optional>

#include "absl/random/random.h"
#include "absl/time/time.h"

namespace drover::kube {

struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(800);
  absl::Duration max = absl::Seconds(30);
  absl::Duration reset_after = absl::Minutes(2);
  double jitter = 0.25;  // delay in [base, base * (1 + jitter))
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy) : policy_(policy), base_(policy.initial) {}

  // The delay after a failure at `now`.
  absl::Duration Next(absl::Time now);
  void Reset() {
    base_ = policy_.initial;
    last_failure_.reset();
  }

 private:
  BackoffPolicy policy_;
  absl::Duration base_;
  std::optional<absl::Time> last_failure_;
  absl::BitGen rng_;
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_BACKOFF_H_
