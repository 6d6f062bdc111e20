// The sidecar's controller client against the real Membership service, in process: tables
// arrive as snapshots and deltas, refused tables are NACKed and the previous one stays, the
// client fails over between controllers and resumes from the version it holds.
#include "sidecar/membership/controller_source.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/membership_version.h"
#include "controller/push/membership_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace drover::membership {
namespace {

members::MemberEntry Entry(std::string id, int octet, uint32_t slots = 2, bool draining = false) {
  return {.id = std::move(id),
          .address = absl::StrCat("127.0.0.", octet, ":8081"),
          .slots = slots,
          .draining = draining,
          .group = "web"};
}

members::Membership MembershipOf(const std::vector<members::MemberEntry>& entries) {
  members::Membership m;
  for (const members::MemberEntry& e : entries) m.pod_groups[absl::StrCat("shop/", e.id)] = "web";
  m.groups["web"] = members::MakeGroupTable("web", entries);
  return m;
}

// One controller replica on 127.0.0.1:0.
struct Controller {
  explicit Controller(int port = 0) {
    service = std::make_unique<push::MembershipService>(
        push::MembershipServiceOptions{.namespace_name = "shop"}, nullptr);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &bound);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
  }
  ~Controller() { Stop(); }
  void Stop() {
    if (server == nullptr) return;
    service->Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    server.reset();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", bound); }

  std::unique_ptr<push::MembershipService> service;
  std::unique_ptr<grpc::Server> server;
  int bound = 0;
};

// What the sidecar's apply path sees.
class Applied {
 public:
  absl::Status Apply(std::shared_ptr<const sticky::MemberTable> table) {
    absl::MutexLock lock(&mu_);
    if (refuse_ids_ > 0 && table->members().size() >= static_cast<size_t>(refuse_ids_)) {
      return absl::FailedPreconditionError("this test refuses tables that large");
    }
    tables_.push_back(std::move(table));
    return absl::OkStatus();
  }
  std::string Version() {
    absl::MutexLock lock(&mu_);
    return tables_.empty() ? "" : VersionHex(tables_.back()->version());
  }
  std::shared_ptr<const sticky::MemberTable> Last() {
    absl::MutexLock lock(&mu_);
    return tables_.empty() ? nullptr : tables_.back();
  }
  void RefuseTablesOf(int n) {
    absl::MutexLock lock(&mu_);
    refuse_ids_ = n;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::shared_ptr<const sticky::MemberTable>> tables_;
  int refuse_ids_ = 0;
};

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return condition();
}

std::unique_ptr<ControllerSource> StartSource(const std::vector<std::string>& controllers,
                                              Applied& applied, prometheus::Registry& registry) {
  auto source = std::make_unique<ControllerSource>(
      ControllerSourceOptions{.controllers = controllers,
                              .pod_name = "a",
                              .namespace_name = "shop",
                              .pod_ip = "127.0.0.1",
                              .peer_port = 8081,
                              .worker_slots = 2,
                              .backoff_initial = absl::Milliseconds(20),
                              .backoff_max = absl::Milliseconds(200)});
  SourceContext context;
  context.apply = [&applied](std::shared_ptr<const sticky::MemberTable> t) {
    return applied.Apply(std::move(t));
  };
  context.registry = &registry;
  EXPECT_TRUE(source->Start(std::move(context)).ok());
  return source;
}

// Snapshots and deltas build the table the controller meant, version for version.
TEST(ControllerSource, AppliesSnapshotsAndDeltas) {
  Controller controller;
  prometheus::Registry registry;
  Applied applied;
  controller.service->Publish(MembershipOf({Entry("a", 2), Entry("b", 3)}));
  auto source = StartSource({controller.address()}, applied, registry);
  std::string v1 = controller.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v1; }));

  controller.service->Publish(MembershipOf({Entry("a", 2), Entry("b", 3, 2, true), Entry("c", 4)}));
  std::string v2 = controller.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v2; }));
  std::shared_ptr<const sticky::MemberTable> table = applied.Last();
  ASSERT_EQ(table->members().size(), 3u);
  const sticky::Member* b = table->FindById("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->state, sticky::MemberState::kDraining);
  EXPECT_EQ(b->peer_address.ToString(), "127.0.0.3:8081");
  source->Stop();
}

// A table the sidecar refuses is NACKed with the reason; the previous table stays, and the
// next acceptable version is applied.
TEST(ControllerSource, RefusedTableIsNackedAndTheOldOneStays) {
  Controller controller;
  prometheus::Registry registry;
  Applied applied;
  controller.service->Publish(MembershipOf({Entry("a", 2), Entry("b", 3)}));
  auto source = StartSource({controller.address()}, applied, registry);
  std::string v1 = controller.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v1; }));

  applied.RefuseTablesOf(3);
  controller.service->Publish(MembershipOf({Entry("a", 2), Entry("b", 3), Entry("c", 4)}));
  ASSERT_TRUE(WaitUntil([&] {
    std::optional<push::SubscriberInfo> info = controller.service->FindSubscriber("shop/a");
    return info && info->nacks == 1;
  }));
  EXPECT_EQ(controller.service->FindSubscriber("shop/a")->last_error,
            "this test refuses tables that large");
  EXPECT_EQ(applied.Version(), v1);

  controller.service->Publish(MembershipOf({Entry("a", 2), Entry("c", 4)}));
  std::string v3 = controller.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v3; }));
  source->Stop();
}

// The client fails over to the next controller when its stream breaks, and resumes from the
// version it holds.
TEST(ControllerSource, FailsOverBetweenControllers) {
  auto first = std::make_unique<Controller>();
  Controller second;
  prometheus::Registry registry;
  Applied applied;
  members::Membership m1 = MembershipOf({Entry("a", 2), Entry("b", 3)});
  first->service->Publish(m1);
  second.service->Publish(m1);
  auto source = StartSource({first->address(), second.address()}, applied, registry);
  std::string v1 = second.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v1; }));
  ASSERT_TRUE(WaitUntil([&] { return first->service->subscriber_count() == 1; }));

  first->Stop();
  ASSERT_TRUE(WaitUntil([&] { return second.service->subscriber_count() == 1; }));
  // It said which version it holds: the second replica has nothing to send until a change.
  members::Membership m2 = MembershipOf({Entry("a", 2), Entry("b", 3), Entry("d", 5)});
  second.service->Publish(m2);
  std::string v2 = second.service->LatestTables().at("web")->version_hex;
  ASSERT_TRUE(WaitUntil([&] { return applied.Version() == v2; }));
  // The ACK follows the apply: wait for the controller to have it.
  EXPECT_TRUE(WaitUntil([&] {
    std::optional<push::SubscriberInfo> info = second.service->FindSubscriber("shop/a");
    return info && info->applied_version == v2;
  }));
  source->Stop();
}

// --controller lists: HOST:PORT entries, each with a port.
TEST(ParseControllerList, Forms) {
  EXPECT_EQ(*ParseControllerList("a:7000, b.svc:7001"),
            (std::vector<std::string>{"a:7000", "b.svc:7001"}));
  EXPECT_FALSE(ParseControllerList("").ok());
  EXPECT_FALSE(ParseControllerList("nohost").ok());
  EXPECT_FALSE(ParseControllerList("a:0").ok());
  EXPECT_FALSE(ParseControllerList(":7000").ok());
}

}  // namespace
}  // namespace drover::membership
