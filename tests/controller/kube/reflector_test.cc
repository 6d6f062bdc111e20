#include "controller/kube/reflector.h"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "controller/kube/metrics.h"
#include "controller/kube/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace drover::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(5);

std::string PodJson(std::string_view name, std::string_view rv, bool ready = false) {
  return absl::StrCat(R"({"metadata":{"namespace":"shop","name":")", AsAbsl(name),
                      R"(","resourceVersion":")", AsAbsl(rv), R"("},"status":{"phase":"Running",)",
                      R"("podIP":"10.0.0.1","conditions":[{"type":"Ready","status":")",
                      ready ? "True" : "False", R"("}]}})");
}

WatchEvent Event(WatchEventType type, std::string object) { return {type, std::move(object)}; }
WatchEvent Bookmark(std::string_view rv) {
  return {WatchEventType::kBookmark,
          absl::StrCat(R"({"kind":"Pod","metadata":{"resourceVersion":")", AsAbsl(rv), R"("}})")};
}
WatchEvent ErrorEvent(int code, std::string_view reason) {
  return {WatchEventType::kError,
          absl::StrCat(R"({"kind":"Status","code":)", code, R"(,"reason":")", AsAbsl(reason),
                       R"(","message":"scripted"})")};
}
ListPage Page(std::string rv, std::vector<std::string> items, std::string continue_token = "") {
  return ListPage{std::move(rv), std::move(continue_token), std::move(items)};
}
absl::Status Gone() {
  return StatusFromHttp(410, "LIST /api/v1/namespaces/shop/pods",
                        R"({"kind":"Status","code":410,"reason":"Expired","message":"expired"})");
}

// A clock that moves only when told to: by the reflector's sleeps, or by a scripted step.
class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1000);
};

// A KubeClient that answers from a script. Once a script runs out, List blocks and a watch
// blocks until cancelled: the reflector is then "idle", which the test waits for.
class ScriptedClient : public KubeClient {
 public:
  // One watch: Watch() fails with `open_error`, or returns a stream that yields `steps`
  // (events, errors returned by Next(), or clock advances) and then ends cleanly (or blocks
  // until cancelled when `block_at_end`).
  using Step = std::variant<WatchEvent, absl::Status, absl::Duration>;
  struct ScriptedWatch {
    absl::Status open_error = absl::OkStatus();
    std::vector<Step> steps = {};
    bool block_at_end = false;
  };

  explicit ScriptedClient(FakeClock* clock) : clock_(clock) {}

  void AddList(absl::StatusOr<ListPage> page) {
    absl::MutexLock lock(&mu_);
    lists_.push_back(std::move(page));
  }
  void AddWatch(ScriptedWatch watch) {
    absl::MutexLock lock(&mu_);
    watches_.push_back(std::move(watch));
  }

  absl::StatusOr<ListPage> List(const ListOptions& options) override {
    absl::MutexLock lock(&mu_);
    list_calls_.push_back(options);
    if (lists_.empty()) {
      idle_ = true;
      mu_.Await(absl::Condition(&shutdown_));
      return absl::CancelledError("test over");
    }
    absl::StatusOr<ListPage> page = std::move(lists_.front());
    lists_.pop_front();
    return page;
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const WatchOptions& options) override {
    absl::MutexLock lock(&mu_);
    watch_calls_.push_back(options);
    ScriptedWatch script;
    if (watches_.empty()) {
      script.block_at_end = true;
    } else {
      script = std::move(watches_.front());
      watches_.pop_front();
    }
    if (!script.open_error.ok()) return script.open_error;
    return std::make_unique<Stream>(this, std::move(script));
  }

  absl::StatusOr<std::string> Get(std::string_view) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::string> Patch(std::string_view, std::string_view, std::string_view) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::string> Put(std::string_view, std::string_view) override {
    return absl::UnimplementedError("");
  }

