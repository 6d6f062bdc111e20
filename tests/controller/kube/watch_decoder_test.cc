#include "controller/kube/watch_decoder.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kAdded[] =
    R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"web-0","namespace":"shop",)"
    R"("resourceVersion":"11","labels":{"a":"{[\"}"}}}})";
constexpr char kModified[] =
    R"({"type":"MODIFIED","object":{"metadata":{"name":"web-0","resourceVersion":"12"},)"
    R"("status":{"phase":"Running"}}})";
constexpr char kBookmark[] =
    R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"13"}}})";
constexpr char kError[] =
    R"json({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",)json"
    R"json("message":"too old resource version: 1 (13)"}})json";

std::string Stream() { return absl::StrCat(kAdded, "\n", kModified, "\n", kBookmark, "\n"); }

std::vector<WatchEvent> Drain(WatchDecoder& decoder) {
  std::vector<WatchEvent> events;
  while (std::optional<WatchEvent> e = decoder.Pop()) events.push_back(*std::move(e));
  return events;
}

void ExpectTheThreeEvents(const std::vector<WatchEvent>& events) {
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEventType::kAdded);
  EXPECT_THAT(events[0].object, HasSubstr(R"("name":"web-0")"));
  // Braces and quotes inside strings do not end an event.
  EXPECT_THAT(events[0].object, HasSubstr(R"("a":"{[\"}")"));
  EXPECT_EQ(events[1].type, WatchEventType::kModified);
  EXPECT_THAT(events[1].object, HasSubstr(R"("phase":"Running")"));
  EXPECT_EQ(events[2].type, WatchEventType::kBookmark);
  EXPECT_THAT(events[2].object, HasSubstr(R"("resourceVersion":"13")"));
}

// One piece holding several events yields them all, in order.
TEST(WatchDecoderTest, SeveralEventsInOnePiece) {
  WatchDecoder decoder;
  ASSERT_TRUE(decoder.Feed(Stream()).ok());
  ExpectTheThreeEvents(Drain(decoder));
  EXPECT_TRUE(decoder.Finish().ok());
}

// Wherever the stream is split in two, the same events come out.
TEST(WatchDecoderTest, SplitAtEveryBytePosition) {
  const std::string stream = Stream();
  for (size_t split = 0; split <= stream.size(); ++split) {
    WatchDecoder decoder;
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(0, split)).ok()) << split;
    std::vector<WatchEvent> events = Drain(decoder);
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(split)).ok()) << split;
    for (WatchEvent& e : Drain(decoder)) events.push_back(std::move(e));
    ExpectTheThreeEvents(events);
    EXPECT_TRUE(decoder.Finish().ok()) << split;
  }
}

// Fed one byte at a time, each event appears exactly when its last byte arrives.
TEST(WatchDecoderTest, ByteByByte) {
  const std::string stream = Stream();
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  const size_t first_end = std::string_view(kAdded).size();
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(i, 1)).ok()) << i;
    if (i + 1 < first_end) {
      EXPECT_EQ(decoder.queued(), 0u) << i;
    } else if (i + 1 == first_end) {
      EXPECT_EQ(decoder.queued(), 1u);
    }
    for (WatchEvent& e : Drain(decoder)) events.push_back(std::move(e));
  }
  ExpectTheThreeEvents(events);
}

// The API ends each event with a newline, but events without one (or with CRLF and blank
// lines between them) frame the same.
TEST(WatchDecoderTest, WhitespaceBetweenEventsIsOptional) {
  WatchDecoder decoder;
  ASSERT_TRUE(
      decoder.Feed(absl::StrCat("\r\n  ", kAdded, kModified, "\r\n\r\n\t", kBookmark)).ok());
  ExpectTheThreeEvents(Drain(decoder));
}

TEST(WatchDecoderTest, ErrorEventIsAnEvent) {
  WatchDecoder decoder;
  ASSERT_TRUE(decoder.Feed(absl::StrCat(kError, "\n")).ok());
  std::vector<WatchEvent> events = Drain(decoder);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEventType::kError);
  EXPECT_THAT(events[0].object, HasSubstr(R"("code":410)"));
}

