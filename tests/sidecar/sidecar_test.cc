#include "sidecar/sidecar.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/membership/source.h"

namespace drover {
namespace {

using membership::SidecarReport;
using ::testing::HasSubstr;

// Captures the context the sidecar hands its source, so a test can drive it as the controller
// client would.
class FakeSource : public membership::MembershipSource {
 public:
  explicit FakeSource(membership::SourceContext* out) : out_(out) {}
  std::string_view name() const override { return "controller"; }
  absl::Status Start(membership::SourceContext context) override {
    *out_ = std::move(context);
    return absl::OkStatus();
  }
  void Stop() override {}

 private:
  membership::SourceContext* out_;
};

std::shared_ptr<const sticky::MemberTable> Table(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const sticky::MemberTable>> table =
      sticky::MemberTable::Parse(text, "test");
  EXPECT_TRUE(table.ok()) << table.status();
  return *table;
}

SidecarOptions BaseOptions() {
  SidecarOptions options;
  options.proxy.listen = *net::SocketAddress::Parse("127.0.0.1:0");
  options.proxy.threads = 2;
  options.proxy.sticky.member_id = "self";
  options.proxy.sticky.codec =
      std::make_shared<const sticky::CookieCodec>(*sticky::CookieCodec::Create({}));
  options.mode_name = "http";
  return options;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

// A free TCP port on loopback with `count` - 1 free ports after it, for worker slots.
int FreePortRange(int count) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                       getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    close(fd);
    if (!bound) continue;
    int base = ntohs(a.sin_port);
    if (base + count >= 65535) continue;
    bool all_free = true;
    for (int p = base + 1; p < base + count && all_free; ++p) {
      int probe = socket(AF_INET, SOCK_STREAM, 0);
      a.sin_port = htons(static_cast<uint16_t>(p));
      all_free = bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      close(probe);
    }
    if (all_free) return base;
  }
  return 0;
}

// Every source's tables take one path: a table giving this member another slot count is
// refused with both counts named and the previous one stays; the report describes the
// backends of a proxy-only sidecar, which has no workers to reload.
TEST(SidecarTest, ProxyOnlyApplyReportAndReload) {
  SidecarOptions options = BaseOptions();
  options.backends = "127.0.0.1:1,127.0.0.1:2";
  membership::SourceContext context;
  absl::StatusOr<std::unique_ptr<Sidecar>> sidecar =
      Sidecar::Create(std::move(options), std::make_unique<FakeSource>(&context));
  ASSERT_TRUE(sidecar.ok()) << sidecar.status();
  ASSERT_TRUE(context.apply && context.report && context.reload_workers);
  ASSERT_NE(context.registry, nullptr);

  EXPECT_TRUE(context.apply(Table("self 127.0.0.1:7001 2\nother 127.0.0.1:7002 4\n")).ok());
  EXPECT_TRUE(context.apply(Table("other 127.0.0.1:7002 4\n")).ok());  // not listed: fine
  absl::Status refused = context.apply(Table("self 127.0.0.1:7001 3\n"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("3 slots"));
  EXPECT_THAT(refused.message(), HasSubstr("runs 2"));

  SidecarReport report = context.report();
  ASSERT_EQ(report.slots.size(), 2u);
  for (const SidecarReport::Slot& slot : report.slots) {
    EXPECT_EQ(slot.state, SidecarReport::Slot::State::kExternal);
    EXPECT_EQ(slot.outstanding, 0u);
  }
  EXPECT_EQ(report.slots[1].slot, 1);
  EXPECT_EQ(report.open_connections, 0u);
  EXPECT_FALSE(report.ready);  // nothing listens on ports 1 and 2
  EXPECT_EQ(report.reload.phase, SidecarReport::Reload::Phase::kNone);
  EXPECT_EQ(context.reload_workers("cmd-1").code(), absl::StatusCode::kFailedPrecondition);
}

// In supervisor mode the report shows each worker slot's state and pid, and a reload tagged
// with a command id shows its progress until it succeeds.
TEST(SidecarTest, SupervisorReportAndTaggedReload) {
  BlockHandledSignals();  // the supervisor reads SIGCHLD through a signalfd
  SidecarOptions options = BaseOptions();
  supervisor::SupervisorConfig sup;
  sup.command = {"/usr/bin/env", "node", "-e",
                 "require('http').createServer((q, s) => s.end('ok'))"
                 ".listen(Number(process.env.PORT), '127.0.0.1')"};
  sup.workers = 2;
  sup.port_base = FreePortRange(4);
  ASSERT_NE(sup.port_base, 0);
  sup.kill_timeout = absl::Seconds(2);
  options.supervisor = sup;
  options.worker_host = *net::SocketAddress::Parse("127.0.0.1:0");
  membership::SourceContext context;
  absl::StatusOr<std::unique_ptr<Sidecar>> sidecar =
      Sidecar::Create(std::move(options), std::make_unique<FakeSource>(&context));
  ASSERT_TRUE(sidecar.ok()) << sidecar.status();

  auto all_ready = [&] {
    SidecarReport r = context.report();
    if (r.slots.size() != 2) return false;
    for (const SidecarReport::Slot& s : r.slots) {
      if (s.state != SidecarReport::Slot::State::kReady || s.pid <= 0) return false;
    }
    return r.ready;
  };
  ASSERT_TRUE(WaitUntil(all_ready, absl::Seconds(20)));
  const int first_pid = context.report().slots[0].pid;

  ASSERT_TRUE(context.reload_workers("cmd-1").ok());
  EXPECT_EQ(context.reload_workers("cmd-2").code(), absl::StatusCode::kFailedPrecondition);
  SidecarReport during = context.report();
  EXPECT_EQ(during.reload.command_id, "cmd-1");
  EXPECT_EQ(during.reload.slots_total, 2u);
  ASSERT_TRUE(WaitUntil(
      [&] { return context.report().reload.phase == SidecarReport::Reload::Phase::kSucceeded; },
      absl::Seconds(30)));
  SidecarReport after = context.report();
  EXPECT_EQ(after.reload.command_id, "cmd-1");
  EXPECT_EQ(after.reload.slots_done, 2u);
  EXPECT_TRUE(after.reload.error.empty());
  EXPECT_NE(after.slots[0].pid, first_pid);  // replaced
}

}  // namespace
}  // namespace drover
