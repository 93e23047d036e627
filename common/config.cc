#include "common/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tartan {

std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage) {
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
  return absl::ParseCommandLine(argc, argv);
}

absl::Status CheckPort(const char* name, int port, bool allow_zero) {
  if (port < (allow_zero ? 0 : 1) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a TCP port in [", (allow_zero ? 0 : 1),
                     ", 65535], got ", port));
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
