// droverctl's command line: its commands, which flags each takes, and the help each prints.
// The flags themselves are Abseil flags (main.cc) parsed by drover::ParseFlagsOrExit; this
// file adds what Abseil has no notion of: subcommands, `-n` for --namespace, and
// `droverctl COMMAND --help`.
//
//   std::vector<std::string> args = ExpandShortFlags({argv + 1, argv + argc});
//   ScannedArgs scan = ScanArgs(args, LookupFlag);
//   const CommandSpec* command = scan.positional.empty() ? nullptr
//                                                        : FindCommand(scan.positional[0]);
//   if (scan.help && command != nullptr) print CommandHelp(*command), exit 0;
#ifndef DROVER_DROVERCTL_USAGE_H_
#define DROVER_DROVERCTL_USAGE_H_

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace drover::ctl {

struct CommandFlag {
  std::string_view name;         // as Abseil knows it: "watch_count"
  std::string_view placeholder;  // "N" in --watch-count=N; "" for a bool
};

struct CommandSpec {
  std::string_view name;
  std::string_view summary;        // one line, in the command list of droverctl --help
  std::string_view synopsis;       // "droverctl scale TYPE/NAME [--replicas=N] [-n NAMESPACE]"
  std::string_view examples;       // lines, each starting with two spaces
  std::vector<CommandFlag> flags;  // its own flags; the global ones are accepted everywhere
  size_t min_args = 0;             // positional arguments after the command's name
  size_t max_args = 0;
};

std::span<const CommandSpec> Commands();
const CommandSpec* FindCommand(std::string_view name);

// Flags every command takes.
std::span<const CommandFlag> GlobalFlags();

// The text droverctl --help prints above the flag list.
std::string MainUsage();

// droverctl COMMAND --help. Flag descriptions come from the registered Abseil flags.
std::string CommandHelp(const CommandSpec& command);

// kubectl's short forms, which Abseil does not have: -n NS, -n=NS -> --namespace; -h -> --help.
std::vector<std::string> ExpandShortFlags(std::vector<std::string> args);

enum class FlagKind { kUnknown, kBool, kValue };

struct ScannedArgs {
  std::vector<std::string> flags;       // names given, dashes as underscores, "no" dropped
  std::vector<std::string> positional;  // the command and its arguments
  bool help = false;                    // --help, -h, --helpfull or --helpshort
};

// A first look at the arguments, before Abseil parses them, to find the command and which
// flags were given. `lookup` tells whether a flag takes a value, so that in `--addr HOST:PORT
// status` the address is not mistaken for the command.
ScannedArgs ScanArgs(const std::vector<std::string>& args,
                     const std::function<FlagKind(std::string_view)>& lookup);

// The flags given that belong to another command (--replicas on drain), and the number of
// positional arguments: INVALID_ARGUMENT with a one-line message otherwise.
absl::Status CheckCommandLine(const CommandSpec& command, const std::vector<std::string>& flags,
                              size_t args);

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_USAGE_H_
