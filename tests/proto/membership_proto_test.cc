// The wire contract round-trips: binary (what gRPC sends) and protobuf's JSON mapping (what
// droverctl --json prints). Versions are strings so that 64 bits survive JSON.
#include <string>

#include "drover/v1/admin.pb.h"
#include "drover/v1/membership.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace drover::v1 {
namespace {

Update SampleUpdate() {
  Update update;
  update.set_version("ffffffffffffffff");
  update.set_nonce("1a");
  update.set_base_version("0000000000000001");
  update.set_group("web");
  Member* m = update.add_members();
  m->set_id("web-7d9f-abcde");
  m->set_address("[fd00::5]:8081");
  m->set_slots(4);
  m->set_state(Member::DRAINING);
  update.add_removed("web-gone");
  return update;
}

// Binary round trip of an update, a hello and a report.
TEST(MembershipProto, BinaryRoundTrip) {
  SubscribeResponse response;
  *response.mutable_update() = SampleUpdate();
  SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(response, parsed));

  SubscribeRequest request;
  Report* report = request.mutable_report();
  WorkerSlotReport* slot = report->add_slots();
  slot->set_slot(3);
  slot->set_state(WorkerSlotReport::BACKOFF);
  slot->set_rss_bytes(uint64_t{1} << 40);
  report->mutable_reload()->set_command_id("c1");
  report->mutable_reload()->set_phase(ReloadProgress::RUNNING);
  SubscribeRequest parsed_request;
  ASSERT_TRUE(parsed_request.ParseFromString(request.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(request, parsed_request));
}

// Through JSON, the 16-hex-digit version comes back exactly (a uint64 would be a string in
// proto3 JSON, and a float in many JSON readers).
TEST(MembershipProto, JsonRoundTripKeepsVersions) {
  Update update = SampleUpdate();
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(update, &json).ok());
  EXPECT_NE(json.find("\"version\":\"ffffffffffffffff\""), std::string::npos) << json;
  Update back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(update, back));
}

// The admin status reply embeds membership types and round-trips too.
TEST(AdminProto, StatusRoundTrip) {
  StatusReply reply;
  reply.set_namespace_("shop");
  MemberStatus* m = reply.add_members();
  m->set_id("web-a");
  m->set_state(Member::READY);
  m->mutable_reload()->set_phase(ReloadProgress::SUCCEEDED);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(reply, &json).ok());
  StatusReply back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(reply, back));
}

}  // namespace
}  // namespace drover::v1
