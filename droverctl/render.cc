#include "droverctl/render.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "droverctl/table.h"
#include "droverctl/workload.h"
#include "google/protobuf/util/json_util.h"

namespace drover::ctl {

namespace {

// kubectl's spelling of "nothing here".
constexpr char kNone[] = "<none>";
// A figure the member's sidecar would report, while none is connected.
constexpr char kUnknown[] = "-";

std::string YesNo(bool value) { return value ? "yes" : "no"; }

std::string OrDash(const std::string& text) { return text.empty() ? kUnknown : text; }

std::string Workers(const v1::MemberStatus& member) {
  if (!member.connected()) return kUnknown;
  return absl::StrCat(member.workers_ready(), "/", member.workers_total());
}

std::string MembersTableStatus(const v1::StatusReply& reply) {
  if (reply.members().empty()) {
    return absl::StrCat("No members in namespace ", reply.namespace_(), ".\n");
  }
  Table table({"MEMBER", "GROUP", "STATE", "WORKERS", "RSS", "INFLIGHT", "REQUESTS", "RESTARTS",
               "VERSION", "CONTROLLER"});
  for (const v1::MemberStatus& m : reply.members()) {
    bool up = m.connected();
    table.AddRow(
        {m.id(), OrDash(m.group()), MemberState(m), Workers(m),
         up ? HumanBytes(m.rss_bytes()) : kUnknown,
         up ? absl::StrCat(m.outstanding_requests()) : kUnknown,
         up ? HumanCount(m.requests_total()) : kUnknown, up ? absl::StrCat(m.restarts()) : kUnknown,
         up ? ShortVersion(m.applied_version()) : kUnknown, up ? OrDash(m.controller()) : kNone});
  }
  return table.Render();
}

std::string GroupsTable(const v1::StatusReply& reply) {
  Table table({"GROUP", "VERSION", "MEMBERS", "AT-VERSION"});
  for (const v1::GroupStatus& g : reply.groups()) {
    table.AddRow({OrDash(g.group()), ShortVersion(g.version()), absl::StrCat(g.members()),
                  absl::StrCat(g.sidecars_at_version(), "/", g.members())});
  }
  return table.Render();
}

std::string ReplicasTable(const v1::StatusReply& reply) {
  Table table({"REPLICA", "ADDRESS", "SYNCED", "WATCHING", "SUBSCRIBERS", "ERROR"});
  for (const v1::ReplicaStatus& r : reply.replicas()) {
    if (!r.reachable()) {
      // Its part of the status is missing: say so rather than show zeros.
      table.AddRow({OrDash(r.name()), OrDash(r.address()), "?", "?", "?",
                    absl::StrCat("unreachable: ", OrDash(r.error()))});
      continue;
    }
    std::string error = !r.error().empty() ? r.error() : r.last_watch_error();
    table.AddRow({OrDash(r.name()), OrDash(r.address()), YesNo(r.synced()), YesNo(r.watching()),
                  absl::StrCat(r.subscribers()), error.empty() ? kNone : error});
  }
  return table.Render();
}

std::string ExcludedTable(const v1::StatusReply& reply) {
  Table table({"EXCLUDED", "REASON"});
  for (const std::string& entry : reply.excluded()) {
    // Entries read "pod: reason".
    size_t colon = entry.find(": ");
    if (colon == std::string::npos) {
      table.AddRow({entry, ""});
    } else {
      table.AddRow({entry.substr(0, colon), entry.substr(colon + 2)});
    }
  }
  return table.Render();
}

}  // namespace

std::string MemberState(const v1::MemberStatus& member) {
  std::string state;
  if (member.drain_annotation()) {
    state = "DRAINED";
  } else if (member.state() == v1::Member::READY) {
    state = "READY";
  } else if (member.state() == v1::Member::DRAINING) {
    state = "DRAINING";
  } else {
    state = "UNKNOWN";
  }
  if (member.has_reload() && member.reload().phase() == v1::ReloadProgress::RUNNING) {
    absl::StrAppend(&state, ",RELOADING");
  }
  return state;
}

std::string RenderStatus(const v1::StatusReply& reply) {
  std::string out = MembersTableStatus(reply);
  if (!reply.groups().empty()) absl::StrAppend(&out, "\n", GroupsTable(reply));
  if (!reply.replicas().empty()) absl::StrAppend(&out, "\n", ReplicasTable(reply));
  if (!reply.excluded().empty()) absl::StrAppend(&out, "\n", ExcludedTable(reply));
  return out;
}

std::string RenderMembers(const v1::ListMembersReply& reply) {
  if (reply.members().empty()) return "No members found.\n";
  Table table({"MEMBER", "GROUP", "STATE", "ADDRESS", "SLOTS", "WORKERS", "VERSION", "CONTROLLER"});
  for (const v1::MemberStatus& m : reply.members()) {
    table.AddRow({m.id(), OrDash(m.group()), MemberState(m), OrDash(m.address()),
                  absl::StrCat(m.slots()), Workers(m),
                  m.connected() ? ShortVersion(m.applied_version()) : kUnknown,
                  m.connected() ? OrDash(m.controller()) : kNone});
  }
  return table.Render();
}

std::string RenderScale(const v1::ScaleReply& reply) {
  Table table({"NAME", "DESIRED", "CURRENT", "SELECTOR"});
  table.AddRow({ResourceName(reply.kind(), reply.name()), absl::StrCat(reply.replicas()),
                absl::StrCat(reply.ready_replicas()), OrDash(reply.selector())});
  return table.Render();
}

std::string ScaledLine(const v1::ScaleReply& reply) {
  return absl::StrCat(ResourceName(reply.kind(), reply.name()), " scaled to ", reply.replicas());
}

std::string DrainLine(const v1::DrainReply& reply, bool drain) {
  return absl::StrCat("member ", reply.member(), reply.changed() ? " " : " already ",
                      drain ? "drained" : "undrained");
}

std::string ProgressLine(const v1::RestartProgress& progress) {
  const v1::ReloadProgress& reload = progress.reload();
  std::string prefix = absl::StrCat(progress.member(), ": ");
  switch (reload.phase()) {
    case v1::ReloadProgress::RUNNING:
      return absl::StrCat(prefix, reload.slots_done(), "/", reload.slots_total(),
                          " slots reloaded");
    case v1::ReloadProgress::SUCCEEDED:
      return absl::StrCat(prefix, "reloaded (", reload.slots_done(), "/", reload.slots_total(),
                          ")");
    case v1::ReloadProgress::FAILED:
      return absl::StrCat(
          prefix, "FAILED: ", reload.error().empty() ? "the reload failed" : reload.error());
    default:
      return absl::StrCat(prefix, "reload requested");
  }
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.add_whitespace = style == JsonStyle::kPretty;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("JSON encoding: ", status.ToString()));
  }
  while (!json.empty() && (json.back() == '\n' || json.back() == ' ')) json.pop_back();
  json += '\n';
  return json;
}

}  // namespace drover::ctl
