// Configuration: absl flags, each overridable by a TARTAN_<FLAG_NAME_UPPER> environment
// variable (flags on the command line win over the environment). Services fill typed option
// structs from the parsed flags in main and validate them before doing any work.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tartan {

// Applies TARTAN_* environment variables to registered flags, then parses argv.
// Returns the positional arguments (argv[0] first). Exits with a message on a bad value.
std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const std::string& usage);

// Helpers for option validation; each returns InvalidArgument naming the option.
absl::Status CheckPort(const char* name, int port, bool allow_zero = true);
absl::Status CheckPositive(const char* name, long long value);
absl::Status CheckRange(const char* name, double value, double lo, double hi);

}  // namespace tartan
