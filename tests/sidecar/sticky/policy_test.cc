#include "sidecar/sticky/policy.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace drover::sticky {
namespace {

// Every documented --sticky form parses; anything else is rejected with the accepted forms.
TEST(StickyPolicyTest, ParsesModes) {
  EXPECT_EQ(ParseStickyMode("cookie")->kind, StickyKind::kCookie);
  EXPECT_EQ(ParseStickyMode("none")->kind, StickyKind::kNone);
  EXPECT_EQ(ParseStickyMode("source-ip")->kind, StickyKind::kSourceIp);
  absl::StatusOr<StickyConfig> app = ParseStickyMode("app-cookie:connect.sid");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->kind, StickyKind::kAppCookie);
  EXPECT_EQ(app->key_name, "connect.sid");
  EXPECT_EQ(ParseStickyMode("query:sid")->key_name, "sid");
  EXPECT_EQ(ParseStickyMode("header:X-Session")->key_name, "X-Session");
  EXPECT_EQ(ParseStickyMode("path:2")->path_segment, 2);
  for (const char* bad : {"", "cookies", "query:", "header", "path:0", "path:x", "cookie:x",
                          "source-ip:1", "random"}) {
    EXPECT_FALSE(ParseStickyMode(bad).ok()) << bad;
  }
}

// CIDRs match by prefix, per family, and reject malformed input.
TEST(StickyPolicyTest, CidrMatching) {
  absl::StatusOr<std::vector<Cidr>> cidrs = ParseCidrs("10.0.0.0/8, 192.168.1.7, ::1/128");
  ASSERT_TRUE(cidrs.ok());
  ASSERT_EQ(cidrs->size(), 3u);
  EXPECT_TRUE((*cidrs)[0].Contains("10.200.3.4"));
  EXPECT_FALSE((*cidrs)[0].Contains("11.0.0.1"));
  EXPECT_TRUE((*cidrs)[1].Contains("192.168.1.7"));
  EXPECT_FALSE((*cidrs)[1].Contains("192.168.1.8"));
  EXPECT_TRUE((*cidrs)[2].Contains("::1"));
  EXPECT_FALSE((*cidrs)[2].Contains("127.0.0.1"));
  EXPECT_TRUE(Cidr::Parse("127.0.0.0/9")->Contains("127.127.0.1"));
  EXPECT_FALSE(Cidr::Parse("127.0.0.0/9")->Contains("127.128.0.1"));
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "x", "10.0.0.0/", "::1/129", "1.2.3.4/-1"}) {
    EXPECT_FALSE(Cidr::Parse(bad).ok()) << bad;
  }
}

// X-Forwarded-For is believed only from a trusted peer, and only up to the first untrusted hop.
TEST(StickyPolicyTest, EffectiveClientIp) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.5\r\n\r\n";
  http::RequestHead head;
  ASSERT_EQ(http::ParseRequestHead(raw, {}, head).status, http::ParseStatus::kComplete);
  std::vector<Cidr> trusted = *ParseCidrs("10.0.0.0/8");
  EXPECT_EQ(EffectiveClientIp(head, "10.1.1.1", trusted), "203.0.113.9");
  EXPECT_EQ(EffectiveClientIp(head, "198.51.100.1", trusted), "198.51.100.1");
  EXPECT_EQ(EffectiveClientIp(head, "10.1.1.1", {}), "10.1.1.1");
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backends_ = *balance::BackendSet::Parse("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3");
    config_ = *ParseStickyMode("cookie");
    config_.member_id = "pod-a";
    config_.member_hash = MemberHash("pod-a");
    config_.slots = 3;
    config_.codec = std::make_shared<const CookieCodec>(*CookieCodec::Create({}));
  }
  StickyRoute Route(const StickyRouter& router, const std::string& cookie, bool from_peer) {
    raw_ = "GET / HTTP/1.1\r\nHost: a\r\n" + (cookie.empty() ? "" : "Cookie: " + cookie + "\r\n") +
           "\r\n";
    EXPECT_EQ(http::ParseRequestHead(raw_, {}, head_).status, http::ParseStatus::kComplete);
    return router.Decide(head_, "127.0.0.1", from_peer, 1000);
  }
  std::string CookieValue(uint32_t member, uint16_t slot) {
    return "DROVERID=" + config_.codec->Encode({member, slot, 1000, 1000});
  }

  std::unique_ptr<balance::BackendSet> backends_;
  StickyConfig config_;
  std::string raw_;
  http::RequestHead head_;
};

