// Command-line parsing shared by Drover's programs, on Abseil flags, with the conventions every
// Drover binary keeps: --max-connections and --max_connections are the same flag; --help
// prints the program's own flags and exits 0; an unknown flag or a bad value exits 2 with one
// line naming the flag; --version prints the project's version.
//
//   int main(int argc, char** argv) {
//     std::vector<std::string> args = drover::ParseFlagsOrExit(
//         argc, argv, {.program = "drover-controller", .flag_dir = "controller/",
//                      .usage = "drover-controller --selector=app.kubernetes.io/name=web"});
//     if (absl::GetFlag(FLAGS_selector).empty()) drover::ExitUsage("drover-controller", "--selector
//     is required");
#ifndef DROVER_COMMON_CLI_H_
#define DROVER_COMMON_CLI_H_

#include <string>
#include <string_view>
#include <vector>

namespace drover {

// The project's version, from CMake's project(VERSION).
std::string_view ProjectVersion();

struct CliSpec {
  std::string program;   // as printed in messages: "drover-controller"
  std::string flag_dir;  // source folder whose flags --help lists: "controller/"
  std::string usage;     // the usage line(s) --help prints first
  bool allow_positional = false;
};

// Parses the flags; returns the positional arguments (program name excluded). Exits 0 after
// --help or --version, 2 on any usage error.
std::vector<std::string> ParseFlagsOrExit(int argc, char** argv, const CliSpec& spec);

// Prints "PROGRAM: MESSAGE" to stderr and exits 2.
[[noreturn]] void ExitUsage(std::string_view program, std::string_view message);

}  // namespace drover

#endif  // DROVER_COMMON_CLI_H_
