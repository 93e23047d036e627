#include "services/router/lib/write_split.h"

#include "absl/strings/str_cat.h"

namespace tartan::router {

absl::StatusOr<std::vector<std::pair<size_t, size_t>>> SplitBySize(const std::vector<size_t>& sizes,
                                                                   size_t max_bytes) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t begin = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("item ", i, ": ", sizes[i],
                                                     " bytes encoded exceed the message limit of ",
                                                     max_bytes, " bytes"));
    }
    if (bytes + sizes[i] > max_bytes) {
      ranges.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += sizes[i];
  }
  if (begin < sizes.size()) ranges.emplace_back(begin, sizes.size());
  return ranges;
}

}  // namespace tartan::router
