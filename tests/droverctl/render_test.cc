#include "droverctl/render.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::ctl {
namespace {

using ::testing::HasSubstr;

v1::MemberStatus Connected(const std::string& id) {
  v1::MemberStatus m;
  m.set_id(id);
  m.set_group("web");
  m.set_state(v1::Member::READY);
  m.set_connected(true);
  m.set_controller("drover-controller-0");
  m.set_applied_version("0123456789abcdef");
  m.set_workers_ready(3);
  m.set_workers_total(4);
  m.set_rss_bytes(312ull << 20);
  return m;
}

TEST(MemberStateTest, DrainedReadyDrainingReloading) {
  v1::MemberStatus m = Connected("a");
  EXPECT_EQ(MemberState(m), "READY");
  m.set_state(v1::Member::DRAINING);
  EXPECT_EQ(MemberState(m), "DRAINING");
  m.set_drain_annotation(true);
  EXPECT_EQ(MemberState(m), "DRAINED");
  m.mutable_reload()->set_phase(v1::ReloadProgress::RUNNING);
  EXPECT_EQ(MemberState(m), "DRAINED,RELOADING");
  m.mutable_reload()->set_phase(v1::ReloadProgress::SUCCEEDED);
  EXPECT_EQ(MemberState(m), "DRAINED");
}

// A member without a connected sidecar shows "-" for what only its sidecar could report.
TEST(RenderStatusTest, MembersTable) {
  v1::StatusReply reply;
  reply.set_namespace_("shop");
  *reply.add_members() = Connected("web-a");
  v1::MemberStatus* gone = reply.add_members();
  gone->set_id("web-b");
  gone->set_group("web");
  gone->set_state(v1::Member::DRAINING);
  EXPECT_EQ(RenderStatus(reply),
            "MEMBER   GROUP   STATE      WORKERS   RSS      INFLIGHT   REQUESTS   RESTARTS   "
            "VERSION    CONTROLLER\n"
            "web-a    web     READY      3/4       312MiB   0          0          0          "
            "01234567   drover-controller-0\n"
            "web-b    web     DRAINING   -         -        -          -          -          -"
            "          <none>\n");
}

TEST(RenderStatusTest, EmptyNamespace) {
  v1::StatusReply reply;
  reply.set_namespace_("shop");
  EXPECT_EQ(RenderStatus(reply), "No members in namespace shop.\n");
}

TEST(RenderLineTest, KubectlSentences) {
  v1::ScaleReply scale;
  scale.set_kind(v1::STATEFULSET);
  scale.set_name("db");
  scale.set_replicas(0);
  EXPECT_EQ(ScaledLine(scale), "statefulset.apps/db scaled to 0");

  v1::DrainReply drain;
  drain.set_member("web-a");
  drain.set_changed(true);
  EXPECT_EQ(DrainLine(drain, true), "member web-a drained");
  EXPECT_EQ(DrainLine(drain, false), "member web-a undrained");
  drain.set_changed(false);
  EXPECT_EQ(DrainLine(drain, true), "member web-a already drained");
}

TEST(RenderLineTest, Progress) {
  v1::RestartProgress p;
  p.set_member("web-abc");
  EXPECT_EQ(ProgressLine(p), "web-abc: reload requested");
  p.mutable_reload()->set_phase(v1::ReloadProgress::RUNNING);
  p.mutable_reload()->set_slots_done(1);
  p.mutable_reload()->set_slots_total(4);
  EXPECT_EQ(ProgressLine(p), "web-abc: 1/4 slots reloaded");
  p.mutable_reload()->set_phase(v1::ReloadProgress::SUCCEEDED);
  p.mutable_reload()->set_slots_done(4);
  EXPECT_EQ(ProgressLine(p), "web-abc: reloaded (4/4)");
  p.mutable_reload()->set_phase(v1::ReloadProgress::FAILED);
  p.mutable_reload()->set_error("slot 2 never became ready");
  EXPECT_EQ(ProgressLine(p), "web-abc: FAILED: slot 2 never became ready");
}

// Protobuf's JSON mapping with defaults present; one line per object for streams.
TEST(ToJsonTest, DefaultsPrintedAndLineStyle) {
  v1::DrainReply drain;
  drain.set_member("web-a");
  absl::StatusOr<std::string> line = ToJson(drain, JsonStyle::kLine);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, "{\"member\":\"web-a\",\"drainAnnotation\":false,\"changed\":false}\n");
  absl::StatusOr<std::string> pretty = ToJson(drain, JsonStyle::kPretty);
  ASSERT_TRUE(pretty.ok());
  EXPECT_THAT(*pretty, HasSubstr("\n"));
  EXPECT_EQ(pretty->back(), '\n');
}

}  // namespace
}  // namespace drover::ctl
