#include "sidecar/net/socket.h"

#include "gtest/gtest.h"

namespace drover::net {
namespace {

// Accepted address forms round-trip through ToString.
TEST(SocketAddressTest, ParsesIpv4Ipv6AndLocalhost) {
  EXPECT_EQ(SocketAddress::Parse("127.0.0.1:8080")->ToString(), "127.0.0.1:8080");
  EXPECT_EQ(SocketAddress::Parse("[::1]:80")->ToString(), "[::1]:80");
  EXPECT_EQ(SocketAddress::Parse("localhost:3000")->ToString(), "127.0.0.1:3000");
  EXPECT_EQ(SocketAddress::Parse(":9000")->ToString(), "0.0.0.0:9000");
}

// Bad input is an InvalidArgument naming the input, never a crash or a default.
TEST(SocketAddressTest, RejectsBadInput) {
  for (const char* bad :
       {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80",
        "example.com:80", "[::1:80", "[::1]80", "1.2.3:80", "127.0.0.1:80x"}) {
    absl::StatusOr<SocketAddress> a = SocketAddress::Parse(bad);
    EXPECT_FALSE(a.ok()) << bad;
    if (!a.ok()) EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// Two listeners can share one port (SO_REUSEPORT), which is how each thread gets its own.
TEST(SocketTest, ReusePortListenersShareAPort) {
  absl::StatusOr<int> first = ListenReusePort(*SocketAddress::Parse("127.0.0.1:0"), 16);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<SocketAddress> bound = LocalAddress(*first);
  ASSERT_TRUE(bound.ok());
  EXPECT_NE(bound->port(), 0);
  absl::StatusOr<int> second = ListenReusePort(*bound, 16);
  EXPECT_TRUE(second.ok()) << second.status();
}

}  // namespace
}  // namespace drover::net
