#include "droverctl/commands.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "droverctl/errors.h"
#include "droverctl/render.h"

namespace drover::ctl {

namespace {

// Every write is flushed: a pipe would otherwise hold restart progress and watch refreshes
// until the buffer fills.
void Print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void PrintError(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stderr); }

int Fail(const Session& session, const CallOutcome& outcome) {
  PrintError(DescribeFailure(outcome, session.connection->address()));
  return ExitCodeFor(outcome);
}

template <typename Request, typename Reply>
using UnaryMethod = grpc::Status (v1::Admin::Stub::*)(grpc::ClientContext*, const Request&, Reply*);

// One unary call with the --timeout deadline; on failure the two lines are printed and the
// exit code returned.
template <typename Request, typename Reply>
int CallUnary(const Session& session, UnaryMethod<Request, Reply> method, const Request& request,
              Reply* reply) {
  std::unique_ptr<grpc::ClientContext> context = session.connection->NewContext(/*unary=*/true);
  grpc::Status status = (session.connection->admin().*method)(context.get(), request, reply);
  if (status.ok()) return kExitOk;
  return Fail(session, session.connection->Outcome(status, *context, /*replied=*/false));
}

int PrintReply(const Session& session, const google::protobuf::Message& reply,
               const std::string& human) {
  if (!session.json) {
    Print(human);
    return kExitOk;
  }
  absl::StatusOr<std::string> json = ToJson(reply, JsonStyle::kPretty);
  if (!json.ok()) {
    PrintError(absl::StrCat("droverctl: ", json.status().message(), "\n"));
    return kExitFailed;
  }
  Print(*json);
  return kExitOk;
}

// ---- status --watch ----

volatile std::sig_atomic_t interrupt_newline = 0;

// Ctrl-C is how a watch ends, so it is a success. Only async-signal-safe calls here.
extern "C" void ExitOnInterrupt(int /*signal*/) {
  if (interrupt_newline != 0) {
    ssize_t ignored = write(STDOUT_FILENO, "\n", 1);
    (void)ignored;
  }
  _exit(kExitOk);
}

// Cursor home, each line cleared to its end, then the rest of the screen: redraws in place
// without the flicker of clearing first.
std::string RedrawInPlace(std::string_view frame) {
  if (!frame.empty() && frame.back() == '\n') frame.remove_suffix(1);
  std::string out = "\x1b[H";
  for (absl::string_view line : absl::StrSplit(AsAbsl(frame), '\n')) {
    absl::StrAppend(&out, line, "\x1b[K\n");
  }
  absl::StrAppend(&out, "\x1b[J");
  return out;
}

std::string WatchHeader(const Session& session, const WatchOptions& watch) {
  std::string ns =
      session.namespace_name.empty() ? "" : absl::StrCat(" -n ", session.namespace_name);
  return absl::StrCat("Every ", absl::FormatDuration(watch.interval), ": droverctl status", ns,
                      " on ", session.connection->address(), "    ",
                      absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone()),
                      "    (Ctrl-C to stop)\n\n");
}

int WatchStatus(const Session& session, const WatchOptions& watch,
                const v1::GetStatusRequest& request) {
  const bool tty = isatty(STDOUT_FILENO) != 0 && !session.json;
  interrupt_newline = tty ? 1 : 0;
  struct sigaction action = {};
  action.sa_handler = ExitOnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);

  bool shown_one = false;
  for (int64_t n = 0; watch.count == 0 || n < watch.count; ++n) {
    absl::Time started = absl::Now();
    v1::StatusReply reply;
    std::unique_ptr<grpc::ClientContext> context = session.connection->NewContext(true);
    grpc::Status status = session.connection->admin().GetStatus(context.get(), request, &reply);
    std::string frame;
    if (status.ok()) {
      if (session.json) {
        absl::StatusOr<std::string> json = ToJson(reply, JsonStyle::kLine);
        frame = json.ok() ? *json : "";
      } else {
        frame = RenderStatus(reply);
      }
    } else {
      CallOutcome outcome = session.connection->Outcome(status, *context, false);
      // The first refresh fails like a plain `status` would: nothing was ever shown.
      if (!shown_one) return Fail(session, outcome);
      std::string failure = DescribeFailure(outcome, session.connection->address());
      if (!tty) {
        PrintError(failure);
      } else {
        frame = failure;
      }
    }
    if (session.json) {
      Print(frame);
    } else if (tty) {
      if (!shown_one) Print("\x1b[H\x1b[2J");
      Print(RedrawInPlace(absl::StrCat(WatchHeader(session, watch), frame)));
    } else if (!frame.empty()) {
      Print(absl::StrCat(shown_one ? "\n" : "", frame));
    }
    shown_one = true;
    if (watch.count != 0 && n + 1 >= watch.count) break;
    absl::SleepFor(watch.interval - (absl::Now() - started));
  }
  return kExitOk;
}

}  // namespace