  // True once the reflector waits on an exhausted script.
  bool WaitIdle(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&idle_), timeout);
  }
  void Shutdown() {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  std::vector<ListOptions> list_calls() const {
    absl::MutexLock lock(&mu_);
    return list_calls_;
  }
  std::vector<WatchOptions> watch_calls() const {
    absl::MutexLock lock(&mu_);
    return watch_calls_;
  }

 private:
  class Stream : public WatchStream {
   public:
    Stream(ScriptedClient* client, ScriptedWatch script)
        : client_(client), script_(std::move(script)) {}
    absl::StatusOr<WatchEvent> Next() override {
      while (next_ < script_.steps.size()) {
        Step& step = script_.steps[next_++];
        if (auto* event = std::get_if<WatchEvent>(&step)) return *event;
        if (auto* status = std::get_if<absl::Status>(&step)) return *status;
        client_->clock_->Advance(std::get<absl::Duration>(step));
      }
      if (!script_.block_at_end) return absl::OutOfRangeError("watch ended");
      absl::MutexLock lock(&client_->mu_);
      client_->idle_ = true;
      client_->mu_.Await(absl::Condition(&cancelled_));
      return absl::CancelledError("cancelled");
    }
    void Cancel() override {
      absl::MutexLock lock(&client_->mu_);
      cancelled_ = true;
    }

   private:
    ScriptedClient* client_;
    ScriptedWatch script_;
    size_t next_ = 0;
    bool cancelled_ = false;  // guarded by client_->mu_
  };

  FakeClock* clock_;
  mutable absl::Mutex mu_;
  std::deque<absl::StatusOr<ListPage>> lists_ ABSL_GUARDED_BY(mu_);
  std::deque<ScriptedWatch> watches_ ABSL_GUARDED_BY(mu_);
  std::vector<ListOptions> list_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<WatchOptions> watch_calls_ ABSL_GUARDED_BY(mu_);
  bool idle_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

double CounterValue(prometheus::Registry& registry, std::string_view name,
                    const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return metric.counter.value;
    }
  }
  return -1;
}

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorTest() : client_(&clock_), metrics_(registry_) {
    store_.SetOnChange([this] {
      absl::MutexLock lock(&mu_);
      ++changes_;
    });
  }

  ~ReflectorTest() override {
    client_.Shutdown();
    if (reflector_ != nullptr) reflector_->Stop();
  }

  ReflectorOptions Options() {
    ReflectorOptions options;
    options.path = "/api/v1/namespaces/shop/pods";
    options.label_selector = "app.kubernetes.io/name=web";
    options.page_size = 2;
    options.min_watch_timeout = absl::Seconds(7);
    options.max_watch_timeout = absl::Seconds(7);
    options.backoff.jitter = 0;
    options.now = [this] { return clock_.Now(); };
    options.sleep = [this](absl::Duration d) {
      {
        absl::MutexLock lock(&mu_);
        sleeps_.push_back(d);
      }
      clock_.Advance(d);
    };
    return options;
  }

  // Runs the reflector until the script is used up.
  void RunScript(ReflectorOptions options) {
    reflector_ = std::make_unique<Reflector>(&client_, &store_, std::move(options), &metrics_);
    reflector_->Start();
    ASSERT_TRUE(client_.WaitIdle(kWait)) << "the reflector never used up its script";
  }
  void RunScript() { RunScript(Options()); }

  std::vector<std::string> StoreKeysAndVersions() const {
    std::vector<std::string> out;
    for (const Pod& pod : store_.List()) {
      out.push_back(absl::StrCat(pod.Key(), "@", pod.resource_version, pod.ready ? "+" : ""));
    }
    return out;
  }
  std::vector<absl::Duration> sleeps() {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }
  int changes() {
    absl::MutexLock lock(&mu_);
    return changes_;
  }

  FakeClock clock_;
  ScriptedClient client_;
  prometheus::Registry registry_;
  KubeMetrics metrics_;
  PodStore store_;
  std::unique_ptr<Reflector> reflector_;
  absl::Mutex mu_;
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
  int changes_ ABSL_GUARDED_BY(mu_) = 0;
};

