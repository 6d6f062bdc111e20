// The swarm against a fake Membership server inside the test: what it puts on the wire and what
// it measures. The real controller is exercised by bench/controller.sh.
#include "bench/controller/swarm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/controller/http_client.h"
#include "bench/controller/update_skim.h"
#include "drover/v1/membership.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"
#include "gtest/gtest.h"

namespace drover::bench {
namespace {

using drover::v1::SubscribeRequest;
using drover::v1::SubscribeResponse;
using ::testing::HasSubstr;

constexpr char kV1[] = "00000000000000a1";
constexpr char kV2[] = "00000000000000b2";

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return {&slice, 1};
}

SubscribeResponse UpdateOf(const std::string& version, const std::string& nonce, bool full,
                           const std::string& base, int members) {
  SubscribeResponse response;
  drover::v1::Update* update = response.mutable_update();
  update->set_version(version);
  update->set_nonce(nonce);
  update->set_full(full);
  update->set_base_version(base);
  update->set_group("swarm");
  for (int i = 0; i < members; ++i) {
    drover::v1::Member* m = update->add_members();
    m->set_id(absl::StrCat("swarm-", i));
    m->set_address(absl::StrCat(PodIp(i), ":", 20000 + i));
    m->set_slots(2);
    m->set_state(drover::v1::Member::READY);
  }
  return response;
}

// A Membership server that answers every Hello with a full table of `members` members at kV1,
// records what the sidecars send, and pushes deltas to all of them on Publish().
class FakeController final : public drover::v1::Membership::CallbackService {
 public:
  struct Seen {
    std::vector<drover::v1::Hello> hellos;
    std::set<std::string> peers;
    std::map<std::string, std::string> peer_of_pod;  // Hello.pod_name -> the stream's peer
    std::vector<drover::v1::Ack> acks;
    std::vector<drover::v1::Nack> nacks;
    int reports = 0;
  };

  explicit FakeController(int members) : members_(members) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeController() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  Seen seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  // Sends every open stream a one-member delta from `base` to `version`.
  void Publish(const std::string& version, const std::string& base) {
    absl::MutexLock lock(&mu_);
    for (auto& stream : streams_) {
      stream->Send(UpdateOf(version, absl::StrCat("n", ++nonce_), false, base, 1));
    }
  }

  grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* context) override {
    absl::MutexLock lock(&mu_);
    seen_.peers.insert(context->peer());
    streams_.push_back(std::make_unique<Stream>(this, context->peer()));
    return streams_.back().get();
  }

 private:
  // Streams stay allocated until the server is gone, so Publish never races their end.
  class Stream final : public grpc::ServerBidiReactor<SubscribeRequest, SubscribeResponse> {
   public:
    Stream(FakeController* owner, std::string peer) : owner_(owner), peer_(std::move(peer)) {
      StartRead(&in_);
    }

    void Send(SubscribeResponse response) {
      const SubscribeResponse* start = nullptr;
      {
        absl::MutexLock lock(&mu_);
        if (finished_) return;
        queue_.push_back(std::move(response));
        if (writing_) return;
        writing_ = true;
        out_ = std::move(queue_.front());
        queue_.erase(queue_.begin());
        start = &out_;
      }
      StartWrite(start);
    }

    void OnReadDone(bool ok) override {
      if (!ok) {
        {
          absl::MutexLock lock(&mu_);
          finished_ = true;
          if (writing_) return;  // OnWriteDone finishes
        }
        Finish(grpc::Status::OK);
        return;
      }
      if (in_.has_hello()) {
        {
          absl::MutexLock lock(&owner_->mu_);
          owner_->seen_.hellos.push_back(in_.hello());
          owner_->seen_.peer_of_pod[in_.hello().pod_name()] = peer_;
        }
        Send(UpdateOf(kV1, "hello-nonce", true, "", owner_->members_));
      } else {
        absl::MutexLock lock(&owner_->mu_);
        if (in_.has_ack()) owner_->seen_.acks.push_back(in_.ack());
        if (in_.has_nack()) owner_->seen_.nacks.push_back(in_.nack());
        if (in_.has_report()) ++owner_->seen_.reports;
      }
      StartRead(&in_);
    }

