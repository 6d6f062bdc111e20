#include "droverctl/table.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace drover::ctl {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Columns start where the widest cell above or below them ends plus three spaces, as kubectl's.
TEST(TextTableTest, AlignsColumnsToTheWidestCell) {
  Table table({"MEMBER", "STATE", "RSS"});
  table.AddRow({"web-7d9f-abcde", "READY", "1.5GiB"});
  table.AddRow({"db-0", "DRAINING", "12MiB"});
  EXPECT_EQ(table.Render(),
            "MEMBER           STATE      RSS\n"
            "web-7d9f-abcde   READY      1.5GiB\n"
            "db-0             DRAINING   12MiB\n");
}

// No line ends in spaces, even when its last cell is empty.
TEST(TextTableTest, NoTrailingSpaces) {
  Table table({"A", "B"});
  table.AddRow({"long value", ""});
  for (const std::string& line : Lines(table.Render())) {
    EXPECT_NE(line.back(), ' ') << "'" << line << "'";
  }
}

// A short row is padded with empty cells; an over-long one is cut to the headers.
TEST(TextTableTest, RowsTakeTheHeadersWidth) {
  Table table({"A", "B", "C"});
  table.AddRow({"1"});
  table.AddRow({"1", "2", "3", "4"});
  EXPECT_EQ(table.Render(), "A   B   C\n1\n1   2   3\n");
}

// Only the header when there are no rows.
TEST(TextTableTest, HeaderOnly) {
  EXPECT_EQ(Table({"GROUP", "VERSION"}).Render(), "GROUP   VERSION\n");
}

// Multi-byte characters count as one column each, so non-ASCII names keep columns straight.
TEST(TextTableTest, CountsCodePointsNotBytes) {
  EXPECT_EQ(DisplayWidth("caf\xc3\xa9"), 4u);
  Table table({"NAME", "X"});
  table.AddRow({"caf\xc3\xa9", "1"});
  table.AddRow({"abcd", "2"});
  std::vector<std::string> lines = Lines(table.Render());
  EXPECT_EQ(lines[1], "caf\xc3\xa9   1");
  EXPECT_EQ(lines[2], "abcd   2");
}

TEST(HumanBytesTest, BinaryUnits) {
  EXPECT_EQ(HumanBytes(0), "0B");
  EXPECT_EQ(HumanBytes(1023), "1023B");
  EXPECT_EQ(HumanBytes(1024), "1.0KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5KiB");
  EXPECT_EQ(HumanBytes(10 * 1024), "10KiB");
  EXPECT_EQ(HumanBytes(312ull * 1024 * 1024), "312MiB");
  EXPECT_EQ(HumanBytes(1536ull * 1024 * 1024), "1.5GiB");
  EXPECT_EQ(HumanBytes(3ull << 40), "3.0TiB");
}

// Rounding never prints 1024 of a unit: it moves to the next one.
TEST(HumanBytesTest, RoundsIntoTheNextUnit) {
  EXPECT_EQ(HumanBytes(1024 * 1024 - 1), "1.0MiB");
  EXPECT_EQ(HumanBytes(1023ull * 1024 * 1024), "1023MiB");
  EXPECT_EQ(HumanBytes(static_cast<uint64_t>(9.96 * 1024)), "10KiB");
  EXPECT_EQ(HumanBytes(~0ull), "16EiB");
}

TEST(HumanCountTest, ExactBelowAMillion) {
  EXPECT_EQ(HumanCount(0), "0");
  EXPECT_EQ(HumanCount(999999), "999999");
  EXPECT_EQ(HumanCount(1000000), "1.0M");
  EXPECT_EQ(HumanCount(2500000), "2.5M");
  EXPECT_EQ(HumanCount(123456789), "123M");
  EXPECT_EQ(HumanCount(999999999), "1.0G");
}

TEST(ShortVersionTest, FirstEightHexDigits) {
  EXPECT_EQ(ShortVersion("0123456789abcdef"), "01234567");
  EXPECT_EQ(ShortVersion("abc"), "abc");
  EXPECT_EQ(ShortVersion(""), "-");
}

}  // namespace
}  // namespace drover::ctl