// List, then watch from the list's resourceVersion; events land in the store in order.
TEST_F(ReflectorTest, ListThenWatch) {
  client_.AddList(Page("100", {PodJson("a", "90"), PodJson("b", "91")}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("c", "101")),
                              Event(WatchEventType::kModified, PodJson("a", "102", true)),
                              Event(WatchEventType::kDeleted, PodJson("b", "103"))},
                    .block_at_end = true});
  RunScript();

  EXPECT_THAT(StoreKeysAndVersions(), ElementsAre("shop/a@102+", "shop/c@101"));
  ASSERT_EQ(client_.list_calls().size(), 1u);
  const ListOptions list = client_.list_calls()[0];
  EXPECT_EQ(list.path, "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(list.label_selector, "app.kubernetes.io/name=web");
  EXPECT_EQ(list.limit, 2);
  EXPECT_EQ(list.resource_version, "");  // a consistent read
  ASSERT_EQ(client_.watch_calls().size(), 1u);
  const WatchOptions watch = client_.watch_calls()[0];
  EXPECT_EQ(watch.resource_version, "100");
  EXPECT_EQ(watch.label_selector, "app.kubernetes.io/name=web");
  EXPECT_TRUE(watch.allow_bookmarks);
  EXPECT_EQ(watch.timeout, absl::Seconds(7));

  const ReflectorState state = reflector_->state();
  EXPECT_TRUE(state.synced);
  EXPECT_TRUE(state.watching);
  EXPECT_EQ(state.resource_version, "103");
  EXPECT_EQ(state.lists, 1);
  EXPECT_EQ(state.relists, 0);
  EXPECT_EQ(state.events, 3);
  EXPECT_EQ(state.last_error, "");
  EXPECT_THAT(sleeps(), IsEmpty());
  EXPECT_EQ(changes(), 4);  // the list, then one per event
  EXPECT_EQ(CounterValue(registry_, "drover_controller_watch_events_total", {{"type", "added"}}),
            1);
  EXPECT_EQ(CounterValue(registry_, "drover_controller_watch_events_total", {{"type", "deleted"}}),
            1);
  EXPECT_EQ(CounterValue(registry_, "drover_controller_relists_total"), 0);
}

// The watch timeout is drawn from [min, max] on every watch.
TEST_F(ReflectorTest, WatchTimeoutIsRandomInItsRange) {
  client_.AddList(Page("1", {}));
  for (int i = 0; i < 20; ++i) {
    client_.AddWatch({.steps = {Bookmark(absl::StrCat(i + 2))}});
  }
  ReflectorOptions options = Options();
  options.min_watch_timeout = absl::Seconds(300);
  options.max_watch_timeout = absl::Seconds(600);
  RunScript(std::move(options));
  bool varied = false;
  for (const WatchOptions& watch : client_.watch_calls()) {
    EXPECT_GE(watch.timeout, absl::Seconds(300));
    EXPECT_LE(watch.timeout, absl::Seconds(600));
    varied |= watch.timeout != client_.watch_calls()[0].timeout;
  }
  EXPECT_TRUE(varied);
}

// Pages are requested with the previous page's continue token and stored as one list.
TEST_F(ReflectorTest, PagedList) {
  client_.AddList(Page("100", {PodJson("a", "1"), PodJson("b", "2")}, "token-1"));
  client_.AddList(Page("100", {PodJson("c", "3"), PodJson("d", "4")}, "token-2"));
  client_.AddList(Page("100", {PodJson("e", "5")}));
  RunScript();
  const std::vector<ListOptions> calls = client_.list_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].continue_token, "");
  EXPECT_EQ(calls[1].continue_token, "token-1");
  EXPECT_EQ(calls[2].continue_token, "token-2");
  EXPECT_EQ(store_.size(), 5u);
  EXPECT_EQ(changes(), 1);  // one Replace, not one per page
  EXPECT_EQ(client_.watch_calls()[0].resource_version, "100");
}

