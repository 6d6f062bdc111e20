#include "controller/members/publisher.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace drover::members {

Publisher::Publisher(kube::PodStore& store, MemberRules rules, DebounceOptions debounce,
                     PublishFn publish)
    : store_(store), rules_(rules), debounce_(debounce), publish_(std::move(publish)) {}

void Publisher::Notify() {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  if (!dirty_) first_change_ = now;
  dirty_ = true;
  last_change_ = now;
}

void Publisher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Publisher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t Publisher::published() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

void Publisher::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Publisher* self)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) { return self->stop_ || self->dirty_; },
          this));
      if (stop_) return;
      // Quiet period: wait until no change came for `quiet`, or `max_delay` passed since the
      // first change, whichever is first.
      while (!stop_) {
        absl::Time deadline =
            std::min(last_change_ + debounce_.quiet, first_change_ + debounce_.max_delay);
        if (absl::Now() >= deadline) break;
        mu_.AwaitWithDeadline(absl::Condition(&stop_), deadline);
      }
      if (stop_) return;
      dirty_ = false;
    }
    // Before the first list has synced the store is not the cluster's state: publishing it
    // would tell every sidecar that its peers are gone.
    // Poll for the sync, since an empty first list may change nothing in the store.
    if (!store_.HasSynced()) {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(50));
      if (!dirty_) first_change_ = absl::Now();
      dirty_ = true;
      last_change_ = first_change_;
      continue;
    }
    std::vector<kube::Pod> pods = store_.List();
    Membership membership = BuildMembership(pods, rules_);
    publish_(membership);
    absl::MutexLock lock(&mu_);
    ++published_;
  }
}

}  // namespace drover::members
