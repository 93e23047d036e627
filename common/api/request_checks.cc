#include "common/api/request_checks.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tartan::api {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t j) { return static_cast<unsigned char>(s[j]); };
  const unsigned char c = byte(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t j = 1; j < n; ++j) {
    if ((byte(i + j) & 0xC0) != 0x80) return 0;
  }
  return n;
}

absl::Status CheckFilterNode(const tartan::v1::Filter& filter, int depth, int* nodes) {
  if (depth > kMaxFilterDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter: nested deeper than the limit of ", kMaxFilterDepth, " levels"));
  }
  if (++*nodes > kMaxFilterNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter: more than the limit of ", kMaxFilterNodes, " clauses in all"));
  }
  switch (filter.kind_case()) {
    case tartan::v1::Filter::kEquals:
      if (filter.equals().key().empty()) return absl::InvalidArgumentError("filter: empty key");
      return absl::OkStatus();
    case tartan::v1::Filter::kIn:
      if (filter.in().key().empty()) return absl::InvalidArgumentError("filter: empty key");
      return CheckCount(filter.in().values_size(), kMaxFilterValues, "filter.in.values");
    case tartan::v1::Filter::kAnd:
    case tartan::v1::Filter::kOr: {
      const auto& clauses = filter.kind_case() == tartan::v1::Filter::kAnd ? filter.and_().clauses()
                                                                           : filter.or_().clauses();
      if (clauses.size() > kMaxFilterClauses) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: ", clauses.size(), " clauses in one and/or exceed the limit of ",
                         kMaxFilterClauses));
      }
      for (const auto& clause : clauses) {
        if (auto status = CheckFilterNode(clause, depth + 1, nodes); !status.ok()) return status;
      }
      return absl::OkStatus();
    }
    case tartan::v1::Filter::KIND_NOT_SET:
      return absl::InvalidArgumentError("filter: a clause sets none of equals/in/and/or");
  }
  return absl::InvalidArgumentError("filter: unknown clause");
}

}  // namespace

std::string ClientText(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = Utf8SequenceLength(text, i);
    if (out.size() + std::max<size_t>(n, 1) > static_cast<size_t>(kMaxEchoBytes)) break;
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  if (i < text.size()) absl::StrAppend(&out, "... (", text.size(), " bytes)");
  return out;
}

absl::Status CheckCollection(const std::string& collection) {
  if (collection.empty() || collection == kDefaultCollection) return absl::OkStatus();
  if (collection.size() > static_cast<size_t>(kMaxCollectionBytes)) {
    return absl::InvalidArgumentError(absl::StrCat("collection: name of ", collection.size(),
                                                   " bytes exceeds the limit of ",
                                                   kMaxCollectionBytes));
  }
  return absl::NotFoundError(absl::StrCat("unknown collection '", ClientText(collection),
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

absl::Status CheckDocumentIds(const google::protobuf::RepeatedPtrField<std::string>& ids,
                              const std::string& field) {
  if (auto status = CheckCount(ids.size(), kMaxDocumentsPerRequest, field); !status.ok()) {
    return status;
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (auto status = CheckDocumentId(ids[i], absl::StrCat(field, "[", i, "]")); !status.ok()) {
      return status;
    }
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

absl::Status CheckCount(int64_t count, int64_t limit, const std::string& field) {
  if (count > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", count, " exceeds the limit of ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckSearchParams(const tartan::v1::SearchParams& params, bool allow_exact) {
  if (auto s = CheckCount(params.nprobe(), kMaxNprobe, "params.nprobe"); !s.ok()) return s;
  if (auto s =
          CheckCount(params.candidates_approx(), kMaxCandidatesApprox, "params.candidates_approx");
      !s.ok()) {
    return s;
  }
  if (auto s =
          CheckCount(params.candidates_exact(), kMaxCandidatesExact, "params.candidates_exact");
      !s.ok()) {
    return s;
  }
  if (params.has_centroid_score_threshold() && !std::isfinite(params.centroid_score_threshold())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params.centroid_score_threshold must be finite, got ", params.centroid_score_threshold()));
  }
  if (params.exact() && !allow_exact) {
    return absl::InvalidArgumentError(
        "params.exact: brute-force search is disabled on this service (--allow_exact_search)");
  }
  return absl::OkStatus();
}

absl::Status CheckFilter(const tartan::v1::Filter& filter) {
  int nodes = 0;
  return CheckFilterNode(filter, 0, &nodes);
}

absl::Status CheckIdSubset(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (auto status = CheckCount(ids.size(), kMaxIdSubset, "id_subset"); !status.ok()) return status;
  for (int i = 0; i < ids.size(); ++i) {
    if (auto status = CheckDocumentId(ids[i], absl::StrCat("id_subset[", i, "]")); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMetadata(const google::protobuf::Map<std::string, std::string>& metadata,
                           const std::string& field) {
  if (auto status = CheckCount(static_cast<int64_t>(metadata.size()), kMaxMetadataKeys,
                               field + ".metadata keys");
      !status.ok()) {
    return status;
  }
  size_t bytes = 0;
  for (const auto& [key, value] : metadata) {
    if (key.empty()) return absl::InvalidArgumentError(field + ".metadata: empty key");
    bytes += key.size() + value.size();
  }
  return CheckCount(static_cast<int64_t>(bytes), kMaxMetadataBytes, field + ".metadata bytes");
}

}  // namespace tartan::api
