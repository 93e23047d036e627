#include "services/indexer/lib/filter.h"

#include <algorithm>

namespace tartan::index {

Filter Filter::Eq(std::string key, std::string value) {
  Filter f;
  f.op = Op::kEq;
  f.key = std::move(key);
  f.values.push_back(std::move(value));
  return f;
}

Filter Filter::In(std::string key, std::vector<std::string> values) {
  Filter f;
  f.op = Op::kIn;
  f.key = std::move(key);
  f.values = std::move(values);
  // Sorted once here, so Matches is a binary search per document (an In may list ~1,000).
  std::sort(f.values.begin(), f.values.end());
  f.values.erase(std::unique(f.values.begin(), f.values.end()), f.values.end());
  return f;
}

Filter Filter::And(std::vector<Filter> children) {
  Filter f;
  f.op = Op::kAnd;
  f.children = std::move(children);
  return f;
}

Filter Filter::Or(std::vector<Filter> children) {
  Filter f;
  f.op = Op::kOr;
  f.children = std::move(children);
  return f;
}

Filter Filter::Not(Filter child) {
  Filter f;
  f.op = Op::kNot;
  f.children.push_back(std::move(child));
  return f;
}

bool Filter::Matches(const std::map<std::string, std::string>& metadata) const {
  switch (op) {
    case Op::kEq:
    case Op::kIn: {
      auto it = metadata.find(key);
      if (it == metadata.end()) return false;
      return std::binary_search(values.begin(), values.end(), it->second);
    }
    case Op::kAnd:
      for (const Filter& c : children)
        if (!c.Matches(metadata)) return false;
      return true;
    case Op::kOr:
      for (const Filter& c : children)
        if (c.Matches(metadata)) return true;
      return false;
    case Op::kNot:
      return children.empty() || !children[0].Matches(metadata);
  }
  return false;
}

}  // namespace tartan::index
