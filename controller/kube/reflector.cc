#include "controller/kube/reflector.h"

#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "controller/kube/pod.h"
#include "controller/kube/status.h"

namespace drover::kube {
namespace {

void Log(std::string_view path, std::string_view line) {
  std::fprintf(stderr, "drover-controller: reflector %.*s: %.*s\n", static_cast<int>(path.size()),
               path.data(), static_cast<int>(line.size()), line.data());
}

}  // namespace

Reflector::Reflector(KubeClient* client, PodStore* store, ReflectorOptions options,
                     KubeMetrics* metrics)
    : client_(client),
      store_(store),
      options_(std::move(options)),
      metrics_(metrics),
      backoff_(options_.backoff) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

ReflectorState Reflector::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool Reflector::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto synced_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return state_.synced || stopping_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&synced_or_stopping), timeout);
  return state_.synced;
}

bool Reflector::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

absl::Time Reflector::Now() const { return options_.now ? options_.now() : absl::Now(); }

bool Reflector::Wait(absl::Duration delay) {
  if (options_.sleep) {
    options_.sleep(delay);
    return !stopping();
  }
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
  return !stopping_;
}

absl::Duration Reflector::RandomWatchTimeout() {
  const double lo = absl::ToDoubleSeconds(options_.min_watch_timeout);
  const double hi = std::max(lo, absl::ToDoubleSeconds(options_.max_watch_timeout));
  const double seconds = lo == hi ? lo : absl::Uniform(absl::IntervalClosed, rng_, lo, hi);
  // timeoutSeconds is whole seconds; never 0, which would mean the server's default.
  return absl::Seconds(std::max<int64_t>(1, static_cast<int64_t>(seconds)));
}

void Reflector::SetResourceVersion(const std::string& rv) {
  if (rv.empty()) return;
  absl::MutexLock lock(&mu_);
  state_.resource_version = rv;
}

void Reflector::RecordError(const absl::Status& status) {
  Log(options_.path, AsStd(status.message()));
  absl::MutexLock lock(&mu_);
  state_.last_error = std::string(status.message());
  state_.last_error_time = Now();
}

absl::Duration Reflector::DelayFor(const absl::Status& status) {
  if (std::optional<absl::Duration> retry_after = RetryAfter(status)) return *retry_after;
  return backoff_.Next(Now());
}

bool Reflector::RetryWatch(const WatchResult& result) {
  std::optional<int> http = HttpStatusOf(result.status);
  if (http) return *http == 429;
  return result.events == 0;  // no connection, or reset before anything came
}

void Reflector::Run() {
  bool need_list = true;
  int gone_in_a_row = 0;  // watches gone (410) with no event since the last one that had any
  while (!stopping()) {
    if (need_list) {
      if (absl::Status s = ListAll(); !s.ok()) {
        if (stopping()) break;
        RecordError(s);
        if (!Wait(DelayFor(s))) break;
        continue;
      }
      need_list = false;
    }
    const absl::Time started = Now();
    WatchResult result = WatchOnce();
    if (result.events > 0) gone_in_a_row = 0;
    switch (result.outcome) {
      case WatchOutcome::kStopped:
        return;
      case WatchOutcome::kEnded:
        if (result.events == 0 && Now() - started < options_.min_healthy_watch) {
          const absl::Status s = absl::UnavailableError("watch ended at once without events");
          RecordError(s);
          if (!Wait(DelayFor(s))) return;
        }
        break;
      case WatchOutcome::kGone:
        Log(options_.path, absl::StrCat("relisting: ", result.status.message()));
        need_list = true;
        // The list right before this watch was already fresh; relisting again at once could
        // spin against a server that keeps answering 410.
        if (++gone_in_a_row > 1 && !Wait(DelayFor(result.status))) return;
        break;
      case WatchOutcome::kFailed:
        RecordError(result.status);
        if (!Wait(DelayFor(result.status))) return;
        // As client-go's reflector: a watch that could not start for want of a connection, or
        // was told 429, is tried again; any other failure (an HTTP error such as a restored
        // API server's "Too large resource version", an ERROR event, a stream broken after
        // events) lists afresh, since the resourceVersion held may mean nothing to the server
        // any more. Objects missing from the new list become deletes.
        if (!RetryWatch(result)) need_list = true;
        break;
    }
  }
}

