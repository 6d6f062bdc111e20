#include "controller/kube/backoff.h"

#include "gtest/gtest.h"

namespace drover::kube {
namespace {

// client-go's numbers: 800 ms doubling, capped at 30 s.
TEST(BackoffTest, DoublesToTheCap) {
  Backoff backoff(BackoffPolicy{.jitter = 0});
  absl::Time now = absl::UnixEpoch();
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 8; ++i) {
    delays.push_back(backoff.Next(now));
    now += delays.back();
  }
  EXPECT_EQ(delays, (std::vector<absl::Duration>{
                        absl::Milliseconds(800), absl::Milliseconds(1600), absl::Milliseconds(3200),
                        absl::Milliseconds(6400), absl::Milliseconds(12800),
                        absl::Milliseconds(25600), absl::Seconds(30), absl::Seconds(30)}));
}

// Two healthy minutes since the last failure start the sequence over.
TEST(BackoffTest, ResetsAfterAHealthySpell) {
  Backoff backoff(BackoffPolicy{.jitter = 0});
  absl::Time now = absl::UnixEpoch();
  backoff.Next(now);
  backoff.Next(now + absl::Seconds(1));
  EXPECT_EQ(backoff.Next(now + absl::Seconds(2)), absl::Milliseconds(3200));
  EXPECT_EQ(backoff.Next(now + absl::Seconds(2) + absl::Seconds(119)), absl::Milliseconds(6400));
  EXPECT_EQ(backoff.Next(now + absl::Seconds(121) + absl::Minutes(2)), absl::Milliseconds(800));
}

TEST(BackoffTest, JitterStaysInItsBand) {
  Backoff backoff(BackoffPolicy{.jitter = 0.5});
  bool varied = false;
  absl::Duration first;
  for (int i = 0; i < 50; ++i) {
    const absl::Duration d = backoff.Next(absl::UnixEpoch() + absl::Minutes(3) * i);  // resets
    EXPECT_GE(d, absl::Milliseconds(800));
    EXPECT_LT(d, absl::Milliseconds(1200));
    if (i == 0) first = d;
    varied |= d != first;
  }
  EXPECT_TRUE(varied);
}

}  // namespace
}  // namespace drover::kube
