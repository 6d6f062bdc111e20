// Active TCP health checks: every interval, each backend gets a connect with a timeout; the
// result sets the backend's `up` flag that every balancer reads. A data-path thread that sees
// a connect refused marks the backend down at once (passive check); only a passing active
// check brings it back, so a dead backend costs one failed connect, not one per request. A
// backend going down or coming back is logged once each way, not on every check.
//
//   HealthChecker checker(backends, absl::Seconds(2), absl::Seconds(1));
//   checker.Start();
#ifndef DROVER_SIDECAR_BALANCE_HEALTH_CHECKER_H_
#define DROVER_SIDECAR_BALANCE_HEALTH_CHECKER_H_

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "sidecar/balance/balancer.h"

namespace drover::balance {

class HealthChecker {
 public:
  HealthChecker(BackendSet& backends, absl::Duration interval, absl::Duration timeout)
      : backends_(backends), interval_(interval), timeout_(timeout) {}
  ~HealthChecker() { Stop(); }
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Runs one round of checks synchronously (start-up), then checks on a thread of its own.
  void Start();
  void Stop();

 private:
  void CheckAll();

  BackendSet& backends_;
  absl::Duration interval_;
  absl::Duration timeout_;
  absl::Notification stop_;
  std::thread thread_;
  std::vector<bool> reported_up_;  // per backend: the state last logged (all start up)
};

// Connects to `address` within `timeout`; OK when the connection was accepted.
absl::Status ProbeTcp(const net::SocketAddress& address, absl::Duration timeout);

}  // namespace drover::balance

#endif  // DROVER_SIDECAR_BALANCE_HEALTH_CHECKER_H_