    void OnWriteDone(bool ok) override {
      const SubscribeResponse* next = nullptr;
      bool finish = false;
      {
        absl::MutexLock lock(&mu_);
        if (ok && !finished_ && !queue_.empty()) {
          out_ = std::move(queue_.front());
          queue_.erase(queue_.begin());
          next = &out_;
        } else {
          writing_ = false;
          finish = finished_;
        }
      }
      if (next != nullptr) StartWrite(next);
      if (finish) Finish(grpc::Status::OK);
    }

    void OnDone() override {}

   private:
    FakeController* const owner_;
    const std::string peer_;  // "ipv4:127.0.0.7:41234"
    SubscribeRequest in_;
    absl::Mutex mu_;
    std::vector<SubscribeResponse> queue_ ABSL_GUARDED_BY(mu_);
    SubscribeResponse out_ ABSL_GUARDED_BY(mu_);
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
  };

  const int members_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  Seen seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  int nonce_ ABSL_GUARDED_BY(mu_) = 0;
};

// Polls `condition` until it holds or 10 s pass.
bool WaitUntil(const std::function<bool()>& condition) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

SwarmOptions OptionsFor(const FakeController& fake, int streams) {
  SwarmOptions options;
  options.target = fake.address();
  options.streams = streams;
  options.max_pending = 8;
  options.pod_namespace = "bench";
  options.pod_uids["swarm-3"] = "uid-3";
  options.report_interval = absl::Milliseconds(50);
  return options;
}

// Every stream says Hello as the pod it claims to be, on a connection of its own, and ACKs its
// first table echoing the nonce.
TEST(SwarmTest, EachStreamHasItsOwnConnectionAndAcksItsTable) {
  FakeController fake(30);
  auto swarm = Swarm::Create(OptionsFor(fake, 20));
  ASSERT_TRUE(swarm.ok()) << swarm.status();
  RampResult ramp = (*swarm)->Connect(absl::Seconds(20));
  EXPECT_EQ(ramp.subscribed, 20);
  EXPECT_EQ(ramp.failed, 0);
  EXPECT_EQ(ramp.table_members, 30u);
  EXPECT_EQ(
      ramp.table_bytes.max,
      static_cast<double>(WireBytes(UpdateOf(kV1, "hello-nonce", true, "", 30).ByteSizeLong())));
  absl::StatusOr<std::string> version = (*swarm)->AwaitConverged(absl::Seconds(5));
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, kV1);

  // An Ack counts as sent when gRPC has taken it; the server reads it a moment later.
  ASSERT_TRUE(WaitUntil([&fake] { return fake.seen().acks.size() >= 20; }));
  FakeController::Seen seen = fake.seen();
  EXPECT_EQ(seen.peers.size(), 20u);
  ASSERT_EQ(seen.hellos.size(), 20u);
  std::set<std::string> names;
  for (const drover::v1::Hello& hello : seen.hellos) {
    names.insert(hello.pod_name());
    int i = std::stoi(hello.pod_name().substr(6));
    EXPECT_EQ(hello.namespace_(), "bench");
    EXPECT_EQ(hello.pod_ip(), PodIp(i));
    EXPECT_EQ(hello.peer_port(), 20000u + i);
    EXPECT_EQ(hello.worker_slots(), 2u);
    EXPECT_EQ(hello.applied_version(), "");
    EXPECT_EQ(hello.pod_uid(), i == 3 ? "uid-3" : "");
    // From its pod's IP, as the controller's --verify-peer-ip wants.
    EXPECT_THAT(seen.peer_of_pod[hello.pod_name()],
                ::testing::StartsWith(absl::StrCat("ipv4:", PodIp(i), ":")));
  }
  EXPECT_EQ(names.size(), 20u);
  EXPECT_EQ(seen.acks.size(), 20u);
  for (const drover::v1::Ack& ack : seen.acks) {
    EXPECT_EQ(ack.nonce(), "hello-nonce");
    EXPECT_EQ(ack.version(), kV1);
  }
  (*swarm)->Stop(absl::Seconds(5));
  EXPECT_EQ((*swarm)->counters().ended_by_code.size(), 0u);
}

// --connections=K multiplexes the streams over K connections.
TEST(SwarmTest, SharesConnectionsWhenAsked) {
  FakeController fake(3);
  SwarmOptions options = OptionsFor(fake, 12);
  options.connections = 3;
  auto swarm = Swarm::Create(options);
  ASSERT_TRUE(swarm.ok());
  EXPECT_EQ((*swarm)->Connect(absl::Seconds(20)).subscribed, 12);
  EXPECT_EQ(fake.seen().peers.size(), 3u);
}

