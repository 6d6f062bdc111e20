#include "sidecar/metrics/stats.h"

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace drover::metrics {
namespace {

using ::testing::HasSubstr;

// Counts from several threads' stats are summed into the documented families.
TEST(StatsTest, CollectorSumsThreads) {
  ThreadStats a(2), b(2);
  a.CountRequest(200, 2'000'000);
  b.CountRequest(200, 30'000'000);
  b.CountRequest(502, 1'000);
  a.CountError(ErrorReason::kBackendRefused);
  a.RequestStarted(1, 0);
  b.RequestStarted(1, 1);
  b.RequestFinished(1, 1, true);
  a.ConnectionOpened();
  b.ConnectionOpened();
  a.ConnectionClosed();
  a.AddClientBytes(10, 20);
  b.AddClientBytes(1, 2);
  std::atomic<bool> up0{true}, up1{false};
  StatsCollector collector({&a, &b}, {{"127.0.0.1:1", &up0}, {"127.0.0.1:2", &up1}});
  std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_THAT(text, HasSubstr("drover_http_requests_total{code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("drover_http_requests_total{code=\"502\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("drover_http_request_duration_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("drover_http_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("drover_active_connections 1\n"));
  EXPECT_THAT(text, HasSubstr("drover_backend_outstanding_requests{backend=\"127.0.0.1:2\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("drover_backend_up{backend=\"127.0.0.1:2\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("drover_bytes_total{direction=\"received\",peer=\"client\"} 11\n"));
  EXPECT_THAT(text, HasSubstr("drover_errors_total{reason=\"backend_refused\"} 1\n"));
}

}  // namespace
}  // namespace drover::metrics
