// The request limits of the public API (documented in proto/tartan/v1/*.proto) and the checks
// every service applies to them, so the router and the shards answer alike.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace tartan::api {

inline constexpr int kMaxIdBytes = 256;
inline constexpr int kMaxTokensPerDocument = 16384;
inline constexpr int kMaxQueryTokens = 1024;
inline constexpr int kMaxK = 1000;
inline constexpr int kMaxDocumentsPerRequest = 1000;
inline constexpr char kDefaultCollection[] = "default";

// "" and "default" name the one collection; anything else is NOT_FOUND.
absl::Status CheckCollection(const std::string& collection);
// 1..kMaxIdBytes bytes, else INVALID_ARGUMENT naming `field`.
absl::Status CheckDocumentId(const std::string& id, const std::string& field);
// 1..kMaxK, else INVALID_ARGUMENT.
absl::Status CheckK(uint32_t k);
// Text with at least one non-whitespace byte, else INVALID_ARGUMENT naming `field`.
absl::Status CheckNonBlankText(const std::string& text, const std::string& field);

}  // namespace tartan::api