int RunStatus(const Session& session, const WatchOptions& watch) {
  v1::GetStatusRequest request;
  request.set_namespace_(session.namespace_name);
  if (watch.watch) return WatchStatus(session, watch, request);
  v1::StatusReply reply;
  int code = CallUnary(session, &v1::Admin::Stub::GetStatus, request, &reply);
  if (code != kExitOk) return code;
  return PrintReply(session, reply, session.json ? "" : RenderStatus(reply));
}

int RunMembers(const Session& session, const std::string& group) {
  v1::ListMembersRequest request;
  request.set_namespace_(session.namespace_name);
  request.set_group(group);
  v1::ListMembersReply reply;
  int code = CallUnary(session, &v1::Admin::Stub::ListMembers, request, &reply);
  if (code != kExitOk) return code;
  return PrintReply(session, reply, session.json ? "" : RenderMembers(reply));
}

int RunScale(const Session& session, const Workload& workload, std::optional<int32_t> replicas) {
  v1::ScaleReply reply;
  int code;
  if (replicas.has_value()) {
    v1::ScaleRequest request;
    request.set_namespace_(session.namespace_name);
    request.set_kind(workload.kind);
    request.set_name(workload.name);
    request.set_replicas(*replicas);
    code = CallUnary(session, &v1::Admin::Stub::Scale, request, &reply);
  } else {
    v1::GetScaleRequest request;
    request.set_namespace_(session.namespace_name);
    request.set_kind(workload.kind);
    request.set_name(workload.name);
    code = CallUnary(session, &v1::Admin::Stub::GetScale, request, &reply);
  }
  if (code != kExitOk) return code;
  if (session.json) return PrintReply(session, reply, "");
  return PrintReply(
      session, reply,
      replicas.has_value() ? absl::StrCat(ScaledLine(reply), "\n") : RenderScale(reply));
}

int RunDrain(const Session& session, const std::string& member, bool drain) {
  v1::DrainRequest request;
  request.set_namespace_(session.namespace_name);
  request.set_member(member);
  v1::DrainReply reply;
  int code = CallUnary(session, drain ? &v1::Admin::Stub::Drain : &v1::Admin::Stub::Undrain,
                       request, &reply);
  if (code != kExitOk) return code;
  return PrintReply(session, reply, absl::StrCat(DrainLine(reply, drain), "\n"));
}

int RunRestart(const Session& session, const RestartTarget& target) {
  v1::RestartWorkersRequest request;
  request.set_namespace_(session.namespace_name);
  request.set_member(target.member);
  request.set_all(target.all);
  request.set_member_timeout_seconds(static_cast<uint32_t>(
      absl::ToInt64Seconds(absl::Ceil(target.member_timeout, absl::Seconds(1)))));
  // No deadline: a rollout over many members takes as long as it takes, and each member's
  // reload is bounded by the controller (member_timeout_seconds).
  std::unique_ptr<grpc::ClientContext> context = session.connection->NewContext(false);
  std::unique_ptr<grpc::ClientReader<v1::RestartProgress>> reader =
      session.connection->admin().RestartWorkers(context.get(), request);

  v1::RestartProgress progress;
  bool replied = false;
  std::string last_line;
  uint32_t members_total = 0;
  // The last phase each member reported, in the order members first appeared.
  std::map<std::string, v1::ReloadProgress::Phase> phases;
  std::vector<std::string> order;
  while (reader->Read(&progress)) {
    replied = true;
    members_total = std::max(members_total, progress.members_total());
    if (phases.emplace(progress.member(), progress.reload().phase()).second) {
      order.push_back(progress.member());
    } else {
      phases[progress.member()] = progress.reload().phase();
    }
    if (session.json) {
      absl::StatusOr<std::string> json = ToJson(progress, JsonStyle::kLine);
      if (json.ok()) Print(*json);
      continue;
    }
    // Reports repeat while nothing changes; a person wants each step once.
    std::string line = ProgressLine(progress);
    if (line != last_line) Print(absl::StrCat(line, "\n"));
    last_line = std::move(line);
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Fail(session, session.connection->Outcome(status, *context, replied));

  std::vector<std::string> failed;
  for (const std::string& member : order) {
    if (phases[member] == v1::ReloadProgress::FAILED) failed.push_back(member);
  }
  if (!failed.empty()) {
    PrintError(absl::StrCat("droverctl: the reload failed on ", absl::StrJoin(failed, ", "),
                            "; their old workers keep serving\n",
                            "droverctl: see each sidecar's log (kubectl logs POD -n NAMESPACE)\n"));
    return kExitFailed;
  }
  if (!session.json && target.all) {
    size_t total = std::max<size_t>(members_total, order.size());
    Print(total == 0
              ? "No members to restart.\n"
              : absl::StrCat("restart: ", order.size(), " of ", total, " members reloaded\n"));
  }
  return kExitOk;
}

}  // namespace drover::ctl
