#include "sidecar/balance/balancer.h"

#include <unistd.h>

#include <map>

#include "gtest/gtest.h"
#include "sidecar/balance/health_checker.h"

namespace drover::balance {
namespace {

std::unique_ptr<BackendSet> Three() {
  return *BackendSet::Parse("127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3");
}

// Round robin visits every backend in turn and skips one that is down.
TEST(BalancerTest, RoundRobinCyclesAndSkipsDown) {
  auto backends = Three();
  metrics::ThreadStats stats(3);
  auto rr = MakeBalancer(BalanceMode::kRoundRobin, *backends, stats, 0);
  EXPECT_EQ(rr->Pick(-1), 0);
  EXPECT_EQ(rr->Pick(-1), 1);
  EXPECT_EQ(rr->Pick(-1), 2);
  (*backends)[0].up = false;
  EXPECT_EQ(rr->Pick(-1), 1);
  EXPECT_EQ(rr->Pick(-1), 2);
  EXPECT_EQ(rr->Pick(-1), 1);
}

// Least-connections picks the backend with the fewest outstanding requests, rotates among ties,
// and honours `exclude`.
TEST(BalancerTest, LeastConnPrefersIdleAndRotatesTies) {
  auto backends = Three();
  metrics::ThreadStats stats(3);
  auto lc = MakeBalancer(BalanceMode::kLeastConn, *backends, stats, 0);
  std::map<int, int> seen;
  for (int i = 0; i < 30; ++i) ++seen[lc->Pick(-1)];
  EXPECT_EQ(seen[0], 10);
  EXPECT_EQ(seen[1], 10);
  EXPECT_EQ(seen[2], 10);
  stats.RequestStarted(0, 0);
  stats.RequestStarted(1, 1);
  EXPECT_EQ(lc->Pick(-1), 2);
  int tie = lc->Pick(2);
  EXPECT_TRUE(tie == 0 || tie == 1);
  EXPECT_NE(lc->Pick(2), tie);
}

// Power of two choices never picks a down or excluded backend and uses all the others.
TEST(BalancerTest, P2CUsesOnlyUsableBackends) {
  auto backends = Three();
  metrics::ThreadStats stats(3);
  auto p2c = MakeBalancer(BalanceMode::kP2C, *backends, stats, 42);
  (*backends)[1].up = false;
  std::map<int, int> seen;
  for (int i = 0; i < 200; ++i) ++seen[p2c->Pick(-1)];
  EXPECT_EQ(seen.count(1), 0u);
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[2], 0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p2c->Pick(0), 2);
  (*backends)[2].up = false;
  EXPECT_EQ(p2c->Pick(0), -1);
}

// With every backend down, every mode says so with -1.
TEST(BalancerTest, NoBackendUp) {
  auto backends = Three();
  metrics::ThreadStats stats(3);
  for (size_t i = 0; i < backends->size(); ++i) (*backends)[i].up = false;
  EXPECT_FALSE(backends->AnyUp());
  for (BalanceMode mode : {BalanceMode::kLeastConn, BalanceMode::kRoundRobin, BalanceMode::kP2C}) {
    EXPECT_EQ(MakeBalancer(mode, *backends, stats, 1)->Pick(-1), -1);
  }
}

// Bad backend lists and modes are rejected with the offending text.
TEST(BalancerTest, ParseErrors) {
  EXPECT_FALSE(BackendSet::Parse("").ok());
  EXPECT_FALSE(BackendSet::Parse("127.0.0.1").ok());
  EXPECT_FALSE(BackendSet::Parse("127.0.0.1:1,nope:2").ok());
  EXPECT_FALSE(ParseBalanceMode("random").ok());
  EXPECT_TRUE(ParseBalanceMode("p2c").ok());
}

// The TCP probe tells a listening port from a closed one.
TEST(HealthCheckerTest, ProbeSeesListeningAndClosedPorts) {
  absl::StatusOr<int> fd = net::ListenReusePort(*net::SocketAddress::Parse("127.0.0.1:0"), 16);
  ASSERT_TRUE(fd.ok());
  net::SocketAddress address = *net::LocalAddress(*fd);
  EXPECT_TRUE(ProbeTcp(address, absl::Seconds(1)).ok());
  close(*fd);
  EXPECT_FALSE(ProbeTcp(address, absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace drover::balance
