#include "common/server/api_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace tartan {
namespace {

constexpr size_t kWeakKeyChars = 16;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read API key file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

const char* ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kWrite:
      return "write";
    case Scope::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Scope> ParseScope(absl::string_view name) {
  if (name == "read") return Scope::kRead;
  if (name == "write") return Scope::kWrite;
  if (name == "admin") return Scope::kAdmin;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown scope \"", absl::CEscape(name.substr(0, 32)), "\" (want read, write or admin)"));
}

absl::StatusOr<std::vector<ApiKey>> ParseApiKeys(absl::string_view text) {
  std::vector<ApiKey> keys;
  absl::flat_hash_set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "API key file line ", line_number, ": want \"SCOPES KEY\" (e.g. \"read,write KEY\")"));
    }
    ApiKey key;
    for (absl::string_view name : absl::StrSplit(fields[0], ',')) {
      auto scope = ParseScope(name);
      if (!scope.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("API key file line ", line_number, ": ", scope.status().message()));
      }
      key.scopes |= static_cast<ScopeSet>(*scope);
    }
    for (char c : fields[1]) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "API key file line ", line_number, ": a key is printable ASCII without spaces"));
      }
    }
    key.key = std::string(fields[1]);
    if (!seen.insert(key.key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("API key file line ", line_number, ": duplicate key"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

std::optional<Scope> RequiredScope(absl::string_view full_method) {
  if (absl::StartsWith(full_method, "/grpc.health.v1.Health/") ||
      absl::StartsWith(full_method, "/grpc.reflection.")) {
    return std::nullopt;
  }
  static constexpr struct {
    const char* method;
    Scope scope;
  } kTable[] = {
      {"/tartan.v1.Router/Search", Scope::kRead},
      {"/tartan.v1.Router/SearchBatch", Scope::kRead},
      {"/tartan.v1.Router/Rerank", Scope::kRead},
      {"/tartan.v1.Router/AddDocuments", Scope::kWrite},
      {"/tartan.v1.Router/AddDocumentsStream", Scope::kWrite},
      {"/tartan.v1.Router/DeleteDocuments", Scope::kWrite},
      {"/tartan.v1.Router/ClusterStatus", Scope::kAdmin},
  };
  for (const auto& entry : kTable) {
    if (full_method == entry.method) return entry.scope;
  }
  return Scope::kAdmin;  // anything not listed needs the strongest scope
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // volatile: keep the compiler from turning the loop into an early-exit memcmp.
  volatile unsigned char diff = a.size() != b.size() ? 1 : 0;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

absl::string_view BearerToken(absl::string_view authorization) {
  authorization = absl::StripAsciiWhitespace(authorization);
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return "";
  }
  return absl::StripAsciiWhitespace(authorization.substr(kScheme.size()));
}

absl::StatusOr<std::unique_ptr<ApiKeyStore>> ApiKeyStore::Open(const std::string& path) {
  const FileStamp stamp = StampOf(path);
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto keys = ParseApiKeys(*text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", keys.status().message()));
  }
  if (keys->empty()) LOG_WARNING << "API key file " << path << " holds no keys: every call fails";
  for (const ApiKey& key : *keys) {
    if (key.key.size() < kWeakKeyChars) {
      LOG_WARNING << "API key file " << path << " holds a key shorter than " << kWeakKeyChars
                  << " characters; use long random keys (openssl rand -hex 32)";
      break;
    }
  }
  return std::unique_ptr<ApiKeyStore>(new ApiKeyStore(path, stamp, *std::move(keys)));
}

ApiKeyStore::FileStamp ApiKeyStore::StampOf(const std::string& path) {
  FileStamp stamp;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    stamp.size = st.st_size;
    stamp.inode = st.st_ino;
  }
  return stamp;
}

ApiKeyStore::ApiKeyStore(std::vector<ApiKey> keys)
    : ApiKeyStore("", FileStamp{}, std::move(keys)) {}

ApiKeyStore::ApiKeyStore(std::string path, FileStamp stamp, std::vector<ApiKey> keys)
    : path_(std::move(path)),
      stamp_(stamp),
      keys_(std::make_shared<const std::vector<ApiKey>>(std::move(keys))) {}

void ApiKeyStore::ReloadIfChanged() {
  if (path_.empty()) return;
  const FileStamp stamp = StampOf(path_);
  {
    absl::MutexLock lock(&mu_);
    if (stamp == stamp_) return;
    stamp_ = stamp;  // one attempt (and one warning) per change
  }
  auto text = ReadFile(path_);
  auto keys = text.ok() ? ParseApiKeys(*text) : text.status();
  if (!keys.ok()) {
    LOG_WARNING << "API key file changed but cannot be used; keeping the previous keys: "
                << keys.status();
    return;
  }
  LOG_INFO << "API key file " << path_ << " reloaded: " << keys->size() << " key(s)";
  auto next = std::make_shared<const std::vector<ApiKey>>(*std::move(keys));
  absl::MutexLock lock(&mu_);
  keys_ = std::move(next);
}

absl::Status ApiKeyStore::Authorize(absl::string_view authorization, Scope required) {
  ReloadIfChanged();
  std::shared_ptr<const std::vector<ApiKey>> keys;
  {
    absl::MutexLock lock(&mu_);
    keys = keys_;
  }
  const absl::string_view presented = BearerToken(authorization);
  if (presented.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send the metadata \"authorization: Bearer <key>\"");
  }
  // Every key is compared (no early exit), so timing does not reveal which one matched.
  bool matched = false;
  ScopeSet scopes = 0;
  for (const ApiKey& key : *keys) {
    const bool equal = ConstantTimeEquals(key.key, presented);
    matched |= equal;
    scopes |= equal ? key.scopes : 0;
  }
  if (!matched) return absl::UnauthenticatedError("invalid API key");
  if ((scopes & static_cast<ScopeSet>(required)) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("this API key lacks the \"", ScopeName(required), "\" scope"));
  }
  return absl::OkStatus();
}

size_t ApiKeyStore::size() const {
  absl::MutexLock lock(&mu_);
  return keys_->size();
}

}  // namespace tartan
