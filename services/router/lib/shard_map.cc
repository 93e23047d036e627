#include "services/router/lib/shard_map.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>

#include <xxhash.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tartan::router {
namespace {

absl::Status ParseHostPort(absl::string_view entry, std::string* host, int* port) {
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("shard '", entry, "' is not host:port"));
  }
  int value = 0;
  if (!absl::SimpleAtoi(entry.substr(colon + 1), &value) || value < 1 || value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("shard '", entry, "' has a bad port"));
  }
  *host = std::string(entry.substr(0, colon));
  *port = value;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ShardSource> ParseShardSource(std::string_view spec_view) {
  absl::string_view spec(spec_view.data(), spec_view.size());
  spec = absl::StripAsciiWhitespace(spec);
  ShardSource source;
  if (spec.empty()) return absl::InvalidArgumentError("--shards is empty");
  if (absl::ConsumePrefix(&spec, "dns:///")) {
    std::string host;
    int port = 0;
    if (auto status = ParseHostPort(spec, &host, &port); !status.ok()) return status;
    source.dns_name = host;
    source.dns_port = port;
    return source;
  }
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::string host;
    int port = 0;
    if (auto status = ParseHostPort(entry, &host, &port); !status.ok()) return status;
    source.static_addresses.push_back(absl::StrCat(host, ":", port));
  }
  std::sort(source.static_addresses.begin(), source.static_addresses.end());
  if (std::adjacent_find(source.static_addresses.begin(), source.static_addresses.end()) !=
      source.static_addresses.end()) {
    return absl::InvalidArgumentError("--shards lists the same shard twice");
  }
  return source;
}

absl::StatusOr<std::vector<std::string>> ResolveShards(const ShardSource& source) {
  if (source.dns_name.empty()) return source.static_addresses;
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(source.dns_name.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", source.dns_name, ": ", gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, buf, sizeof(buf));
      addresses.push_back(absl::StrCat(buf, ":", source.dns_port));
    } else if (ai->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf,
                sizeof(buf));
      addresses.push_back(absl::StrCat("[", buf, "]:", source.dns_port));
    }
  }
  freeaddrinfo(result);
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  if (addresses.empty()) {
    return absl::UnavailableError(absl::StrCat(source.dns_name, " resolved to no addresses"));
  }
  return addresses;
}

uint64_t DocumentHash(std::string_view id) { return XXH64(id.data(), id.size(), 0); }

int ShardForDocument(std::string_view id, int num_shards) {
  return static_cast<int>(DocumentHash(id) % static_cast<uint64_t>(num_shards));
}

}  // namespace tartan::router
