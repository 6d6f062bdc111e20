#include "controller/push/membership_service.h"

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/membership_version.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace drover::push {
namespace {

using drover::v1::SubscribeRequest;
using drover::v1::SubscribeResponse;

members::Membership MembershipOf(const std::vector<members::MemberEntry>& entries) {
  members::Membership m;
  std::map<std::string, std::vector<members::MemberEntry>> by_group;
  for (const members::MemberEntry& e : entries) {
    by_group[e.group].push_back(e);
    m.pod_groups[absl::StrCat("shop/", e.id)] = e.group;
  }
  for (auto& [group, list] : by_group) m.groups[group] = members::MakeGroupTable(group, list);
  return m;
}

members::MemberEntry Entry(std::string id, int octet, bool draining = false,
                           std::string group = "web") {
  return {.id = std::move(id),
          .address = absl::StrCat("10.0.0.", octet, ":8081"),
          .slots = 2,
          .draining = draining,
          .group = std::move(group)};
}

// What a sidecar does with updates: applies snapshots and deltas, and checks the result's
// version against the one the controller announced.
struct TableApplier {
  std::map<std::string, drover::v1::Member> members;
  std::string version;

  // Returns "" when applied, else the error a sidecar would NACK with.
  std::string Apply(const drover::v1::Update& update) {
    std::map<std::string, drover::v1::Member> next;
    if (!update.full()) {
      if (update.base_version() != version) return "base mismatch";
      next = members;
    }
    for (const drover::v1::Member& m : update.members()) next[m.id()] = m;
    for (const std::string& id : update.removed()) next.erase(id);
    std::vector<MemberRecord> records;
    for (const auto& [id, m] : next) {
      records.push_back({id, m.address(), m.slots(), m.state() == drover::v1::Member::DRAINING});
    }
    if (VersionHex(MembershipVersion(records)) != update.version()) return "version mismatch";
    members = std::move(next);
    version = update.version();
    return "";
  }
};

class MembershipServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_ = std::make_unique<PushMetrics>(registry_);
    service_ = std::make_unique<MembershipService>(
        MembershipServiceOptions{.namespace_name = "shop", .history_capacity = 8}, metrics_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
    stub_ = drover::v1::Membership::NewStub(channel_);
  }
  void TearDown() override {
    service_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  struct Stream {
    std::unique_ptr<grpc::ClientContext> context = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<grpc::ClientReaderWriter<SubscribeRequest, SubscribeResponse>> rw;
  };

  Stream Open(const std::string& pod, const std::string& applied = "",
              const std::string& ns = "shop") {
    Stream s;
    s.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    s.rw = stub_->Subscribe(s.context.get());
    SubscribeRequest hello;
    hello.mutable_hello()->set_pod_name(pod);
    hello.mutable_hello()->set_namespace_(ns);
    hello.mutable_hello()->set_worker_slots(2);
    hello.mutable_hello()->set_applied_version(applied);
    EXPECT_TRUE(s.rw->Write(hello));
    return s;
  }

  static drover::v1::Update ReadUpdate(Stream& s) {
    SubscribeResponse response;
    EXPECT_TRUE(s.rw->Read(&response));
    EXPECT_TRUE(response.has_update());
    return response.update();
  }

  static void Ack(Stream& s, const drover::v1::Update& u) {
    SubscribeRequest ack;
    ack.mutable_ack()->set_nonce(u.nonce());
    ack.mutable_ack()->set_version(u.version());
    EXPECT_TRUE(s.rw->Write(ack));
  }

  prometheus::Registry registry_;
  std::unique_ptr<PushMetrics> metrics_;
  std::unique_ptr<MembershipService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<drover::v1::Membership::Stub> stub_;
  int port_ = 0;
};

// A new sidecar gets its group's full table; the next change comes as a delta that applies.
TEST_F(MembershipServiceTest, SnapshotThenDelta) {
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2), Entry("x", 9, false, "api")}));
  Stream s = Open("a");
  TableApplier table;
  drover::v1::Update first = ReadUpdate(s);
  EXPECT_TRUE(first.full());
  EXPECT_EQ(first.group(), "web");
  EXPECT_EQ(first.members_size(), 2);  // not the api group's member
  ASSERT_EQ(table.Apply(first), "");
  Ack(s, first);

  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2, true), Entry("c", 3)}));
  drover::v1::Update second = ReadUpdate(s);
  EXPECT_FALSE(second.full());
  EXPECT_EQ(second.base_version(), first.version());
  EXPECT_EQ(second.members_size(), 2);  // b changed, c added
  ASSERT_EQ(table.Apply(second), "");
  EXPECT_EQ(table.members.at("b").state(), drover::v1::Member::DRAINING);
  s.rw->WritesDone();
}