absl::Status Reflector::ListAll() {
  // The second pass runs only when the first one's continue token expired mid-way.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<Pod> pods;
    ListOptions options;
    options.path = options_.path;
    options.label_selector = options_.label_selector;
    options.limit = options_.page_size;
    std::string resource_version;
    absl::Status failed;
    while (true) {
      absl::StatusOr<ListPage> page = client_->List(options);
      if (!page.ok()) {
        failed = page.status();
        break;
      }
      for (const std::string& item : page->items) {
        absl::StatusOr<Pod> pod = ParsePod(item);
        if (!pod.ok()) {
          RecordError(absl::InvalidArgumentError(
              absl::StrCat("skipping a listed item: ", pod.status().message())));
          continue;
        }
        pods.push_back(*std::move(pod));
      }
      resource_version = page->resource_version;
      if (page->continue_token.empty()) break;
      if (stopping()) return absl::CancelledError("stopping");
      options.continue_token = page->continue_token;
    }
    if (failed.ok()) {
      if (stopping()) return absl::CancelledError("stopping");
      store_->Replace(std::move(pods), resource_version);
      bool relist;
      {
        absl::MutexLock lock(&mu_);
        relist = state_.lists > 0;
        ++state_.lists;
        if (relist) ++state_.relists;
        state_.synced = true;
        if (!resource_version.empty()) state_.resource_version = resource_version;
      }
      if (relist && metrics_ != nullptr) metrics_->CountRelist();
      return absl::OkStatus();
    }
    if (!IsGone(failed) || options.continue_token.empty()) return failed;
    Log(options_.path, "the list's continue token expired; listing again from the start");
  }
  return absl::AbortedError("the list's continue token expired twice in a row");
}

Reflector::WatchResult Reflector::WatchOnce() {
  WatchOptions options;
  options.path = options_.path;
  options.label_selector = options_.label_selector;
  options.allow_bookmarks = true;
  options.timeout = RandomWatchTimeout();
  {
    absl::MutexLock lock(&mu_);
    options.resource_version = state_.resource_version;
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = client_->Watch(options);
  if (!stream.ok()) {
    if (stopping()) return {WatchOutcome::kStopped, stream.status()};
    if (IsGone(stream.status())) return {WatchOutcome::kGone, stream.status()};
    return {WatchOutcome::kFailed, stream.status()};
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {WatchOutcome::kStopped, absl::CancelledError("stopping")};
    stream_ = stream->get();
    state_.watching = true;
    ++state_.watches;
  }
  WatchResult result{WatchOutcome::kEnded, absl::OkStatus()};
  while (true) {
    absl::StatusOr<WatchEvent> event = (*stream)->Next();
    if (!event.ok()) {
      if (stopping()) {
        result = {WatchOutcome::kStopped, event.status(), result.events};
      } else if (absl::IsOutOfRange(event.status())) {
        result.outcome = WatchOutcome::kEnded;
      } else if (IsGone(event.status())) {
        // A client may report the answer to the watch request itself here (see client.h).
        result = {WatchOutcome::kGone, event.status(), result.events};
      } else {
        result = {WatchOutcome::kFailed, event.status(), result.events};
      }
      break;
    }
    // An ERROR event is no sign of a healthy watch: count only the others.
    if (event->type != WatchEventType::kError) ++result.events;
    if (metrics_ != nullptr) metrics_->CountWatchEvent(event->type);
    {
      absl::MutexLock lock(&mu_);
      ++state_.events;
    }
    absl::Status error;
    if (!Apply(*event, error)) {
      result = {IsGone(error) ? WatchOutcome::kGone : WatchOutcome::kFailed, error, result.events};
      break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    state_.watching = false;
  }
  return result;
}

bool Reflector::Apply(const WatchEvent& event, absl::Status& error) {
  switch (event.type) {
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted: {
      absl::StatusOr<Pod> pod = ParsePod(event.object);
      if (!pod.ok()) {
        // Watching again would replay the same object; skipping it loses one pod's update
        // until the next relist, and says so.
        RecordError(absl::InvalidArgumentError(absl::StrCat("skipping a ",
                                                            AsAbsl(WatchEventTypeName(event.type)),
                                                            " event: ", pod.status().message())));
        return true;
      }
      const std::string rv = pod->resource_version;
      if (event.type == WatchEventType::kDeleted) {
        store_->Delete(*pod);
      } else {
        store_->Upsert(*std::move(pod));
      }
      SetResourceVersion(rv);
      return true;
    }
    case WatchEventType::kBookmark: {
      absl::StatusOr<std::string> rv = ParseResourceVersion(event.object);
      if (!rv.ok()) {
        RecordError(absl::InvalidArgumentError(
            absl::StrCat("skipping a BOOKMARK event: ", rv.status().message())));
        return true;
      }
      SetResourceVersion(*rv);
      return true;
    }
    case WatchEventType::kError:
      error = StatusFromWatchError(event.object);
      return false;
  }
  return true;
}

}  // namespace drover::kube
