// How a failed call ends droverctl: the exit code and the two lines a person reads, one with
// the gRPC code and the controller's message, one saying what to do about it.
//
//   CallOutcome outcome = {.code = status.error_code(), .message = status.error_message(),
//                          .reached = connection.Reached(), .replied = false,
//                          .deadline_passed = ...};
//   std::fputs(DescribeFailure(outcome, "127.0.0.1:7000").c_str(), stderr);
//   return ExitCodeFor(outcome);
//
// Exit codes: 0 success, 1 the controller refused or failed, 2 a usage error, 3 the controller
// could not be reached. A call is "unreachable" only when nothing came back from the
// controller: UNAVAILABLE while the channel never connected, or our own deadline passing
// before the first reply. The same codes sent by a controller that answered (its cluster API
// is down, its own work timed out) are the controller failing: 1.
#ifndef DROVER_DROVERCTL_ERRORS_H_
#define DROVER_DROVERCTL_ERRORS_H_

#include <string>
#include <string_view>

#include "grpcpp/support/status.h"

namespace drover::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

struct CallOutcome {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  bool reached = false;          // the channel was connected to the controller after the call
  bool replied = false;          // at least one reply message arrived (streams)
  bool deadline_passed = false;  // our --timeout deadline was set and has passed
};

// "UNAUTHENTICATED", "NOT_FOUND", ... as gRPC's documentation spells them.
std::string_view CodeName(grpc::StatusCode code);

bool IsUnreachable(const CallOutcome& outcome);
int ExitCodeFor(const CallOutcome& outcome);

// Two lines, each "droverctl: ..." and ending in '\n': the code and message (for an unreachable
// controller, naming `address`), then what to do.
std::string DescribeFailure(const CallOutcome& outcome, std::string_view address);

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_ERRORS_H_