// A 410 on a continue token (it expired mid-list) restarts the list from its first page, at
// once; the half-read list is never stored.
TEST_F(ReflectorTest, ExpiredContinueTokenRestartsTheList) {
  client_.AddList(Page("100", {PodJson("a", "1"), PodJson("b", "2")}, "token-1"));
  client_.AddList(Gone());
  client_.AddList(Page("200", {PodJson("b", "2"), PodJson("c", "3")}));
  RunScript();
  const std::vector<ListOptions> calls = client_.list_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].continue_token, "token-1");
  EXPECT_EQ(calls[2].continue_token, "");
  EXPECT_THAT(StoreKeysAndVersions(), ElementsAre("shop/b@2", "shop/c@3"));
  EXPECT_THAT(sleeps(), IsEmpty());
  EXPECT_EQ(client_.watch_calls()[0].resource_version, "200");
  EXPECT_EQ(reflector_->state().lists, 1);
}

// An ERROR event with 410 (the watch's resourceVersion is too old) relists at once; pods
// missing from the new list are deleted from the store.
TEST_F(ReflectorTest, ErrorEvent410Relists) {
  client_.AddList(Page("10", {PodJson("a", "1"), PodJson("b", "2")}));
  client_.AddWatch({.steps = {ErrorEvent(410, "Expired")}});
  client_.AddList(Page("20", {PodJson("a", "1")}));
  client_.AddWatch({.block_at_end = true});
  RunScript();
  EXPECT_THAT(StoreKeysAndVersions(), ElementsAre("shop/a@1"));
  ASSERT_EQ(client_.watch_calls().size(), 2u);
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "20");
  EXPECT_THAT(sleeps(), IsEmpty());
  const ReflectorState state = reflector_->state();
  EXPECT_EQ(state.lists, 2);
  EXPECT_EQ(state.relists, 1);
  EXPECT_EQ(CounterValue(registry_, "drover_controller_relists_total"), 1);
  EXPECT_EQ(CounterValue(registry_, "drover_controller_watch_events_total", {{"type", "error"}}),
            1);
}

// A 410 answer to the watch request itself relists too.
TEST_F(ReflectorTest, Watch410StatusRelists) {
  client_.AddList(Page("10", {PodJson("a", "1")}));
  client_.AddWatch({.open_error = Gone()});
  client_.AddList(Page("30", {}));
  RunScript();
  EXPECT_EQ(client_.list_calls().size(), 2u);
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_EQ(client_.watch_calls().back().resource_version, "30");
  EXPECT_THAT(sleeps(), IsEmpty());
}

// The HTTP client reports the answer to the watch request from the first Next(): a 410 there
// relists too, and a 429 there waits its Retry-After.
TEST_F(ReflectorTest, AnswerInTheFirstNext) {
  client_.AddList(Page("10", {PodJson("a", "1")}));
  client_.AddWatch({.steps = {StatusFromHttp(429, "WATCH /x", "", absl::Seconds(4))}});
  client_.AddWatch({.steps = {Gone()}});
  client_.AddList(Page("30", {}));
  RunScript();
  EXPECT_EQ(client_.list_calls().size(), 2u);
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_THAT(sleeps(), ElementsAre(absl::Seconds(4)));
  EXPECT_EQ(reflector_->state().relists, 1);
}

// A watch that is gone again right after a fresh list backs off before the next relist.
TEST_F(ReflectorTest, RepeatedGoneBacksOff) {
  client_.AddList(Page("10", {}));
  client_.AddWatch({.steps = {ErrorEvent(410, "Expired")}});
  client_.AddList(Page("11", {}));
  client_.AddWatch({.steps = {ErrorEvent(410, "Expired")}});
  client_.AddList(Page("12", {}));
  RunScript();
  EXPECT_THAT(sleeps(), ElementsAre(absl::Milliseconds(800)));
  EXPECT_EQ(client_.list_calls().size(), 3u);
}