// A sidecar reconnecting with a version the controller still holds gets a delta from it; one
// with an unknown version gets the whole table.
TEST_F(MembershipServiceTest, ReconnectGetsDeltaFromHeldVersion) {
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2)}));
  std::string old_version = service_->LatestTables().at("web")->version_hex;
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2), Entry("c", 3)}));

  Stream s = Open("a", old_version);
  drover::v1::Update u = ReadUpdate(s);
  EXPECT_FALSE(u.full());
  EXPECT_EQ(u.base_version(), old_version);
  EXPECT_EQ(u.members_size(), 1);

  Stream t = Open("b", "0123456789abcdef");
  EXPECT_TRUE(ReadUpdate(t).full());
  s.rw->WritesDone();
  t.rw->WritesDone();
}

// A NACKed version is counted and not sent again; the next version comes as a delta from the
// version the sidecar says it kept.
TEST_F(MembershipServiceTest, NackedVersionIsNotResent) {
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2)}));
  Stream s = Open("a");
  TableApplier table;
  drover::v1::Update first = ReadUpdate(s);
  ASSERT_EQ(table.Apply(first), "");
  Ack(s, first);

  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2), Entry("c", 3)}));
  drover::v1::Update refused = ReadUpdate(s);
  SubscribeRequest nack;
  nack.mutable_nack()->set_nonce(refused.nonce());
  nack.mutable_nack()->set_version(refused.version());
  nack.mutable_nack()->set_error("slot count 3 for this member, it runs 2");
  nack.mutable_nack()->set_applied_version(first.version());
  ASSERT_TRUE(s.rw->Write(nack));
  // Publishing the same state again must not resend the refused version.
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2), Entry("c", 3)}));
  service_->Publish(MembershipOf({Entry("a", 1), Entry("b", 2), Entry("d", 4)}));
  drover::v1::Update next = ReadUpdate(s);
  EXPECT_NE(next.version(), refused.version());
  EXPECT_EQ(next.base_version(), first.version());
  EXPECT_EQ(table.Apply(next), "");
  bool saw_nack = false;
  for (const SubscriberInfo& info : service_->Subscribers()) {
    if (info.pod == "shop/a") {
      saw_nack = info.nacks == 1 && info.last_error.find("slot count") != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_nack);
  s.rw->WritesDone();
}

// Many versions published while a sidecar takes its time: it is never sent more than one
// update ahead of its answers, ends on the latest, and every update applies in order.
TEST_F(MembershipServiceTest, BurstEndsOnLatest) {
  service_->Publish(MembershipOf({Entry("a", 1)}));
  Stream s = Open("a");
  TableApplier table;
  drover::v1::Update u = ReadUpdate(s);
  ASSERT_EQ(table.Apply(u), "");
  Ack(s, u);
  std::vector<members::MemberEntry> entries = {Entry("a", 1)};
  for (int i = 2; i < 40; ++i) {
    entries.push_back(Entry(absl::StrCat("m", i), i));
    service_->Publish(MembershipOf(entries));
  }
  std::string latest = service_->LatestTables().at("web")->version_hex;
  for (int reads = 0; table.version != latest && reads < 40; ++reads) {
    drover::v1::Update next = ReadUpdate(s);
    ASSERT_EQ(table.Apply(next), "") << reads;
    Ack(s, next);
  }
  EXPECT_EQ(table.version, latest);
  EXPECT_EQ(table.members.size(), 39u);
  s.rw->WritesDone();
}

// A sidecar whose pod the controller has not seen yet waits; it gets the table once it shows.
TEST_F(MembershipServiceTest, UnknownPodWaitsForItsGroup) {
  service_->Publish(MembershipOf({Entry("a", 1)}));
  Stream s = Open("late");
  service_->Publish(MembershipOf({Entry("a", 1), Entry("late", 2)}));
  drover::v1::Update u = ReadUpdate(s);
  EXPECT_TRUE(u.full());
  EXPECT_EQ(u.members_size(), 2);
  s.rw->WritesDone();
}