// A valid cookie of ours hits its slot; none, garbage, a gone slot or a down slot re-home.
TEST_F(RouterTest, CookieDecisions) {
  StickyRouter router(config_, *backends_);
  EXPECT_EQ(Route(router, "", false).result, StickyResult::kNew);
  EXPECT_TRUE(Route(router, "", false).set_cookie);
  StickyRoute hit = Route(router, "a=b; " + CookieValue(config_.member_hash, 2), false);
  EXPECT_EQ(hit.result, StickyResult::kHit);
  EXPECT_EQ(hit.slot, 2);
  EXPECT_FALSE(hit.set_cookie);
  EXPECT_EQ(Route(router, "DROVERID=%%%garbage", false).result, StickyResult::kInvalid);
  EXPECT_EQ(Route(router, CookieValue(config_.member_hash, 7), false).result,
            StickyResult::kRemapped);
  (*backends_)[1].up = false;
  EXPECT_EQ(Route(router, CookieValue(config_.member_hash, 1), false).result,
            StickyResult::kRemapped);
}

// Another member's session is forwarded to it once; from the peer listener, or when the member
// left the table, it is re-homed here instead.
TEST_F(RouterTest, CookieAcrossMembers) {
  StickyRouter router(config_, *backends_);
  const uint32_t b = MemberHash("pod-b");
  EXPECT_EQ(Route(router, CookieValue(b, 0), false).result, StickyResult::kRemapped);
  router.SetMembers(*MemberTable::Parse("pod-a 127.0.0.1:9001 3\npod-b 127.0.0.1:9002 2\n", "t"));
  StickyRoute forwarded = Route(router, CookieValue(b, 1), false);
  EXPECT_EQ(forwarded.result, StickyResult::kForwarded);
  ASSERT_NE(forwarded.peer, nullptr);
  EXPECT_EQ(forwarded.peer->id, "pod-b");
  EXPECT_EQ(Route(router, CookieValue(b, 1), true).result, StickyResult::kRemapped);
}

// A draining member keeps its own sessions, and sends new ones (no cookie, an invalid cookie, a
// re-homed session) to the ready members, evenly by slots; the hop marker keeps a forwarded new
// session where it lands.
TEST_F(RouterTest, DrainingMemberSendsNewSessionsToReadyMembers) {
  StickyRouter router(config_, *backends_);
  router.SetMembers(*MemberTable::Parse(
      "pod-a 127.0.0.1:9001 3 draining\npod-b 127.0.0.1:9002 1\npod-c 127.0.0.1:9003 3 ready\n"
      "pod-d 127.0.0.1:9004 2 draining\n",
      "t"));
  // Its own session still hits here.
  StickyRoute hit = Route(router, CookieValue(config_.member_hash, 2), false);
  EXPECT_EQ(hit.result, StickyResult::kHit);
  EXPECT_EQ(hit.slot, 2);
  // New sessions: pod-b (1 slot) and pod-c (3 slots) share them 1:3, exactly over each round;
  // pod-d drains too and gets none.
  std::map<std::string, int> picks;
  for (int i = 0; i < 400; ++i) {
    StickyRoute r = Route(router, "", false);
    ASSERT_EQ(r.result, StickyResult::kForwarded);
    ASSERT_NE(r.peer, nullptr);
    EXPECT_FALSE(r.set_cookie) << "the ready member issues the cookie";
    EXPECT_TRUE(r.cookie.empty()) << "no session cookie to pass on";
    ++picks[r.peer->id];
  }
  EXPECT_EQ(picks, (std::map<std::string, int>{{"pod-b", 100}, {"pod-c", 300}}));
  // Invalid cookies and re-homed sessions are new sessions too.
  EXPECT_EQ(Route(router, "DROVERID=%%%garbage", false).result, StickyResult::kForwarded);
  EXPECT_EQ(Route(router, CookieValue(config_.member_hash, 7), false).result,
            StickyResult::kForwarded);
  EXPECT_EQ(Route(router, CookieValue(MemberHash("pod-gone"), 0), false).result,
            StickyResult::kForwarded);
  // Forwarded here already: placed here, even though this member drains.
  StickyRoute landed = Route(router, "", true);
  EXPECT_EQ(landed.result, StickyResult::kNew);
  EXPECT_EQ(landed.peer, nullptr);
  EXPECT_TRUE(landed.set_cookie);
}

