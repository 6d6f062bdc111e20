#include "sidecar/membership/file_source.h"

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace drover::membership {
namespace {

using sticky::MemberTable;
using ::testing::HasSubstr;

// Records every table the source applies, and lets a test wait for the n-th with a deadline.
// std::mutex rather than absl::Mutex: Debian's Abseil is not built with TSan, which then cannot
// see absl::Mutex's ordering and reports false races.
class Deliveries {
 public:
  void Add(std::shared_ptr<const MemberTable> table) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tables_.push_back(std::move(table));
    }
    arrived_.notify_all();
  }
  // The n-th applied table (1-based), or nullptr if it did not come within the deadline.
  std::shared_ptr<const MemberTable> WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [this, n] { return tables_.size() >= n; });
    return tables_.size() >= n ? tables_[n - 1] : nullptr;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return tables_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<std::shared_ptr<const MemberTable>> tables_;  // guarded by mu_
};

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::path(::testing::TempDir()) / "file_source_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/peers";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Replaces the file atomically, as a careful writer (or a Kubernetes volume update) does.
  void Rewrite(std::string_view content) {
    std::string tmp = path_ + ".tmp";
    std::ofstream(tmp, std::ios::binary) << content;
    ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
  }

  std::unique_ptr<FileSource> Source() {
    return std::make_unique<FileSource>(path_, absl::Milliseconds(10));
  }

  // A context whose apply records the table, or refuses tables with a member "refused".
  SourceContext Context() {
    SourceContext context;
    context.apply = [this](std::shared_ptr<const MemberTable> t) {
      if (t->FindById("refused") != nullptr) return absl::FailedPreconditionError("refused");
      deliveries_.Add(std::move(t));
      return absl::OkStatus();
    };
    context.registry = &registry_;
    return context;
  }

  static bool WaitUntil(const std::function<bool()>& condition,
                        absl::Duration timeout = absl::Seconds(10)) {
    absl::Time deadline = absl::Now() + timeout;
    while (!condition()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }

  std::string dir_;
  std::string path_;
  Deliveries deliveries_;
  prometheus::Registry registry_;
};

// Start applies the file at once; a rewrite is applied by the polling thread; a rewrite that
// changes nothing but whitespace is not applied again.
TEST_F(FileSourceTest, SeesRewrites) {
  Rewrite("a 127.0.0.1:1 1\n");
  auto source = Source();
  EXPECT_EQ(source->name(), "file");
  ASSERT_TRUE(source->Start(Context()).ok());
  ASSERT_EQ(deliveries_.count(), 1u);  // synchronously, before Start returned
  EXPECT_EQ(deliveries_.WaitFor(1)->members().size(), 1u);

  Rewrite("a 127.0.0.1:1 1\nb 127.0.0.1:2 3\n");
  auto second = deliveries_.WaitFor(2);
  ASSERT_NE(second, nullptr);
  ASSERT_NE(second->FindById("b"), nullptr);
  EXPECT_EQ(second->FindById("b")->slots, 3);

  Rewrite("# same members\nb 127.0.0.1:2 3\n\na   127.0.0.1:1   1\n");
  Rewrite("b 127.0.0.1:2 4\na 127.0.0.1:1 1\n");
  auto third = deliveries_.WaitFor(3);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->FindById("b")->slots, 4);
  source->Stop();
  EXPECT_EQ(deliveries_.count(), 3u);
  EXPECT_EQ(source->load_errors(), 0u);
}

// A bad rewrite is counted and logged but not applied: the previous table stays in force
// until a good file arrives.
TEST_F(FileSourceTest, KeepsOldTableOnBadRewrite) {
  Rewrite("a 127.0.0.1:1 1\n");
  auto source = Source();
  ASSERT_TRUE(source->Start(Context()).ok());
  Rewrite("a 127.0.0.1:1 1\nb 127.0.0.1:2 zero\n");
  ASSERT_TRUE(WaitUntil([&] { return source->load_errors() >= 1; }));
  EXPECT_EQ(deliveries_.count(), 1u);
  // The same bad file is reported once, not on every poll; a missing file is another error.
  std::filesystem::remove(path_);
  ASSERT_TRUE(WaitUntil([&] { return source->load_errors() >= 2; }));
  EXPECT_EQ(deliveries_.count(), 1u);

  Rewrite("a 127.0.0.1:1 1\nb 127.0.0.1:2 2\n");
  auto fixed = deliveries_.WaitFor(2);
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(fixed->members().size(), 2u);
  source->Stop();
  EXPECT_EQ(source->load_errors(), 2u);
}

// A table the sidecar refuses counts like a bad file, and the next good file is applied.
TEST_F(FileSourceTest, RefusedTableKeepsTheOldOne) {
  Rewrite("a 127.0.0.1:1 1\n");
  auto source = Source();
  ASSERT_TRUE(source->Start(Context()).ok());
  Rewrite("a 127.0.0.1:1 1\nrefused 127.0.0.1:2 1\n");
  ASSERT_TRUE(WaitUntil([&] { return source->load_errors() >= 1; }));
  Rewrite("a 127.0.0.1:1 1\nb 127.0.0.1:2 1\n");
  ASSERT_NE(deliveries_.WaitFor(2), nullptr);
  source->Stop();
  EXPECT_EQ(deliveries_.count(), 2u);
  EXPECT_EQ(source->load_errors(), 1u);
}

// A bad file at start-up is Start's error, naming the flag and the file; the source still
// applies the first good version.
TEST_F(FileSourceTest, StartReportsBadFileAndKeepsWatching) {
  auto source = Source();
  absl::Status start = source->Start(Context());
  ASSERT_FALSE(start.ok());
  EXPECT_THAT(start.message(), HasSubstr("--peers: "));
  EXPECT_THAT(start.message(), HasSubstr(path_));
  EXPECT_EQ(deliveries_.count(), 0u);
  EXPECT_FALSE(source->Start(Context()).ok());  // only once

  Rewrite("a 127.0.0.1:1 1\n");
  ASSERT_NE(deliveries_.WaitFor(1), nullptr);
  source->Stop();
  source->Stop();  // idempotent
}

}  // namespace
}  // namespace drover::membership
