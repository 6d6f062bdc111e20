#include "droverctl/errors.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace drover::ctl {

std::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

bool IsUnreachable(const CallOutcome& outcome) {
  if (outcome.replied) return false;
  switch (outcome.code) {
    case grpc::StatusCode::UNAVAILABLE:
      // A controller that answered UNAVAILABLE is up; its cluster API is not.
      return !outcome.reached;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // Without our deadline passing, the controller itself reported a timeout.
      return outcome.deadline_passed;
    default:
      return false;
  }
}

int ExitCodeFor(const CallOutcome& outcome) {
  if (outcome.code == grpc::StatusCode::OK) return kExitOk;
  return IsUnreachable(outcome) ? kExitUnreachable : kExitFailed;
}

namespace {

// The controller's message on one line, since each failure is exactly two lines.
std::string OneLine(std::string_view message) {
  if (message.empty()) return "(no message)";
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

std::string_view WhatToDo(const CallOutcome& outcome) {
  switch (outcome.code) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "check --token-file or DROVER_TOKEN: they must hold the controller's admin token";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "the cluster API refused the controller: check its Role (pods: patch; "
             "deployments/scale, statefulsets/scale: get, patch)";
    case grpc::StatusCode::NOT_FOUND:
      return "check the name and the namespace (-n; without it, the controller's own)";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "is the member's sidecar connected? see droverctl status";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "see droverctl COMMAND --help for the expected arguments";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "this controller does not serve that call: is it older than droverctl? "
             "(droverctl --version)";
    case grpc::StatusCode::UNAVAILABLE:
      return "the controller cannot reach the cluster API right now: retry, or see its logs "
             "and /readyz";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return outcome.replied ? "the controller stopped answering: see its logs"
                             : "the controller did not finish in time: retry, or see its logs";
    case grpc::StatusCode::CANCELLED:
      return "the call was cancelled before it finished";
    default:
      return "see the controller's logs";
  }
}

}  // namespace

std::string DescribeFailure(const CallOutcome& outcome, std::string_view address) {
  std::string_view code = CodeName(outcome.code);
  if (IsUnreachable(outcome)) {
    if (outcome.code == grpc::StatusCode::DEADLINE_EXCEEDED && outcome.reached) {
      return absl::StrCat("droverctl: ", AsAbsl(code), ": the controller at ", AsAbsl(address),
                          " did not answer within --timeout\n",
                          "droverctl: is it overloaded or stuck? see its logs, or raise "
                          "--timeout\n");
    }
    return absl::StrCat(
        "droverctl: ", AsAbsl(code), ": cannot reach the controller at ", AsAbsl(address), " (",
        OneLine(outcome.message), ")\n",
        "droverctl: check --addr (or DROVER_ADDR), --tls-ca when the controller serves TLS, "
        "that its Service has ready endpoints, or that `kubectl port-forward` is still "
        "running\n");
  }
  return absl::StrCat("droverctl: ", AsAbsl(code), ": ", OneLine(outcome.message), "\n",
                      "droverctl: ", AsAbsl(WhatToDo(outcome)), "\n");
}

}  // namespace drover::ctl
