#include "sidecar/net/socket.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
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

// A group's sockets share one port; no socket of another process can bind it, with
// SO_REUSEPORT or without: the first socket was bound alone.
TEST(SocketTest, ListenGroupSharesAPortThatNoOneElseCanTake) {
  absl::StatusOr<std::vector<int>> group = ListenGroup(*SocketAddress::Parse("127.0.0.1:0"), 3, 16);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_EQ(group->size(), 3u);
  absl::StatusOr<SocketAddress> bound = LocalAddress((*group)[0]);
  ASSERT_TRUE(bound.ok());
  for (int fd : *group) EXPECT_EQ(LocalAddress(fd)->port(), bound->port());

  absl::StatusOr<int> exclusive = ListenExclusive(*bound, 16);
  EXPECT_EQ(exclusive.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(exclusive.status().message(),
            absl::StrCat(bound->ToString(), ": address already in use (another process holds it)"));
  absl::StatusOr<std::vector<int>> second = ListenGroup(*bound, 2, 16);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<int> wildcard =
      ListenExclusive(*SocketAddress::Parse(absl::StrCat("0.0.0.0:", bound->port())), 16);
  EXPECT_FALSE(wildcard.ok());
  for (int fd : *group) close(fd);
}

// An exclusive listener refuses even a socket that asks to share the port.
TEST(SocketTest, ExclusiveListenerRefusesReusePort) {
  absl::StatusOr<int> first = ListenExclusive(*SocketAddress::Parse("127.0.0.1:0"), 16);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<int> second = ListenReusePort(*LocalAddress(*first), 16);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  close(*first);
}

TEST(SocketAddressTest, Loopback) {
  for (const char* yes : {"127.0.0.1:1", "127.255.0.9:1", "[::1]:1", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_TRUE(SocketAddress::Parse(yes)->IsLoopback()) << yes;
  }
  for (const char* no :
       {"0.0.0.0:1", "10.0.0.1:1", "[::]:1", "[::ffff:10.0.0.1]:1", "128.0.0.1:1"}) {
    EXPECT_FALSE(SocketAddress::Parse(no)->IsLoopback()) << no;
  }
}

}  // namespace
}  // namespace drover::net
