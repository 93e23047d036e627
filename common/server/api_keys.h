// API keys for the router's client API. A key file holds one key per line:
//
//   # comment
//   read            3c0b9e...      (SCOPES KEY; SCOPES a comma-separated subset of
//   read,write      9f41aa...       read, write, admin)
//   admin           77d2c1...
//
// Clients send `authorization: Bearer KEY`. A missing or unknown key is UNAUTHENTICATED; a
// known key without the method's scope is PERMISSION_DENIED. Scopes are independent: a key
// gets exactly the scopes listed (write does not imply read). Keys are compared in constant
// time and never logged; error messages name line numbers, not keys. The file is re-read when
// it changes (mtime, size or inode), so adding or revoking a key needs no restart; a file that
// no longer parses leaves the previous keys in force (with a warning).
//
// No gRPC here: the router's edge (services/router/authorized_router.*) reads the header and
// converts the status.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace tartan {

enum class Scope : uint8_t { kRead = 1, kWrite = 2, kAdmin = 4 };
using ScopeSet = uint8_t;  // OR of Scope values

const char* ScopeName(Scope scope);
absl::StatusOr<Scope> ParseScope(absl::string_view name);

struct ApiKey {
  std::string key;
  ScopeSet scopes = 0;
};

// Parses a key file's text. Errors name the line ("line 3: unknown scope \"wirte\""), never
// a key. Duplicate keys are an error.
absl::StatusOr<std::vector<ApiKey>> ParseApiKeys(absl::string_view text);

// The scope a full gRPC method name ("/tartan.v1.Router/Search") needs:
//   read:  Search, SearchBatch, Rerank
//   write: AddDocuments, AddDocumentsStream, DeleteDocuments
//   admin: ClusterStatus, and any other tartan.v1.Router method (fail closed)
// std::nullopt for the open services: grpc.health.v1.Health and server reflection.
std::optional<Scope> RequiredScope(absl::string_view full_method);

// Equality whose running time depends on the lengths only, not on where the bytes differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Extracts KEY from an `authorization` header value "Bearer KEY" (scheme case-insensitive);
// "" when the value is not a bearer token.
absl::string_view BearerToken(absl::string_view authorization);

class ApiKeyStore {
 public:
  // Reads and parses `path`; fails when the file cannot be read or parsed.
  static absl::StatusOr<std::unique_ptr<ApiKeyStore>> Open(const std::string& path);
  // A store over fixed keys (tests); never reloads.
  explicit ApiKeyStore(std::vector<ApiKey> keys);

  // OK when `authorization` (the header value, "Bearer KEY") names a key holding `required`;
  // Unauthenticated for a missing/unknown key; PermissionDenied for a missing scope.
  // Re-reads the file first if it changed.
  absl::Status Authorize(absl::string_view authorization, Scope required);

  size_t size() const;

 private:
  struct FileStamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp StampOf(const std::string& path);  // size -1 when it cannot be read
  ApiKeyStore(std::string path, FileStamp stamp, std::vector<ApiKey> keys);
  void ReloadIfChanged();

  const std::string path_;  // "" for fixed keys
  mutable absl::Mutex mu_;
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<ApiKey>> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tartan
