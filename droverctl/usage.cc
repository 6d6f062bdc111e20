#include "droverctl/usage.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace drover::ctl {

namespace {

const std::vector<CommandSpec>& CommandTable() {
  static const std::vector<CommandSpec>* const commands = new std::vector<CommandSpec>{
      {.name = "status",
       .summary = "members with their workers, load and memory; groups; controller replicas",
       .synopsis = "droverctl status [-n NAMESPACE] [--watch [--interval=2s]]",
       .examples = "  droverctl status -n shop\n"
                   "  droverctl status -n shop --watch            # refresh in place until "
                   "Ctrl-C\n"
                   "  droverctl status --json | jq '.members[] | select(.connected | not)'\n",
       .flags = {{"watch", ""}, {"interval", "DURATION"}, {"watch_count", "N"}}},
      {.name = "members",
       .summary = "list the members (pods running drover-sidecar) and their state",
       .synopsis = "droverctl members [-n NAMESPACE] [--group=GROUP]",
       .examples = "  droverctl members -n shop\n"
                   "  droverctl members -n shop --group=web\n",
       .flags = {{"group", "GROUP"}}},
      {.name = "scale",
       .summary = "set the replicas of a Deployment or StatefulSet, or show them",
       .synopsis = "droverctl scale (deployment|statefulset)/NAME [--replicas=N] [-n NAMESPACE]",
       .examples = "  droverctl scale deployment/web --replicas=3 -n shop\n"
                   "  droverctl scale sts/db --replicas=0 -n shop\n"
                   "  droverctl scale deploy/web -n shop               # show the current scale\n",
       .flags = {{"replicas", "N"}},
       .min_args = 1,
       .max_args = 1},
      {.name = "drain",
       .summary = "send a member no new sessions; it keeps the ones it has",
       .synopsis = "droverctl drain POD [-n NAMESPACE]",
       .examples = "  droverctl drain web-7d9f-abcde -n shop\n",
       .flags = {},
       .min_args = 1,
       .max_args = 1},
      {.name = "undrain",
       .summary = "let a drained member take new sessions again",
       .synopsis = "droverctl undrain POD [-n NAMESPACE]",
       .examples = "  droverctl undrain web-7d9f-abcde -n shop\n",
       .flags = {},
       .min_args = 1,
       .max_args = 1},
      {.name = "restart",
       .summary = "rolling reload of a member's workers, or of every member one at a time",
       .synopsis = "droverctl restart (POD | --all) [-n NAMESPACE] [--member-timeout=5m]",
       .examples = "  droverctl restart web-7d9f-abcde -n shop\n"
                   "  droverctl restart --all -n shop\n",
       .flags = {{"all", ""}, {"member_timeout", "DURATION"}},
       .min_args = 0,
       .max_args = 1},
  };
  return *commands;
}

constexpr std::array<CommandFlag, 9> kGlobalFlags = {{
    {"addr", "HOST:PORT"},
    {"token_file", "FILE"},
    {"tls_ca", "FILE"},
    {"tls_cert", "FILE"},
    {"tls_key", "FILE"},
    {"tls_server_name", "NAME"},
    {"timeout", "DURATION"},
    {"json", ""},
    {"namespace", "NAMESPACE"},
}};

std::string Dashed(std::string_view name) {
  std::string shown(name);
  std::replace(shown.begin(), shown.end(), '_', '-');
  return shown;
}

// Word-wraps `text` to lines of at most `width` columns, each after `indent`.
std::string Wrap(std::string_view text, std::string_view indent, size_t width) {
  std::string out;
  size_t column = 0;
  for (absl::string_view word : absl::StrSplit(AsAbsl(text), ' ', absl::SkipEmpty())) {
    if (column > 0 && column + 1 + word.size() > width) {
      out += '\n';
      column = 0;
    }
    if (column == 0) {
      absl::StrAppend(&out, AsAbsl(indent), word);
      column = indent.size() + word.size();
    } else {
      absl::StrAppend(&out, " ", word);
      column += 1 + word.size();
    }
  }
  return out;
}

// The Abseil help text of a flag under its name, without the "scale: " or "-n: " that tells
// which command it belongs to in droverctl --help; only the name when the flag is not
// registered (the unit tests link no flags).
std::string FlagHelp(std::string_view command, std::string_view name,
                     std::string_view placeholder) {
  std::string line = name == "namespace" ? "  -n, --namespace" : absl::StrCat("  --", Dashed(name));
  if (!placeholder.empty()) absl::StrAppend(&line, "=", AsAbsl(placeholder));
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(AsAbsl(name));
  if (flag == nullptr) return absl::StrCat(line, "\n");
  std::string help = flag->Help();
  size_t colon = help.find(": ");
  if (colon != std::string::npos && colon < 20 &&
      (absl::StartsWith(help, AsAbsl(command)) || absl::StartsWith(help, "-n:"))) {
    help = help.substr(colon + 2);
  }
  return absl::StrCat(line, "\n", Wrap(help, "      ", 92), "\n");
}

}  // namespace

