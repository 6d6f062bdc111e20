#include "common/cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/flags/internal/program_name.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#ifndef DROVER_VERSION
#define DROVER_VERSION "0.0.0"
#endif

namespace drover {
namespace {

// Flag names are identifiers; users type --peer-port as often as --peer_port.
std::string NormalizeName(std::string arg) {
  size_t start = arg[1] == '-' ? 2 : 1;
  size_t end = arg.find('=');
  if (end == std::string::npos) end = arg.size();
  for (size_t k = start; k < end; ++k) {
    if (arg[k] == '-') arg[k] = '_';
  }
  return arg;
}

}  // namespace

std::string_view ProjectVersion() { return DROVER_VERSION; }

void ExitUsage(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(message.size()), message.data());
  std::exit(2);
}

std::vector<std::string> ParseFlagsOrExit(int argc, char** argv, const CliSpec& spec) {
  absl::SetProgramUsageMessage(spec.usage);
  absl::FlagsUsageConfig usage_config;
  std::string flag_dir = spec.flag_dir;
  std::string program = spec.program;
  // Abseil heads each group of flags with its source file; --help shows the program's name
  // instead ("Flags from drover-sidecar:"), never a path of the machine that built it.
  usage_config.normalize_filename = [flag_dir, program](absl::string_view file) {
    if (absl::StrContains(file, flag_dir)) return program;
    for (const char* root : {"controller/", "sidecar/", "droverctl/", "bench/", "common/"}) {
      size_t at = file.rfind(root);
      if (at != absl::string_view::npos) return std::string(file.substr(at));
    }
    return std::string(file);
  };
  usage_config.contains_help_flags = [program](absl::string_view file) { return file == program; };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::flags_internal::SetProgramInvocationName(spec.program);

  std::vector<std::string> storage;
  storage.reserve(static_cast<size_t>(argc));
  bool after_double_dash = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") after_double_dash = true;
    if (i > 0 && !after_double_dash && arg.size() > 2 && arg[0] == '-') {
      arg = NormalizeName(std::move(arg));
      absl::string_view body = absl::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
      absl::string_view name = body.substr(0, body.find('='));
      if (name == "help" || name == "helpfull" || name == "h") {
        absl::flags_internal::FlagsHelp(std::cout, program,
                                        absl::flags_internal::HelpFormat::kHumanReadable,
                                        absl::ProgramUsageMessage());
        std::exit(0);
      }
      if (name == "version") {
        std::printf("%s %.*s\n", spec.program.c_str(), static_cast<int>(ProjectVersion().size()),
                    ProjectVersion().data());
        std::exit(0);
      }
      // Abseil exits 1 on its own for these; Drover's contract is one line and exit 2.
      absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      bool negated = false;
      if (flag == nullptr && absl::StartsWith(name, "no")) {
        flag = absl::FindCommandLineFlag(name.substr(2));
        negated = flag != nullptr;
      }
      // Messages name the flag as users type it, with dashes.
      std::string shown(name);
      std::replace(shown.begin(), shown.end(), '_', '-');
      if (flag == nullptr) {
        ExitUsage(spec.program, absl::StrCat("unknown flag --", shown, " (see --help)"));
      }
      size_t eq = body.find('=');
      std::string value;
      if (eq != absl::string_view::npos) {
        value = std::string(body.substr(eq + 1));
      } else if (negated) {
        value = "false";
      } else if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[i + 1];
      } else {
        ExitUsage(spec.program, absl::StrCat("--", shown, " needs a value"));
      }
      std::string error;
      if (!flag->ParseFrom(value, &error)) {
        ExitUsage(spec.program, absl::StrCat("--", shown, ": ", error));
      }
      if (eq == absl::string_view::npos && !negated && !flag->IsOfType<bool>()) {
        // "--flag value": the value is the flag's, even when it starts with '-' or is "--".
        storage.push_back(std::move(arg));
        storage.emplace_back(argv[++i]);
        continue;
      }
    }
    storage.push_back(std::move(arg));
  }
  std::vector<char*> args;
  args.reserve(storage.size());
  for (std::string& s : storage) args.push_back(s.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  std::vector<std::string> result;
  for (size_t i = 1; i < positional.size(); ++i) result.emplace_back(positional[i]);
  if (!spec.allow_positional && !result.empty()) {
    ExitUsage(spec.program, absl::StrCat("unexpected argument '", result[0], "' (see --help)"));
  }
  return result;
}

}  // namespace drover