// Protocol errors end the stream with a status that says what is wrong.
TEST_F(MembershipServiceTest, BadStreamsAreRefused) {
  service_->Publish(MembershipOf({Entry("a", 1)}));
  {
    Stream s = Open("a", "", "other");
    SubscribeResponse r;
    EXPECT_FALSE(s.rw->Read(&r));
    grpc::Status status = s.rw->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("namespace"));
  }
  {
    grpc::ClientContext context;
    auto rw = stub_->Subscribe(&context);
    SubscribeRequest ack;
    ack.mutable_ack()->set_nonce("1");
    ASSERT_TRUE(rw->Write(ack));
    SubscribeResponse r;
    EXPECT_FALSE(rw->Read(&r));
    EXPECT_EQ(rw->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// A reload command reaches the named sidecar's stream; a pod without a stream here is refused.
TEST_F(MembershipServiceTest, ReloadCommandReachesTheSidecar) {
  service_->Publish(MembershipOf({Entry("a", 1)}));
  Stream s = Open("a");
  drover::v1::Update u = ReadUpdate(s);
  Ack(s, u);
  // The stream is registered once its hello is handled; wait for that with a deadline.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!service_->FindSubscriber("shop/a") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(service_->SendReload("shop/a", "cmd-1").ok());
  SubscribeResponse r;
  ASSERT_TRUE(s.rw->Read(&r));
  ASSERT_TRUE(r.has_command());
  EXPECT_EQ(r.command().id(), "cmd-1");
  EXPECT_TRUE(r.command().has_reload_workers());
  EXPECT_EQ(service_->SendReload("shop/nobody", "cmd-2").code(),
            absl::StatusCode::kFailedPrecondition);
  s.rw->WritesDone();
}

class AuthenticatedServiceTest : public MembershipServiceTest {
 protected:
  void SetUp() override {
    std::string path = ::testing::TempDir() + "/sidecar-token";
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("s3cret\n", f);
    std::fclose(f);
    token_ = *TokenFile::Open(path);
    metrics_ = std::make_unique<PushMetrics>(registry_);
    service_ = std::make_unique<MembershipService>(
        MembershipServiceOptions{
            .namespace_name = "shop", .sidecar_token = token_.get(), .verify_peer_ip = true},
        metrics_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
    stub_ = drover::v1::Membership::NewStub(channel_);
  }

  grpc::Status OpenAndFinish(const std::string& pod, const std::string& token) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    auto rw = stub_->Subscribe(&context);
    SubscribeRequest hello;
    hello.mutable_hello()->set_pod_name(pod);
    hello.mutable_hello()->set_namespace_("shop");
    hello.mutable_hello()->set_worker_slots(2);
    rw->Write(hello);
    SubscribeResponse r;
    if (rw->Read(&r)) {
      context.TryCancel();
      return grpc::Status::OK;
    }
    return rw->Finish();
  }

  std::unique_ptr<TokenFile> token_;
};

// Without the sidecar token, or with a wrong one, Subscribe is refused before any table.
TEST_F(AuthenticatedServiceTest, TokenRequired) {
  members::Membership m = MembershipOf({Entry("a", 1)});
  m.pod_ips["shop/a"] = "127.0.0.1";
  service_->Publish(m);
  EXPECT_EQ(OpenAndFinish("a", "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(OpenAndFinish("a", "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(OpenAndFinish("a", "s3cret").ok());
}

// With --verify-peer-ip a hello must name a watched pod whose IP the stream comes from.
TEST_F(AuthenticatedServiceTest, HelloMustComeFromThePodsIp) {
  members::Membership m = MembershipOf({Entry("a", 1), Entry("b", 2)});
  m.pod_ips["shop/a"] = "127.0.0.1";
  m.pod_ips["shop/b"] = "10.0.0.2";
  service_->Publish(m);
  EXPECT_TRUE(OpenAndFinish("a", "s3cret").ok());
  grpc::Status foreign = OpenAndFinish("b", "s3cret");
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(foreign.error_message(), ::testing::HasSubstr("10.0.0.2"));
  EXPECT_EQ(OpenAndFinish("ghost", "s3cret").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace drover::push
