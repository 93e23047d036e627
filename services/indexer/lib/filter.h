// Metadata filter: an and/or/not tree over equality and set-membership leaves.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tartan::index {

struct Filter {
  enum class Op { kEq, kIn, kAnd, kOr, kNot };
  Op op = Op::kAnd;  // an empty kAnd matches everything
  std::string key;
  std::vector<std::string> values;  // kEq: one value; kIn: the set, sorted (as In makes it)
  std::vector<Filter> children;     // kAnd / kOr: any number; kNot: one

  static Filter Eq(std::string key, std::string value);
  static Filter In(std::string key, std::vector<std::string> values);
  static Filter And(std::vector<Filter> children);
  static Filter Or(std::vector<Filter> children);
  static Filter Not(Filter child);

  bool Matches(const std::map<std::string, std::string>& metadata) const;
};

}  // namespace tartan::index
