#include "droverctl/errors.h"

#include <string>

#include "gtest/gtest.h"

namespace drover::ctl {
namespace {

CallOutcome Outcome(grpc::StatusCode code, bool reached, bool replied = false,
                    bool deadline_passed = false) {
  return {.code = code,
          .message = "msg",
          .reached = reached,
          .replied = replied,
          .deadline_passed = deadline_passed};
}

TEST(ExitCodeTest, OkIsZero) { EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::OK, true)), 0); }

// Every refusal by a controller that answered is exit 1.
TEST(ExitCodeTest, RefusalsAreOne) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAUTHENTICATED, grpc::StatusCode::PERMISSION_DENIED,
        grpc::StatusCode::NOT_FOUND, grpc::StatusCode::FAILED_PRECONDITION,
        grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::UNIMPLEMENTED,
        grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN, grpc::StatusCode::CANCELLED,
        grpc::StatusCode::ABORTED, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    EXPECT_EQ(ExitCodeFor(Outcome(code, true)), kExitFailed) << CodeName(code);
    EXPECT_EQ(ExitCodeFor(Outcome(code, false)), kExitFailed) << CodeName(code);
  }
}

// UNAVAILABLE means unreachable only when the channel never connected: a controller that
// answers UNAVAILABLE (its cluster API is down) is up.
TEST(ExitCodeTest, UnavailableDependsOnWhetherTheControllerWasReached) {
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::UNAVAILABLE, false)), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::UNAVAILABLE, true)), kExitFailed);
}

// DEADLINE_EXCEEDED is unreachable when our own deadline passed before any reply; a stream
// that already replied, or a deadline the controller reported itself, is a failure.
TEST(ExitCodeTest, DeadlineExceeded) {
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::DEADLINE_EXCEEDED, false, false, true)),
            kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::DEADLINE_EXCEEDED, true, false, true)),
            kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::DEADLINE_EXCEEDED, true, false, false)),
            kExitFailed);
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::DEADLINE_EXCEEDED, true, true, true)),
            kExitFailed);
}

// Once a stream replied, losing the controller is a failed command, not "unreachable".
TEST(ExitCodeTest, AfterAReplyNothingIsUnreachable) {
  EXPECT_EQ(ExitCodeFor(Outcome(grpc::StatusCode::UNAVAILABLE, false, true)), kExitFailed);
}

TEST(CodeNameTest, GrpcSpelling) {
  EXPECT_EQ(CodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(CodeName(grpc::StatusCode::FAILED_PRECONDITION), "FAILED_PRECONDITION");
  EXPECT_EQ(CodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
}

// Two lines: the code and the controller's message (on one line), then what to do.
TEST(DescribeFailureTest, CodeMessageAndHint) {
  CallOutcome outcome = Outcome(grpc::StatusCode::UNAUTHENTICATED, true);
  outcome.message = "missing or wrong\nadmin token";
  EXPECT_EQ(DescribeFailure(outcome, "127.0.0.1:7000"),
            "droverctl: UNAUTHENTICATED: missing or wrong admin token\n"
            "droverctl: check --token-file or DROVER_TOKEN: they must hold the controller's "
            "admin token\n");
  EXPECT_NE(DescribeFailure(Outcome(grpc::StatusCode::FAILED_PRECONDITION, true), "a")
                .find("is the member's sidecar connected? see droverctl status"),
            std::string::npos);
}

// Unreachable: the address and where to look.
TEST(DescribeFailureTest, UnreachableNamesTheAddress) {
  std::string text = DescribeFailure(Outcome(grpc::StatusCode::UNAVAILABLE, false),
                                     "drover-controller.drover.svc:7000");
  EXPECT_NE(text.find("cannot reach the controller at drover-controller.drover.svc:7000"),
            std::string::npos);
  EXPECT_NE(text.find("--addr"), std::string::npos);
  EXPECT_NE(text.find("port-forward"), std::string::npos);
}

}  // namespace
}  // namespace drover::ctl