std::span<const CommandSpec> Commands() { return CommandTable(); }

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& command : CommandTable()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::span<const CommandFlag> GlobalFlags() { return kGlobalFlags; }

std::string MainUsage() {
  std::string out =
      "operates Drover through the controller's admin API (drover.v1.Admin); see "
      "docs/droverctl.md.\n\n"
      "Usage:\n  droverctl COMMAND [ARGS] [flags]\n\nCommands:\n";
  for (const CommandSpec& command : CommandTable()) {
    absl::StrAppend(&out, "  ", AsAbsl(command.name), std::string(10 - command.name.size(), ' '),
                    AsAbsl(command.summary), "\n");
  }
  absl::StrAppend(&out,
                  "\nExamples:\n"
                  "  droverctl status -n shop --watch\n"
                  "  droverctl scale deployment/web --replicas=3 -n shop\n"
                  "  droverctl drain web-7d9f-abcde -n shop\n"
                  "  droverctl restart --all -n shop\n\n"
                  "Environment:\n"
                  "  DROVER_ADDR   default for --addr\n"
                  "  DROVER_TOKEN  the admin token itself (--token-file wins when both are set)\n\n"
                  "Exit codes: 0 success, 1 the controller refused or failed, 2 usage error, 3 the "
                  "controller is unreachable.\n"
                  "`droverctl COMMAND --help` shows one command's arguments and flags.");
  return out;
}

std::string CommandHelp(const CommandSpec& command) {
  std::string out = absl::StrCat("droverctl ", AsAbsl(command.name), ": ", AsAbsl(command.summary),
                                 ".\n\nUsage:\n  ", AsAbsl(command.synopsis), "\n\nExamples:\n",
                                 AsAbsl(command.examples));
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    for (const CommandFlag& flag : command.flags) {
      absl::StrAppend(&out, FlagHelp(command.name, flag.name, flag.placeholder));
    }
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  for (const CommandFlag& flag : kGlobalFlags) {
    absl::StrAppend(&out, FlagHelp(command.name, flag.name, flag.placeholder));
  }
  return out;
}

std::vector<std::string> ExpandShortFlags(std::vector<std::string> args) {
  for (std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "-n") {
      arg = "--namespace";
    } else if (absl::StartsWith(arg, "-n=")) {
      arg = absl::StrCat("--namespace=", arg.substr(3));
    } else if (arg == "-h") {
      arg = "--help";
    }
  }
  return args;
}

ScannedArgs ScanArgs(const std::vector<std::string>& args,
                     const std::function<FlagKind(std::string_view)>& lookup) {
  ScannedArgs scan;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      scan.positional.insert(scan.positional.end(), args.begin() + static_cast<long>(i) + 1,
                             args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      scan.positional.push_back(arg);
      continue;
    }
    std::string_view body = std::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name = Dashed(body.substr(0, eq));
    std::replace(name.begin(), name.end(), '-', '_');
    if (name == "help" || name == "helpfull" || name == "helpshort" || name == "h") {
      scan.help = true;
      continue;
    }
    FlagKind kind = lookup(name);
    if (kind == FlagKind::kUnknown && name.size() > 2 && name.starts_with("no") &&
        lookup(std::string_view(name).substr(2)) == FlagKind::kBool) {
      name = name.substr(2);
      kind = FlagKind::kBool;
    }
    // `--addr HOST:PORT`: the next argument is the value, not a command.
    if (kind == FlagKind::kValue && eq == std::string_view::npos) ++i;
    scan.flags.push_back(std::move(name));
  }
  return scan;
}

absl::Status CheckCommandLine(const CommandSpec& command, const std::vector<std::string>& flags,
                              size_t args) {
  for (const std::string& flag : flags) {
    bool own = std::any_of(command.flags.begin(), command.flags.end(),
                           [&](const CommandFlag& f) { return f.name == flag; });
    if (own) continue;
    for (const CommandSpec& other : CommandTable()) {
      for (const CommandFlag& f : other.flags) {
        if (f.name == flag) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--", Dashed(flag), " is a flag of droverctl ", AsAbsl(other.name), ", not of ",
              AsAbsl(command.name), " (see droverctl ", AsAbsl(command.name), " --help)"));
        }
      }
    }
  }
  if (args < command.min_args || args > command.max_args) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(command.name), ": ",
                     args < command.min_args ? "missing arguments" : "too many arguments",
                     "; usage: ", AsAbsl(command.synopsis)));
  }
  return absl::OkStatus();
}

}  // namespace drover::ctl
