#include "droverctl/usage.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What main.cc's lookup answers for the flags these tests use.
FlagKind Lookup(std::string_view name) {
  if (name == "json" || name == "watch" || name == "all") return FlagKind::kBool;
  if (name == "addr" || name == "namespace" || name == "replicas" || name == "group") {
    return FlagKind::kValue;
  }
  return FlagKind::kUnknown;
}

// kubectl's -n works in both forms; -h is --help; nothing after "--" is touched.
TEST(ExpandShortFlagsTest, NamespaceAndHelp) {
  EXPECT_THAT(
      ExpandShortFlags({"status", "-n", "shop", "-n=web", "-h", "--", "-n"}),
      ElementsAre("status", "--namespace", "shop", "--namespace=web", "--help", "--", "-n"));
}

// A flag's separate value is not taken for the command.
TEST(ScanArgsTest, FindsTheCommandAfterFlagValues) {
  ScannedArgs scan = ScanArgs(
      {"--addr", "127.0.0.1:7000", "--json", "scale", "--replicas", "3", "deploy/web"}, Lookup);
  EXPECT_THAT(scan.positional, ElementsAre("scale", "deploy/web"));
  EXPECT_THAT(scan.flags, ElementsAre("addr", "json", "replicas"));
  EXPECT_FALSE(scan.help);
}

// Dashes and underscores, one or two leading dashes, and "no" before a bool flag.
TEST(ScanArgsTest, NormalizesFlagNames) {
  ScannedArgs scan = ScanArgs({"-watch", "--nojson", "--watch-count=2", "status"}, Lookup);
  EXPECT_THAT(scan.flags, ElementsAre("watch", "json", "watch_count"));
  EXPECT_THAT(scan.positional, ElementsAre("status"));
}

TEST(ScanArgsTest, HelpAnywhere) {
  EXPECT_TRUE(ScanArgs({"scale", "--help"}, Lookup).help);
  EXPECT_TRUE(ScanArgs({"--helpfull"}, Lookup).help);
  EXPECT_EQ(ScanArgs({"scale", "--help"}, Lookup).positional[0], "scale");
}

TEST(ScanArgsTest, DoubleDashEndsFlags) {
  ScannedArgs scan = ScanArgs({"drain", "--", "--odd-pod-name"}, Lookup);
  EXPECT_THAT(scan.positional, ElementsAre("drain", "--odd-pod-name"));
  EXPECT_TRUE(scan.flags.empty());
}

TEST(CommandSpecTest, EveryCommandIsFound) {
  for (const char* name : {"status", "members", "scale", "drain", "undrain", "restart"}) {
    ASSERT_NE(FindCommand(name), nullptr) << name;
    EXPECT_THAT(MainUsage(), HasSubstr(name));
  }
  EXPECT_EQ(FindCommand("get"), nullptr);
}

// A flag of another command is refused by name; global flags go anywhere.
TEST(CheckCommandLineTest, FlagsBelongToTheirCommand) {
  const CommandSpec& drain = *FindCommand("drain");
  EXPECT_TRUE(CheckCommandLine(drain, {"addr", "json", "namespace"}, 1).ok());
  absl::Status status = CheckCommandLine(drain, {"replicas"}, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--replicas is a flag of droverctl scale"));
  EXPECT_TRUE(
      CheckCommandLine(*FindCommand("status"), {"watch", "watch_count", "interval"}, 0).ok());
}

TEST(CheckCommandLineTest, PositionalArguments) {
  EXPECT_FALSE(CheckCommandLine(*FindCommand("drain"), {}, 0).ok());
  EXPECT_FALSE(CheckCommandLine(*FindCommand("drain"), {}, 2).ok());
  EXPECT_FALSE(CheckCommandLine(*FindCommand("status"), {}, 1).ok());
  EXPECT_TRUE(CheckCommandLine(*FindCommand("restart"), {"all"}, 0).ok());
  EXPECT_TRUE(CheckCommandLine(*FindCommand("restart"), {}, 1).ok());
}

// A command's help shows its synopsis and flags, without Abseil's registry in this test.
TEST(CommandHelpTest, SynopsisAndFlags) {
  std::string help = CommandHelp(*FindCommand("scale"));
  EXPECT_THAT(help, HasSubstr("Usage:\n  droverctl scale (deployment|statefulset)/NAME"));
  EXPECT_THAT(help, HasSubstr("--replicas=N"));
  EXPECT_THAT(help, HasSubstr("-n, --namespace=NAMESPACE"));
}

}  // namespace
}  // namespace drover::ctl
