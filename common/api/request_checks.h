// The request limits of the public API (documented in proto/tartan/v1/*.proto and README's
// Configuration section) and the checks every service applies to them, so the router and the
// shards answer alike. Every limit a client controls lives here; a violation is
// INVALID_ARGUMENT naming the field and the limit. Error messages never echo more than
// kMaxEchoBytes of client input (ClientText).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tartan/v1/common.pb.h"

namespace tartan::api {

inline constexpr int kMaxIdBytes = 256;               // document id, 1..256 bytes
inline constexpr int kMaxCollectionBytes = 64;        // collection name
inline constexpr int kMaxTokensPerDocument = 16384;   // vectors per document
inline constexpr int kMaxQueryTokens = 1024;          // vectors per query
inline constexpr int kMaxK = 1000;                    // search k
inline constexpr int kMaxDocumentsPerRequest = 1000;  // documents / ids / texts per request
inline constexpr int kMaxNprobe = 256;                // SearchParams.nprobe
inline constexpr int kMaxCandidatesApprox = 16384;    // SearchParams.candidates_approx
inline constexpr int kMaxCandidatesExact = 2048;      // SearchParams.candidates_exact
inline constexpr int kMaxFilterDepth = 16;            // nesting of And/Or
inline constexpr int kMaxFilterClauses = 64;          // children of one And/Or
inline constexpr int kMaxFilterValues = 1024;         // values of one In
inline constexpr int kMaxFilterNodes = 1024;          // clauses in the whole filter
inline constexpr int kMaxIdSubset = 10000;            // id_subset entries
inline constexpr int kMaxMetadataKeys = 64;           // metadata entries per document
inline constexpr int kMaxMetadataBytes = 16384;       // keys + values per document
inline constexpr int kMaxBatchQueries = 256;          // SearchBatch requests
inline constexpr int kMaxEchoBytes = 64;              // client input quoted in an error
inline constexpr char kDefaultCollection[] = "default";

// At most kMaxEchoBytes of `text` (cut on a UTF-8 boundary, invalid bytes as '?'), with
// "... (N bytes)" when cut: safe to put into an error message.
std::string ClientText(std::string_view text);

// "" and "default" name the one collection; anything else is NOT_FOUND (longer than
// kMaxCollectionBytes: INVALID_ARGUMENT).
absl::Status CheckCollection(const std::string& collection);
// 1..kMaxIdBytes bytes, else INVALID_ARGUMENT naming `field`.
absl::Status CheckDocumentId(const std::string& id, const std::string& field);
// Every id checked, and at most kMaxDocumentsPerRequest of them.
absl::Status CheckDocumentIds(const google::protobuf::RepeatedPtrField<std::string>& ids,
                              const std::string& field);
// 1..kMaxK, else INVALID_ARGUMENT.
absl::Status CheckK(uint32_t k);
// Text with at least one non-whitespace byte, else INVALID_ARGUMENT naming `field`.
absl::Status CheckNonBlankText(const std::string& text, const std::string& field);
// `count` items of `field` within 0..limit.
absl::Status CheckCount(int64_t count, int64_t limit, const std::string& field);
// nprobe, candidate depths, a finite centroid_score_threshold, and exact only when allowed
// (the --allow_exact_search flag of the router and the indexer).
absl::Status CheckSearchParams(const tartan::v1::SearchParams& params, bool allow_exact);
// Depth, clauses per And/Or, values per In, clauses in all, non-empty keys.
absl::Status CheckFilter(const tartan::v1::Filter& filter);
// At most kMaxIdSubset ids, each a valid id.
absl::Status CheckIdSubset(const google::protobuf::RepeatedPtrField<std::string>& ids);
// At most kMaxMetadataKeys entries and kMaxMetadataBytes of keys and values.
absl::Status CheckMetadata(const google::protobuf::Map<std::string, std::string>& metadata,
                           const std::string& field);

}  // namespace tartan::api
