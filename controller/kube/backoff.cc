#include "controller/kube/backoff.h"

#include <algorithm>

#include "absl/random/distributions.h"

namespace drover::kube {

absl::Duration Backoff::Next(absl::Time now) {
  if (last_failure_.has_value() && now - *last_failure_ >= policy_.reset_after) {
    base_ = policy_.initial;
  }
  last_failure_ = now;
  absl::Duration delay = base_;
  if (policy_.jitter > 0) delay += base_ * absl::Uniform(rng_, 0.0, policy_.jitter);
  base_ = std::min(base_ * 2, policy_.max);
  return delay;
}

}  // namespace drover::kube
