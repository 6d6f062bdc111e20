#include "sidecar/balance/health_checker.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace drover::balance {

absl::Status ProbeTcp(const net::SocketAddress& address, absl::Duration timeout) {
  bool in_progress = false;
  absl::StatusOr<int> fd = net::ConnectNonBlocking(address, in_progress);
  if (!fd.ok()) return fd.status();
  absl::Status status = absl::OkStatus();
  if (in_progress) {
    pollfd p{*fd, POLLOUT, 0};
    int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (ready == 0) {
      status = absl::DeadlineExceededError("connect timed out");
    } else if (int err = net::SocketError(*fd); err != 0) {
      status = absl::ErrnoToStatus(err, "connect");
    }
  }
  close(*fd);
  return status;
}

void HealthChecker::Start() {
  CheckAll();
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) CheckAll();
  });
}

void HealthChecker::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::CheckAll() {
  if (reported_up_.size() != backends_.size()) reported_up_.assign(backends_.size(), true);
  for (size_t i = 0; i < backends_.size(); ++i) {
    Backend& backend = backends_[i];
    absl::Status status = ProbeTcp(backend.address, timeout_);
    backend.up.store(status.ok(), std::memory_order_relaxed);
    // Logged against what was last logged, not against `up`: a refused request (the passive
    // check) may have taken the backend down first, and that transition is logged here too,
    // once; each further failed check of a backend already reported down stays quiet.
    if (reported_up_[i] == status.ok()) continue;
    reported_up_[i] = status.ok();
    if (status.ok()) {
      std::fprintf(stderr, "drover-sidecar: backend %s is up\n", backend.name.c_str());
    } else {
      std::fprintf(stderr, "drover-sidecar: backend %s is down: %s\n", backend.name.c_str(),
                   std::string(status.message()).c_str());
    }
  }
}

}  // namespace drover::balance