// A bookmark only moves the resourceVersion the next watch starts from.
TEST_F(ReflectorTest, BookmarkAdvancesTheResourceVersion) {
  client_.AddList(Page("10", {PodJson("a", "1")}));
  client_.AddWatch({.steps = {Bookmark("55")}});
  RunScript();
  ASSERT_EQ(client_.watch_calls().size(), 2u);
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "55");
  EXPECT_EQ(client_.list_calls().size(), 1u);
  EXPECT_EQ(changes(), 1);
  EXPECT_EQ(reflector_->state().resource_version, "55");
  EXPECT_THAT(sleeps(), IsEmpty());
}

// timeoutSeconds reached: watch again at once from the last event's resourceVersion.
TEST_F(ReflectorTest, CleanEndRewatchesAtOnce) {
  client_.AddList(Page("10", {}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("x", "11"))}});
  client_.AddWatch({.steps = {Event(WatchEventType::kModified, PodJson("x", "12"))}});
  RunScript();
  const std::vector<WatchOptions> calls = client_.watch_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].resource_version, "11");
  EXPECT_EQ(calls[2].resource_version, "12");
  EXPECT_THAT(sleeps(), IsEmpty());
  EXPECT_EQ(client_.list_calls().size(), 1u);
}

// A watch that ends at once without any event is suspicious: back off instead of spinning.
TEST_F(ReflectorTest, EmptyInstantWatchBacksOff) {
  client_.AddList(Page("10", {}));
  client_.AddWatch({});
  RunScript();
  EXPECT_THAT(sleeps(), ElementsAre(absl::Milliseconds(800)));
  EXPECT_EQ(client_.watch_calls().size(), 2u);
}

// An ERROR event with another code: back off, then list afresh, as client-go's reflector does
// after any watch error but a 410 (which relists at once) or a refused connection / 429 (which
// watch again).
TEST_F(ReflectorTest, OtherErrorEventBacksOffAndRelists) {
  client_.AddList(Page("10", {}));
  client_.AddList(Page("12", {}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("x", "11")),
                              ErrorEvent(500, "InternalError")}});
  RunScript();
  EXPECT_THAT(sleeps(), ElementsAre(absl::Milliseconds(800)));
  EXPECT_EQ(client_.list_calls().size(), 2u);
  EXPECT_THAT(reflector_->state().last_error, HasSubstr("scripted"));
}

// A watch that cannot connect is tried again from the same resourceVersion, without a list.
TEST_F(ReflectorTest, RefusedWatchRewatches) {
  client_.AddList(Page("10", {}));
  client_.AddWatch({.open_error = absl::UnavailableError("connection refused")});
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("x", "11"))}});
  RunScript();
  ASSERT_GE(client_.watch_calls().size(), 2u);
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "10");
  EXPECT_EQ(client_.list_calls().size(), 1u);
}

// A watch answered with an HTTP error (a replaced API server's "Too large resource version")
// lists afresh instead of asking for the same resourceVersion forever.
TEST_F(ReflectorTest, HttpErrorOnWatchRelists) {
  client_.AddList(Page("43", {}));
  client_.AddList(Page("8", {}));
  client_.AddWatch({.open_error = StatusFromHttp(504, "WATCH /x", "Too large resource version")});
  RunScript();
  EXPECT_EQ(client_.list_calls().size(), 2u);
  EXPECT_EQ(reflector_->state().resource_version, "8");
}

