#include "common/api/request_checks.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"

namespace tartan::api {

absl::Status CheckCollection(const std::string& collection) {
  if (collection.empty() || collection == kDefaultCollection) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("unknown collection '", collection,
                                          "' (this deployment serves only '", kDefaultCollection,
                                          "')"));
}

absl::Status CheckDocumentId(const std::string& id, const std::string& field) {
  if (id.empty() || id.size() > static_cast<size_t>(kMaxIdBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": id must be 1..", kMaxIdBytes, " bytes, got ", id.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckK(uint32_t k) {
  if (k < 1 || k > static_cast<uint32_t>(kMaxK)) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [1, ", kMaxK, "], got ", k));
  }
  return absl::OkStatus();
}

absl::Status CheckNonBlankText(const std::string& text, const std::string& field) {
  const bool blank = std::all_of(
      text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (blank) return absl::InvalidArgumentError(absl::StrCat(field, ": text is empty"));
  return absl::OkStatus();
}

}  // namespace tartan::api
