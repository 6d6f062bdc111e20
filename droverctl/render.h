// What droverctl prints for each reply: aligned tables and kubectl-style sentences for people,
// protobuf's JSON mapping for scripts. Pure functions of the replies, so tests need no server.
//
//   std::fputs(RenderStatus(reply).c_str(), stdout);
//   absl::StatusOr<std::string> json = ToJson(reply, JsonStyle::kPretty);
#ifndef DROVER_DROVERCTL_RENDER_H_
#define DROVER_DROVERCTL_RENDER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "drover/v1/admin.pb.h"
#include "google/protobuf/message.h"

namespace drover::ctl {

// "READY", "DRAINING", "DRAINED" (drained through the admin API), with ",RELOADING" while
// its sidecar reports a rolling reload.
std::string MemberState(const v1::MemberStatus& member);

// The members table (MEMBER GROUP STATE WORKERS RSS INFLIGHT REQUESTS RESTARTS VERSION
// CONTROLLER), then the groups, the controller replicas and any pods left out, separated by
// blank lines.
std::string RenderStatus(const v1::StatusReply& reply);

// MEMBER GROUP STATE ADDRESS SLOTS WORKERS VERSION CONTROLLER.
std::string RenderMembers(const v1::ListMembersReply& reply);

// NAME DESIRED CURRENT SELECTOR, for `droverctl scale TYPE/NAME` without --replicas.
std::string RenderScale(const v1::ScaleReply& reply);

// "deployment.apps/web scaled to 3".
std::string ScaledLine(const v1::ScaleReply& reply);

// "member web-abc drained", "member web-abc already drained", "... undrained".
std::string DrainLine(const v1::DrainReply& reply, bool drain);

// "web-abc: 1/4 slots reloaded", "web-abc: reloaded (4/4)", "web-def: FAILED: <error>".
std::string ProgressLine(const v1::RestartProgress& progress);

enum class JsonStyle {
  kPretty,  // a whole reply, for a person or jq
  kLine,    // one object per line, for streams (restart progress, status --watch)
};

// Protobuf's JSON mapping (lowerCamelCase names, enums by name, 64-bit integers as strings),
// with every field present even at its default, so scripts need no fallbacks.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonStyle style);

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_RENDER_H_