// Failed lists and broken streams back off 800 ms doubling; two healthy minutes reset it.
TEST_F(ReflectorTest, BackoffGrowsAndResets) {
  for (int i = 0; i < 4; ++i) client_.AddList(absl::UnavailableError("connection refused"));
  client_.AddList(Page("10", {}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("x", "11")), absl::Minutes(3),
                              absl::UnavailableError("stream reset")}});
  // A stream broken after events lists afresh.
  client_.AddList(Page("11", {}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, PodJson("y", "12")),
                              absl::UnavailableError("stream reset")}});
  client_.AddList(Page("12", {}));
  RunScript();
  EXPECT_THAT(sleeps(), ElementsAre(absl::Milliseconds(800), absl::Milliseconds(1600),
                                    absl::Milliseconds(3200), absl::Milliseconds(6400),
                                    absl::Milliseconds(800), absl::Milliseconds(1600)));
  EXPECT_THAT(reflector_->state().last_error, HasSubstr("stream reset"));
}

// The cap is 30 s.
TEST_F(ReflectorTest, BackoffIsCapped) {
  for (int i = 0; i < 9; ++i) client_.AddList(absl::UnavailableError("down"));
  RunScript();
  const std::vector<absl::Duration> s = sleeps();
  ASSERT_EQ(s.size(), 9u);
  EXPECT_EQ(s[6], absl::Seconds(30));
  EXPECT_EQ(s[8], absl::Seconds(30));
}

// 429 with Retry-After waits what the server asked, for lists and for watches.
TEST_F(ReflectorTest, RetryAfterIsHonoured) {
  client_.AddList(StatusFromHttp(429, "LIST /x", "", absl::Seconds(7)));
  client_.AddList(Page("10", {}));
  client_.AddWatch({.open_error = StatusFromHttp(429, "WATCH /x", "", absl::Seconds(3))});
  RunScript();
  EXPECT_THAT(sleeps(), ElementsAre(absl::Seconds(7), absl::Seconds(3)));
  EXPECT_EQ(client_.list_calls().size(), 2u);
  ASSERT_EQ(client_.watch_calls().size(), 2u);
  EXPECT_EQ(client_.watch_calls()[1].resource_version, "10");
}

// A pod that does not parse is skipped (and said so); the rest of the list is stored.
TEST_F(ReflectorTest, SkipsAnUnparseablePod) {
  client_.AddList(Page("10", {PodJson("a", "1"), R"({"metadata":{"name":7}})"}));
  client_.AddWatch({.steps = {Event(WatchEventType::kAdded, R"({"metadata":{}})"),
                              Event(WatchEventType::kAdded, PodJson("b", "12"))},
                    .block_at_end = true});
  RunScript();
  EXPECT_THAT(StoreKeysAndVersions(), ElementsAre("shop/a@1", "shop/b@12"));
  EXPECT_THAT(reflector_->state().last_error, HasSubstr("skipping a ADDED event"));
}

// Stop() cancels a blocked watch and joins at once.
TEST_F(ReflectorTest, StopCancelsTheWatch) {
  client_.AddList(Page("10", {}));
  RunScript();
  EXPECT_TRUE(reflector_->state().watching);
  const absl::Time start = absl::Now();
  reflector_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_FALSE(reflector_->state().watching);
}

// Stop() ends a backoff wait at once (the real sleeper, not the test's).
TEST_F(ReflectorTest, StopInterruptsTheBackoff) {
  client_.AddList(absl::UnavailableError("down"));
  ReflectorOptions options = Options();
  options.sleep = nullptr;
  options.backoff.initial = absl::Seconds(60);
  reflector_ = std::make_unique<Reflector>(&client_, &store_, std::move(options), &metrics_);
  reflector_->Start();
  // The error is recorded just before the wait begins.
  const absl::Time deadline = absl::Now() + kWait;
  while (reflector_->state().last_error.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_THAT(reflector_->state().last_error, HasSubstr("down"));
  const absl::Time start = absl::Now();
  reflector_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(client_.list_calls().size(), 1u);
}

}  // namespace
}  // namespace drover::kube
