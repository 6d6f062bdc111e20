// Session in --mode=tcp: no HTTP, a byte tunnel to a balanced backend from the first byte; a
// connect that fails is tried once more on another backend, anything else closes the client.

#include "sidecar/proxy/loop_thread.h"
#include "sidecar/proxy/session.h"

namespace drover::proxy {

using metrics::ErrorReason;

// TCP mode has no requests: the session is a tunnel from its first byte.
void Session::StartTcp() {
  phase_ = Phase::kTunnel;
  thread_.stats_.TunnelOpened();
  response_started_ = true;  // nothing to answer with in TCP mode: failures just close
  ArmClientTimer(ClientTimer::kTunnel);
  if (!ConnectBackend(-1)) {
    thread_.stats_.CountError(ErrorReason::kNoBackend);
    Close();
  }
}

void Session::RetryTcpConnect(bool connect_failed) {
  if (connect_failed && !retried_) {
    retried_ = true;
    thread_.stats_.CountError(ErrorReason::kRetried);
    if (ConnectBackend(backend_)) return;
  }
  Close();
}

}  // namespace drover::proxy