// A change is timed from the trigger to each sidecar's ACK, with the bytes each received.
TEST(SwarmTest, MeasuresAChangeToTheLastAck) {
  FakeController fake(5);
  auto swarm = Swarm::Create(OptionsFor(fake, 10));
  ASSERT_TRUE(swarm.ok());
  ASSERT_EQ((*swarm)->Connect(absl::Seconds(20)).subscribed, 10);
  ASSERT_TRUE((*swarm)->AwaitConverged(absl::Seconds(5)).ok());

  ChangeResult change = (*swarm)->MeasureChange(
      1,
      [&fake] {
        absl::SleepFor(absl::Milliseconds(20));  // a debounce, inside the measured time
        fake.Publish(kV2, kV1);
        return absl::OkStatus();
      },
      absl::Seconds(10));
  EXPECT_TRUE(change.complete());
  EXPECT_EQ(change.live, 10);
  EXPECT_EQ(change.acked, 10);
  EXPECT_EQ(change.baseline, kV1);
  EXPECT_THAT(change.versions, ::testing::ElementsAre(kV2));
  EXPECT_GE(change.ack_ms.min, 20);
  EXPECT_GE(change.ack_ms.p99, change.receive_ms.p99);
  EXPECT_EQ(change.ack_ms_values.size(), 10u);
  EXPECT_EQ(change.deltas, 10);
  EXPECT_EQ(change.fulls, 0);
  EXPECT_EQ(change.nacks, 0);
  // Nonces "n1".."n10": the longest is the largest delta.
  auto wire = [](const char* nonce) {
    return static_cast<double>(WireBytes(UpdateOf(kV2, nonce, false, kV1, 1).ByteSizeLong()));
  };
  EXPECT_EQ(change.bytes_per_sidecar.min, wire("n1"));
  EXPECT_EQ(change.bytes_per_sidecar.max, wire("n10"));
  EXPECT_EQ(change.max_messages_per_sidecar, 1);
  absl::StatusOr<std::string> version = (*swarm)->AwaitConverged(absl::Seconds(5));
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kV2);
}

// A delta whose base is not the version a sidecar holds is refused with a NACK that says so and
// names the version kept; the controller's mistake is counted, not hidden.
TEST(SwarmTest, NacksADeltaOnTheWrongBase) {
  FakeController fake(5);
  auto swarm = Swarm::Create(OptionsFor(fake, 4));
  ASSERT_TRUE(swarm.ok());
  ASSERT_EQ((*swarm)->Connect(absl::Seconds(20)).subscribed, 4);
  ASSERT_TRUE((*swarm)->AwaitConverged(absl::Seconds(5)).ok());
  ChangeResult change = (*swarm)->MeasureChange(
      1,
      [&fake] {
        fake.Publish(kV2, "ffffffffffffffff");
        return absl::OkStatus();
      },
      absl::Milliseconds(500));
  EXPECT_FALSE(change.complete());
  EXPECT_EQ(change.acked, 0);
  EXPECT_EQ(change.nacks, 4);
  EXPECT_EQ((*swarm)->counters().nacks, 4);
  EXPECT_THAT((*swarm)->counters().first_error, HasSubstr("ffffffffffffffff"));
  ASSERT_TRUE(WaitUntil([&fake] { return fake.seen().nacks.size() >= 4; }));
  FakeController::Seen seen = fake.seen();
  ASSERT_EQ(seen.nacks.size(), 4u);
  for (const drover::v1::Nack& nack : seen.nacks) {
    EXPECT_EQ(nack.version(), kV2);
    EXPECT_EQ(nack.applied_version(), kV1);
    EXPECT_THAT(nack.error(), HasSubstr("holds '00000000000000a1'"));
    EXPECT_FALSE(nack.nonce().empty());
  }
  // They still hold kV1.
  absl::StatusOr<std::string> version = (*swarm)->AwaitConverged(absl::Seconds(5));
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, kV1);
}