// Bad JSON breaks the stream; the events before it are still delivered, and the error sticks.
TEST(WatchDecoderTest, BadJsonIsAnErrorAfterTheGoodEvents) {
  WatchDecoder decoder;
  const absl::Status s = decoder.Feed(absl::StrCat(kAdded, "\n", R"({"type":"ADDED",,})", "\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("undecodable watch event"));
  EXPECT_EQ(Drain(decoder).size(), 1u);
  EXPECT_EQ(decoder.Feed(kModified), s);
  EXPECT_EQ(decoder.queued(), 0u);
  EXPECT_EQ(decoder.Finish(), s);
}

TEST(WatchDecoderTest, RejectsWhatIsNotAnEvent) {
  for (std::string_view bad : {
           std::string_view("garbage\n"),
           std::string_view("[1,2]\n"),
           std::string_view(R"({"object":{}})"),
           std::string_view(R"({"type":"RENAMED","object":{}})"),
           std::string_view(R"({"type":"ADDED"})"),
           std::string_view(R"({"type":"ADDED","object":"pod"})"),
           std::string_view(R"({"type":7,"object":{}})"),
           std::string_view(R"({"type":"ADDED","object":{}])"),
       }) {
    WatchDecoder decoder;
    EXPECT_FALSE(decoder.Feed(bad).ok()) << bad;
    EXPECT_EQ(decoder.queued(), 0u) << bad;
  }
}

// An event over the limit fails as soon as the limit is passed, without buffering the rest.
TEST(WatchDecoderTest, HugeEventIsAnError) {
  WatchDecoder decoder(1024);
  ASSERT_TRUE(decoder.Feed(R"({"type":"ADDED","object":{"x":")").ok());
  const std::string filler(1000, 'a');
  const absl::Status s = decoder.Feed(filler);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("larger than 1024 bytes"));
  EXPECT_EQ(decoder.partial_bytes(), 0u);

  // At exactly the limit an event is fine.
  const std::string exact =
      absl::StrCat(R"({"type":"ADDED","object":{"x":")", std::string(1024 - 34, 'b'), R"("}})");
  ASSERT_EQ(exact.size(), 1024u);
  WatchDecoder fits(1024);
  EXPECT_TRUE(fits.Feed(exact).ok());
  EXPECT_EQ(fits.queued(), 1u);
  WatchDecoder too_big(1023);
  EXPECT_FALSE(too_big.Feed(exact).ok());
}

// The default limit is 16 MiB: a 17 MiB line is refused, a 1 MiB one is not.
TEST(WatchDecoderTest, DefaultLimit) {
  const std::string big(size_t{1} << 20, 'x');
  WatchDecoder decoder;
  EXPECT_TRUE(decoder.Feed(absl::StrCat(R"({"type":"ADDED","object":{"x":")", big, R"("}})")).ok());
  EXPECT_EQ(decoder.queued(), 1u);
  WatchDecoder refuses;
  ASSERT_TRUE(refuses.Feed(R"({"type":"ADDED","object":{"x":")").ok());
  absl::Status s;
  for (int i = 0; i < 17 && s.ok(); ++i) s = refuses.Feed(big);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
}

TEST(WatchDecoderTest, EndInsideAnEventIsAnError) {
  WatchDecoder decoder;
  ASSERT_TRUE(decoder.Feed(absl::StrCat(kAdded, "\n", R"({"type":"MODI)")).ok());
  EXPECT_EQ(Drain(decoder).size(), 1u);
  const absl::Status s = decoder.Finish();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST(WatchDecoderTest, TypeNamesRoundTrip) {
  for (WatchEventType type :
       {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
        WatchEventType::kBookmark, WatchEventType::kError}) {
    EXPECT_EQ(ParseWatchEventType(WatchEventTypeName(type)), type);
  }
  EXPECT_EQ(ParseWatchEventType("added"), std::nullopt);
}

}  // namespace
}  // namespace drover::kube