// With no ready member anywhere a draining member places new sessions itself; a ready member
// places them itself and forwards a draining member's sessions to it.
TEST_F(RouterTest, DrainingEdgeCases) {
  StickyRouter router(config_, *backends_);
  router.SetMembers(*MemberTable::Parse(
      "pod-a 127.0.0.1:9001 3 draining\npod-b 127.0.0.1:9002 1 draining\n", "t"));
  EXPECT_EQ(Route(router, "", false).result, StickyResult::kNew);

  router.SetMembers(
      *MemberTable::Parse("pod-a 127.0.0.1:9001 3\npod-b 127.0.0.1:9002 1 draining\n", "t"));
  EXPECT_EQ(Route(router, "", false).result, StickyResult::kNew);
  StickyRoute to_b = Route(router, CookieValue(MemberHash("pod-b"), 0), false);
  EXPECT_EQ(to_b.result, StickyResult::kForwarded);
  ASSERT_NE(to_b.peer, nullptr);
  EXPECT_EQ(to_b.peer->id, "pod-b");
  EXPECT_FALSE(to_b.cookie.empty());

  // Not listed in the table: not draining.
  router.SetMembers(*MemberTable::Parse("pod-b 127.0.0.1:9002 1\n", "t"));
  EXPECT_EQ(Route(router, "", false).result, StickyResult::kNew);
}

// Hash modes keep keys on a draining member's slots until it leaves the table.
TEST_F(RouterTest, HashKeysStayOnDrainingMembers) {
  config_ = *ParseStickyMode("query:sid");
  config_.member_hash = MemberHash("pod-a");
  config_.slots = 3;
  StickyRouter router(config_, *backends_);
  auto route_for = [&](int key) {
    raw_ = "GET /?sid=k" + std::to_string(key) + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(http::ParseRequestHead(raw_, {}, head_).status, http::ParseStatus::kComplete);
    return router.Decide(head_, "127.0.0.1", false, 1000);
  };
  router.SetMembers(*MemberTable::Parse("pod-a 127.0.0.1:9001 3\npod-b 127.0.0.1:9002 3\n", "t"));
  std::vector<std::string> before;
  for (int k = 0; k < 200; ++k) {
    StickyRoute r = route_for(k);
    before.push_back(r.peer != nullptr ? r.peer->id : "here");
  }
  router.SetMembers(
      *MemberTable::Parse("pod-a 127.0.0.1:9001 3\npod-b 127.0.0.1:9002 3 draining\n", "t"));
  int on_b = 0;
  for (int k = 0; k < 200; ++k) {
    StickyRoute r = route_for(k);
    EXPECT_EQ(r.peer != nullptr ? r.peer->id : "here", before[static_cast<size_t>(k)]) << k;
    on_b += r.peer != nullptr ? 1 : 0;
  }
  EXPECT_GT(on_b, 0);
}

// Hash modes send the same key to the same slot every time, and requests without a key to the
// balancer.
TEST_F(RouterTest, QueryHashIsStable) {
  config_ = *ParseStickyMode("query:sid");
  config_.member_hash = MemberHash("pod-a");
  config_.slots = 3;
  StickyRouter router(config_, *backends_);
  auto route_for = [&](const std::string& target) {
    raw_ = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(http::ParseRequestHead(raw_, {}, head_).status, http::ParseStatus::kComplete);
    return router.Decide(head_, "127.0.0.1", false, 1000);
  };
  StickyRoute first = route_for("/socket.io/?EIO=4&transport=polling&sid=abc123");
  EXPECT_EQ(first.result, StickyResult::kHit);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(route_for("/socket.io/?sid=abc123&t=" + std::to_string(i)).slot, first.slot);
  }
  EXPECT_EQ(route_for("/socket.io/?EIO=4&transport=polling").result, StickyResult::kNoKey);
}

}  // namespace
}  // namespace drover::sticky
