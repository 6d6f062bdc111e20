#include "sidecar/sticky/policy.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sidecar/sticky/route_prefix.h"

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
  EXPECT_EQ(ParseStickyMode("socketio")->kind, StickyKind::kSocketIo);
  for (const char* bad : {"", "cookies", "query:", "header", "path:0", "path:x", "cookie:x",
                          "source-ip:1", "random", "socketio:sid"}) {
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

class AppKeyTest : public RouterTest {
 protected:
  void UseMode(const char* mode) {
    StickyConfig parsed = *ParseStickyMode(mode);
    config_.kind = parsed.kind;
    config_.key_name = parsed.key_name;
    config_.codec = std::make_shared<const CookieCodec>(*CookieCodec::Create({kSecret}));
  }
  StickyRoute RouteTarget(const StickyRouter& router, const std::string& target) {
    raw_ = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT_EQ(http::ParseRequestHead(raw_, {}, head_).status, http::ParseStatus::kComplete);
    return router.Decide(head_, "127.0.0.1", false, 1000);
  }
  static constexpr const char* kSecret = "current-secret-0123456789";
};

// app-cookie: a route of ours sends the request to its slot; a value without a valid route
// (set before the sidecar prefixed it, forged, truncated, signed with another secret) is hashed
// by the app's own value, so it still lands in one place; the prefix is always taken off.
TEST_F(AppKeyTest, AppCookieRouteOrHash) {
  UseMode("app-cookie:sess");
  StickyRouter router(config_, *backends_);
  const std::string app = "s%3Aabc.def";
  const std::string route = EncodeRoute(*config_.codec, config_.member_hash, 2, 1000);
  StickyRoute hit = Route(router, "a=b; sess=" + route + "~" + app, false);
  EXPECT_EQ(hit.result, StickyResult::kHit);
  EXPECT_EQ(hit.slot, 2);
  EXPECT_EQ(hit.route_prefix, route + "~");
  EXPECT_FALSE(hit.set_cookie);
  // The slot a plain hash of the app's value picks: every fallback lands there.
  StickyRoute plain = Route(router, "sess=" + app, false);
  EXPECT_EQ(plain.result, StickyResult::kHit);
  EXPECT_TRUE(plain.route_prefix.empty());
  CookieCodec foreign = *CookieCodec::Create({"another-secret-0123456789"});
  CookieCodec unsigned_codec = *CookieCodec::Create({});
  const std::string forged_mac = route.substr(0, route.size() - 3) + "AAA";
  for (const std::string& prefix :
       {forged_mac, route.substr(0, 12), EncodeRoute(foreign, config_.member_hash, 2, 1000),
        EncodeRoute(unsigned_codec, config_.member_hash, 2, 1000)}) {
    StickyRoute fallback = Route(router, "sess=" + prefix + "~" + app, false);
    EXPECT_EQ(fallback.result, StickyResult::kInvalid) << prefix;
    EXPECT_EQ(fallback.slot, plain.slot) << prefix;
    EXPECT_EQ(fallback.route_prefix, prefix + "~");
  }
  // A route to a slot that is down: hashed too, counted as re-homed.
  (*backends_)[2].up = false;
  StickyRoute down = Route(router, "sess=" + route + "~" + app, false);
  EXPECT_EQ(down.result, StickyResult::kRemapped);
  EXPECT_NE(down.slot, 2);
  // No cookie: balanced.
  EXPECT_EQ(Route(router, "other=1", false).result, StickyResult::kNoKey);
}

// A route naming another member is forwarded there, prefix and all (the peer takes it off).
TEST_F(AppKeyTest, AppCookieAcrossMembers) {
  UseMode("app-cookie:sess");
  StickyRouter router(config_, *backends_);
  router.SetMembers(*MemberTable::Parse("pod-a 127.0.0.1:9001 3\npod-b 127.0.0.1:9002 2\n", "t"));
  const std::string route = EncodeRoute(*config_.codec, MemberHash("pod-b"), 1, 1000);
  StickyRoute forwarded = Route(router, "sess=" + route + "~v", false);
  EXPECT_EQ(forwarded.result, StickyResult::kForwarded);
  ASSERT_NE(forwarded.peer, nullptr);
  EXPECT_EQ(forwarded.peer->id, "pod-b");
  EXPECT_EQ(forwarded.route_prefix, route + "~");
}

// socketio: the sid's route decides; without one (the handshake, other paths) the DROVERID
// cookie does, as in cookie mode; a forged route is taken off and the cookie decides.
TEST_F(AppKeyTest, SocketIoSidRouteThenCookie) {
  UseMode("socketio");
  ASSERT_TRUE(config_.InsertsCookie());
  StickyRouter router(config_, *backends_);
  const std::string route = EncodeRoute(*config_.codec, config_.member_hash, 1, 1000);
  StickyRoute hit =
      RouteTarget(router, "/socket.io/?EIO=4&transport=polling&sid=" + route + "~Xy12");
  EXPECT_EQ(hit.result, StickyResult::kHit);
  EXPECT_EQ(hit.slot, 1);
  EXPECT_FALSE(hit.set_cookie);
  EXPECT_EQ(hit.route_prefix, route + "~");
  StickyRoute handshake = RouteTarget(router, "/socket.io/?EIO=4&transport=polling");
  EXPECT_EQ(handshake.result, StickyResult::kNew);
  EXPECT_TRUE(handshake.set_cookie);
  StickyRoute forged =
      RouteTarget(router, "/socket.io/?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAA~Xy12");
  EXPECT_EQ(forged.result, StickyResult::kInvalid);
  EXPECT_EQ(forged.slot, -1);
  EXPECT_TRUE(forged.set_cookie);
  EXPECT_EQ(forged.route_prefix, "AAAAAAAAAAAAAAAAAAA~");
  // A plain sid (issued before the sidecar routed it): the cookie decides, nothing taken off.
  StickyRoute plain = RouteTarget(router, "/socket.io/?EIO=4&transport=polling&sid=Xy12");
  EXPECT_EQ(plain.result, StickyResult::kNew);
  EXPECT_TRUE(plain.route_prefix.empty());
}

}  // namespace
}  // namespace drover::sticky
