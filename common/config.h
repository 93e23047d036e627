// Configuration: absl flags, each overridable by a TARTAN_<FLAG_NAME_UPPER> environment
// variable (flags on the command line win over the environment). Services fill typed option
// structs from the parsed flags in main and validate them before doing any work.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tartan {

// Applies TARTAN_* environment variables to registered flags, then parses argv.
// Returns the positional arguments (argv[0] first). Exits with a message on a bad value.
// --help (and --helpshort) list the flags defined in Tartan's own sources (services/,
// common/: the binary's flags and the shared server flags) and exit 0; --helpfull adds every
// library's flags.
std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage);

// A flag's defining file relative to the source root ("services/indexer/main.cc"), as --help
// shows it; other paths are returned unchanged.
std::string NormalizeFlagFilename(absl::string_view filename);
// Whether --help lists the flags defined in `filename` (already normalized): Tartan's own
// sources under services/ and common/.
bool IsTartanFlagFile(absl::string_view filename);

// Helpers for option validation; each returns InvalidArgument naming the option.
absl::Status CheckPort(const char* name, int port, bool allow_zero = true);
absl::Status CheckPositive(const char* name, long long value);
absl::Status CheckRange(const char* name, double value, double lo, double hi);

}  // namespace tartan
