#include "controller/kube/pod_store.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace drover::kube {
namespace {

Pod MakePod(std::string ns, std::string name, std::string rv = "1") {
  Pod pod;
  pod.namespace_name = std::move(ns);
  pod.name = std::move(name);
  pod.resource_version = std::move(rv);
  return pod;
}

std::vector<std::string> Keys(const PodStore& store) {
  std::vector<std::string> keys;
  for (const Pod& pod : store.List()) keys.push_back(pod.Key());
  return keys;
}

class PodStoreTest : public ::testing::Test {
 protected:
  PodStoreTest() {
    store_.SetOnChange([this] { ++changes_; });
  }
  PodStore store_;
  std::atomic<int> changes_{0};
};

TEST_F(PodStoreTest, NotSyncedUntilTheFirstReplace) {
  EXPECT_FALSE(store_.HasSynced());
  store_.Upsert(MakePod("a", "x"));  // a watch event before any list does not sync
  EXPECT_FALSE(store_.HasSynced());
  store_.Replace({}, "5");
  EXPECT_TRUE(store_.HasSynced());
  EXPECT_EQ(store_.resource_version(), "5");
}

// The first Replace is a change even when the list is empty: the consumer waits for it.
TEST_F(PodStoreTest, FirstEmptyReplaceNotifies) {
  store_.Replace({}, "1");
  EXPECT_EQ(changes_, 1);
  store_.Replace({}, "2");
  EXPECT_EQ(changes_, 1);
}

// client-go's Replace: pods missing from the new list are deleted.
TEST_F(PodStoreTest, ReplaceDeletesWhatTheListNoLongerHas) {
  store_.Replace({MakePod("shop", "b"), MakePod("shop", "a"), MakePod("db", "z")}, "10");
  EXPECT_EQ(Keys(store_), (std::vector<std::string>{"db/z", "shop/a", "shop/b"}));
  store_.Replace({MakePod("shop", "b", "11"), MakePod("shop", "c")}, "12");
  EXPECT_EQ(Keys(store_), (std::vector<std::string>{"shop/b", "shop/c"}));
  EXPECT_EQ(store_.Get("shop/b")->resource_version, "11");
  EXPECT_EQ(store_.Get("shop/a"), std::nullopt);
  EXPECT_EQ(changes_, 2);
}

TEST_F(PodStoreTest, ReplaceWithTheSameContentIsNoChange) {
  store_.Replace({MakePod("shop", "a")}, "10");
  store_.Replace({MakePod("shop", "a")}, "11");
  EXPECT_EQ(changes_, 1);
  EXPECT_EQ(store_.resource_version(), "11");
}

TEST_F(PodStoreTest, UpsertAndDeleteNotifyOnlyOnChange) {
  store_.Replace({}, "1");
  store_.Upsert(MakePod("shop", "a"));
  EXPECT_EQ(changes_, 2);
  store_.Upsert(MakePod("shop", "a"));  // identical
  EXPECT_EQ(changes_, 2);
  Pod ready = MakePod("shop", "a", "2");
  ready.ready = true;
  store_.Upsert(ready);
  EXPECT_EQ(changes_, 3);
  EXPECT_TRUE(store_.Get("shop/a")->ready);
  store_.Delete(MakePod("shop", "a"));
  EXPECT_EQ(changes_, 4);
  EXPECT_EQ(store_.size(), 0u);
  store_.Delete(MakePod("shop", "a"));  // already gone
  EXPECT_EQ(changes_, 4);
}

// The callback runs outside the lock: it may read the store.
TEST_F(PodStoreTest, CallbackMayReadTheStore) {
  size_t seen = 0;
  store_.SetOnChange([&] { seen = store_.List().size(); });
  store_.Replace({MakePod("a", "1"), MakePod("a", "2")}, "3");
  EXPECT_EQ(seen, 2u);
}

TEST_F(PodStoreTest, ConcurrentReadersAndAWriter) {
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      for (const Pod& pod : store_.List()) ASSERT_FALSE(pod.name.empty());
    }
  });
  for (int i = 0; i < 2000; ++i) {
    store_.Upsert(MakePod("a", std::to_string(i % 50), std::to_string(i)));
    if (i % 100 == 0) store_.Replace({MakePod("a", "keep")}, std::to_string(i));
  }
  done = true;
  reader.join();
  EXPECT_TRUE(store_.HasSynced());
}

}  // namespace
}  // namespace drover::kube
