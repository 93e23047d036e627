#include "common/config.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tartan {

namespace {

// The source root this file was compiled under: __FILE__ minus "common/config.cc" (empty when
// the compiler was given a relative path).
absl::string_view SourceRoot() {
  constexpr absl::string_view kThisFile = __FILE__;
  constexpr absl::string_view kSuffix = "common/config.cc";
  if (!absl::EndsWith(kThisFile, kSuffix)) return {};
  return kThisFile.substr(0, kThisFile.size() - kSuffix.size());
}

}  // namespace

std::string NormalizeFlagFilename(absl::string_view filename) {
  const absl::string_view root = SourceRoot();
  if (!root.empty()) absl::ConsumePrefix(&filename, root);
  return std::string(filename);
}

bool IsTartanFlagFile(absl::string_view filename) {
  return absl::StartsWith(filename, "services/") || absl::StartsWith(filename, "common/");
}

namespace {

enum class HelpRequest { kNone, kOwnFlags, kAllFlags };

// --help / --helpshort: Tartan's flags; --helpfull: every flag. Other absl usage flags
// (--help=substring, --helpon, --version, ...) are left to absl.
HelpRequest FindHelpRequest(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;  // positional arguments follow
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    if (arg == "help" || arg == "helpshort") return HelpRequest::kOwnFlags;
    if (arg == "helpfull") return HelpRequest::kAllFlags;
  }
  return HelpRequest::kNone;
}

// Prints the usage and the flags (of Tartan's files, or all) grouped by defining file, each
// with the value this run would use (its default, or its TARTAN_* variable when set).
void PrintFlagsHelp(const std::string& usage, HelpRequest request) {
  std::map<std::string, std::map<std::string, const absl::CommandLineFlag*>> by_file;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string file = NormalizeFlagFilename(flag->Filename());
    if (request == HelpRequest::kOwnFlags && !IsTartanFlagFile(file)) continue;
    by_file[std::move(file)][std::string(name)] = flag;
  }
  std::string out = absl::StrCat(
      usage,
      "\n\nEach flag is shown with the value it would take now: its default, or its environment\n"
      "variable TARTAN_<FLAG_NAME> (e.g. TARTAN_GRPC_PORT=50061) when set; the command line\n"
      "wins over the environment.",
      request == HelpRequest::kOwnFlags ? " --helpfull also lists the libraries' flags." : "",
      "\n");
  for (const auto& [file, flags] : by_file) {
    absl::StrAppend(&out, "\nFlags from ", file, ":\n");
    for (const auto& [name, flag] : flags) {
      const std::string value = flag->IsOfType<std::string>()
                                    ? absl::StrCat("\"", flag->CurrentValue(), "\"")
                                    : flag->CurrentValue();
      absl::StrAppend(&out, "  --", name, "=", value, "\n      ", flag->Help(), "\n");
    }
  }
  std::fputs(out.c_str(), stdout);
}

}  // namespace

std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage) {
  absl::FlagsUsageConfig config;
  config.normalize_filename = NormalizeFlagFilename;
  config.contains_help_flags = IsTartanFlagFile;
  config.contains_helpshort_flags = IsTartanFlagFile;
  config.contains_helppackage_flags = IsTartanFlagFile;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string env_name = absl::StrCat("TARTAN_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(env_name.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::fprintf(stderr, "invalid value for %s (flag --%s): %s\n", env_name.c_str(),
                   std::string(name).c_str(), error.c_str());
      std::exit(2);
    }
  }
  // absl's own --help lists only flags defined in <program>.cc (no Tartan binary has one, so
  // it printed "No flags matched") and exits 1; a help request is answered here, exit 0.
  if (const HelpRequest help = FindHelpRequest(argc, argv); help != HelpRequest::kNone) {
    PrintFlagsHelp(usage, help);
    std::exit(0);
  }
  return absl::ParseCommandLine(argc, argv);
}

absl::Status CheckPort(const char* name, int port, bool allow_zero) {
  if (port < (allow_zero ? 0 : 1) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a TCP port in [",
                                                   (allow_zero ? 0 : 1), ", 65535], got ", port));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* name, long long value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be > 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckRange(const char* name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

}  // namespace tartan
