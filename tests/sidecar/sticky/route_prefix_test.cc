#include "sidecar/sticky/route_prefix.h"

#include <string>

#include "gtest/gtest.h"
#include "sidecar/sticky/engineio.h"

namespace drover::sticky {
namespace {

// A route prepended with '~' splits off again; the app's value comes back byte for byte.
TEST(RoutePrefixTest, SplitsWhatEncodeRouteMade) {
  CookieCodec codec = *CookieCodec::Create({"0123456789abcdef0123"});
  const std::string route = EncodeRoute(codec, 0xdeadbeef, 3, 1000);
  const std::string app = "s%3AabcDEF.sig%2Fx~y";
  const std::string routed = route + "~" + app;
  RoutedValue v = SplitRoutedValue(routed);
  ASSERT_TRUE(v.has_prefix);
  EXPECT_EQ(v.route, route);
  EXPECT_EQ(v.prefix, route + "~");
  EXPECT_EQ(v.app_value, app);
  absl::StatusOr<SessionCookie> where = codec.Decode(v.route);
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->member, 0xdeadbeefu);
  EXPECT_EQ(where->slot, 3);
}

// Values the sidecar never prefixed stay whole: no '~', a leading '~', or text before the first
// '~' that cannot be a route (too long, or characters a route never has).
TEST(RoutePrefixTest, UnprefixedValuesStayWhole) {
  for (const char* value : {"s%3Aabc.def", "~abc", "", "a%2Fb~c", "x y~z",
                            "0123456789012345678901234567890123456789~v"}) {
    RoutedValue v = SplitRoutedValue(value);
    EXPECT_FALSE(v.has_prefix) << value;
    EXPECT_EQ(v.app_value, value);
  }
  // Truncated or forged, but route-shaped: taken off (the caller then finds it invalid).
  RoutedValue truncated = SplitRoutedValue("AAAAbbbb~app");
  EXPECT_TRUE(truncated.has_prefix);
  EXPECT_EQ(truncated.app_value, "app");
}

// The polling handshake is recognised by its query alone.
TEST(EngineIoTest, Handshake) {
  EXPECT_TRUE(IsEngineIoHandshake("/socket.io/?EIO=4&transport=polling&t=P1x"));
  EXPECT_TRUE(IsEngineIoHandshake("/custom/?transport=polling&EIO=3"));
  EXPECT_FALSE(IsEngineIoHandshake("/socket.io/?EIO=4&transport=polling&sid=abc"));
  EXPECT_FALSE(IsEngineIoHandshake("/socket.io/?EIO=4&transport=websocket"));
  EXPECT_FALSE(IsEngineIoHandshake("/socket.io/?transport=polling"));
  EXPECT_FALSE(IsEngineIoHandshake("/"));
  EXPECT_EQ(QueryParameter("/a?x=1&sid=R~s#frag", "sid"), std::string_view("R~s"));
}

// The open packet's sid gets the route in all three framings; lengths follow.
TEST(EngineIoTest, RoutesOpenPacket) {
  const std::string open = R"(0{"sid":"abcDEF","upgrades":["websocket"],"pingInterval":25000})";
  EXPECT_EQ(RouteOpenPacket(open, "RT"),
            R"(0{"sid":"RT~abcDEF","upgrades":["websocket"],"pingInterval":25000})");
  // EIO 4: packets after the open packet (0x1e-separated) are kept.
  EXPECT_EQ(RouteOpenPacket(open + "\x1e" + "40", "RT"),
            R"(0{"sid":"RT~abcDEF","upgrades":["websocket"],"pingInterval":25000})"
            "\x1e"
            "40");
  // EIO 3 text: the length prefix grows by the route and its separator.
  const std::string eio3 = std::to_string(open.size()) + ":" + open + "2:40";
  EXPECT_EQ(RouteOpenPacket(eio3, "RT"),
            std::to_string(open.size() + 3) + ":" +
                R"(0{"sid":"RT~abcDEF","upgrades":["websocket"],"pingInterval":25000})" + "2:40");
  // EIO 3 binary: 0x00, one byte per decimal digit, 0xff.
  auto binary = [](const std::string& packet) {
    std::string out(1, '\0');
    for (char d : std::to_string(packet.size())) out += static_cast<char>(d - '0');
    out += static_cast<char>(0xff);
    return out + packet;
  };
  EXPECT_EQ(RouteOpenPacket(binary(open), "RT"),
            binary(R"(0{"sid":"RT~abcDEF","upgrades":["websocket"],"pingInterval":25000})"));
  for (const std::string& bad : {std::string(), std::string("4hello"), std::string("0{}"),
                                 std::string("99:0{\"sid\":\"x\"}"), std::string("x:0")}) {
    EXPECT_FALSE(RouteOpenPacket(bad, "RT").has_value()) << bad;
  }
}

}  // namespace
}  // namespace drover::sticky
