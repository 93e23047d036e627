// A small command-line parser for tartanctl sub-commands: --name value, --name=value and
// boolean --name switches, validated against the command's declared flags.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::cli {

struct FlagSpec {
  const char* name;  // without the leading "--"
  const char* value_name;  // nullptr for a boolean switch
  const char* help;
};

class Args {
 public:
  // argv[0] is the command name. Unknown flags, missing values and positional arguments are
  // InvalidArgument naming the flag.
  static absl::StatusOr<Args> Parse(int argc, char** argv, const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const { return values_.contains(name); }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Integer value (InvalidArgument naming the flag when not an integer in [lo, hi]).
  absl::StatusOr<long long> GetInt(const std::string& name, long long fallback, long long lo,
                                   long long hi) const;

 private:
  std::map<std::string, std::string> values_;
};

// "usage: tartanctl <command> <synopsis>" followed by one line per flag.
std::string Usage(const char* command, const char* synopsis, const std::vector<FlagSpec>& specs);

}  // namespace tartan::cli