// Every sidecar reports on its interval.
TEST(SwarmTest, SendsReports) {
  FakeController fake(2);
  auto swarm = Swarm::Create(OptionsFor(fake, 5));
  ASSERT_TRUE(swarm.ok());
  ASSERT_EQ((*swarm)->Connect(absl::Seconds(20)).subscribed, 5);
  // 5 sidecars every 50 ms: 15 reports within a few hundred milliseconds.
  EXPECT_TRUE(WaitUntil([&fake] { return fake.seen().reports >= 15; }));
}

// A stream the controller refuses is counted with its status, not waited for forever.
TEST(SwarmTest, CountsStreamsThatFail) {
  SwarmOptions options;
  options.target = "127.0.0.1:1";  // nothing listens there
  options.streams = 3;
  auto swarm = Swarm::Create(options);
  ASSERT_TRUE(swarm.ok());
  RampResult ramp = (*swarm)->Connect(absl::Seconds(20));
  EXPECT_EQ(ramp.subscribed, 0);
  EXPECT_EQ(ramp.failed, 3);
  EXPECT_EQ((*swarm)->counters().ended_by_code[grpc::StatusCode::UNAVAILABLE], 3);
}

// Skimming gives what the generated parser gives.
TEST(UpdateSkimTest, MatchesTheGeneratedParser) {
  SubscribeResponse response = UpdateOf(kV2, "nonce-7", false, kV1, 3);
  response.mutable_update()->add_removed("swarm-9");
  absl::StatusOr<ResponseSummary> s = SkimSubscribeResponse(Serialize(response));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kind, ResponseSummary::Kind::kUpdate);
  EXPECT_EQ(s->version, kV2);
  EXPECT_EQ(s->nonce, "nonce-7");
  EXPECT_FALSE(s->full);
  EXPECT_EQ(s->base_version, kV1);
  EXPECT_EQ(s->group, "swarm");
  EXPECT_EQ(s->members, 3u);
  EXPECT_EQ(s->removed, 1u);

  SubscribeResponse command;
  command.mutable_command()->set_id("c1");
  command.mutable_command()->mutable_reload_workers();
  s = SkimSubscribeResponse(Serialize(command));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, ResponseSummary::Kind::kCommand);

  std::string truncated = response.SerializeAsString();
  truncated.resize(truncated.size() - 3);
  grpc::Slice slice(truncated);
  EXPECT_FALSE(SkimSubscribeResponse(grpc::ByteBuffer(&slice, 1)).ok());
}

TEST(UpdateSkimTest, WireBytesCountsPrefixAndFrameHeaders) {
  EXPECT_EQ(WireBytes(100), 114u);
  EXPECT_EQ(WireBytes(16379), 16384u + 9);
  EXPECT_EQ(WireBytes(16380), 16385u + 18);
}

TEST(HttpClientTest, ParsesLoopbackUrlsOnly) {
  absl::StatusOr<HttpEndpoint> e = ParseHttpUrl("http://127.0.0.1:8001/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8001);
  EXPECT_EQ(ParseHttpUrl("http://localhost:9")->host, "127.0.0.1");
  EXPECT_FALSE(ParseHttpUrl("https://127.0.0.1:8001").ok());
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1").ok());
  EXPECT_FALSE(ParseHttpUrl("http://example.com:80").ok());
}

// The PATCH goes out as the simulator expects it, and the status comes back.
TEST(HttpClientTest, SendsTheRequestAndReadsTheStatus) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string request;
  std::thread server([&] {
    int fd = accept(listener, nullptr, nullptr);
    char buf[4096];
    // Head and a 2-byte body.
    while (request.find("\r\n\r\n") == std::string::npos ||
           request.size() < request.find("\r\n\r\n") + 4 + 2) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string reply = "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nnice";
    (void)!write(fd, reply.data(), reply.size());
    close(fd);
  });
  absl::StatusOr<HttpResponse> r = HttpCall(
      {.host = "127.0.0.1", .port = ntohs(addr.sin_port)},
      {.method = "PATCH", .path = "/a/b", .content_type = "x/y", .body = "{}"}, absl::Seconds(5));
  server.join();
  close(listener);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "nice");
  EXPECT_THAT(request, HasSubstr("PATCH /a/b HTTP/1.1\r\n"));
  EXPECT_THAT(request, HasSubstr("Content-Type: x/y\r\nContent-Length: 2\r\n"));
  EXPECT_THAT(request, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(request, ::testing::EndsWith("\r\n\r\n{}"));
}

}  // namespace
}  // namespace drover::bench
