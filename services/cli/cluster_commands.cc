// tartanctl search / delete / status: one call each to the router, printed for people
// (or as JSON with --json).
#include <cstdio>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "services/cli/commands.h"
#include "services/cli/router_client.h"

namespace tartan::cli {
namespace {

int UsageError(const char* command, const char* synopsis, const std::vector<FlagSpec>& flags,
               const absl::Status& status) {
  if (!status.ok()) std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
  std::fprintf(stderr, "%s", Usage(command, synopsis, flags).c_str());
  return 2;
}

// "key=value" → equals; several --filter clauses are AND-ed ("key=a|b" → set membership).
bool ParseFilter(const std::string& spec, tartan::v1::Filter* filter) {
  auto* clauses = filter->mutable_and_()->mutable_clauses();
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) return false;
    const std::string key(part.substr(0, eq));
    std::vector<std::string> values = absl::StrSplit(part.substr(eq + 1), '|');
    auto* clause = clauses->Add();
    if (values.size() == 1) {
      clause->mutable_equals()->set_key(key);
      clause->mutable_equals()->set_value(values[0]);
    } else {
      clause->mutable_in()->set_key(key);
      for (auto& v : values) clause->mutable_in()->add_values(v);
    }
  }
  return true;
}

}  // namespace

int RunSearch(int argc, char** argv) {
  static const std::vector<FlagSpec> kFlags = {
      {"query", "TEXT", "query text (required)"},
      kRouterFlag,
      {"k", "N", "results (default 10)"},
      {"filter", "K=V[,K=V|W]", "metadata filter: clauses AND-ed, V|W = any of"},
      {"exact", nullptr, "brute-force MaxSim (reference) instead of the compressed index"},
      {"metadata", nullptr, "print each hit's metadata"},
      {"json", nullptr, "print the reply as JSON"},
      {"timeout", "SECONDS", "deadline (default 10)"},
      {"help", nullptr, "show this help"},
  };
  auto args = Args::Parse(argc, argv, kFlags);
  if (!args.ok() || args->Has("help") || !args->Has("query")) {
    if (args.ok() && args->Has("help")) {
      std::printf("%s", Usage("search", "--query TEXT [flags]", kFlags).c_str());
      return 0;
    }
    return UsageError("search", "--query TEXT [flags]", kFlags, args.ok() ? absl::OkStatus() : args.status());
  }
  auto k = args->GetInt("k", 10, 1, 1000);
  auto timeout = args->GetInt("timeout", 10, 1, 3600);
  if (!k.ok()) return UsageError("search", "--query TEXT [flags]", kFlags, k.status());
  if (!timeout.ok()) return UsageError("search", "--query TEXT [flags]", kFlags, timeout.status());
  tartan::v1::SearchRequest request;
  request.set_text(*args->Get("query"));
  request.set_k(static_cast<uint32_t>(*k));
  request.mutable_params()->set_exact(args->Has("exact"));
  request.set_include_metadata(args->Has("metadata") || args->Has("json"));
  if (auto filter = args->Get("filter")) {
    if (!ParseFilter(*filter, request.mutable_filter())) {
      return UsageError("search", "--query TEXT [flags]", kFlags,
                        absl::InvalidArgumentError("--filter: expected key=value[,key=value|value2]"));
    }
  }
  auto stub = MakeRouterStub(RouterAddress(*args));
  grpc::ClientContext context;
  SetTimeout(&context, static_cast<double>(*timeout));
  tartan::v1::SearchResponse response;
  grpc::Status status = stub->Search(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "search: %s\n", Describe(status).c_str());
    return 1;
  }
  if (args->Has("json")) {
    nlohmann::json out = {{"partial", response.partial()}, {"took_ms", response.took_ms()}};
    out["failed_shards"] = std::vector<std::string>(response.failed_shards().begin(), response.failed_shards().end());
    out["hits"] = nlohmann::json::array();
    for (const auto& hit : response.hits()) {
      out["hits"].push_back({{"id", hit.id()}, {"score", hit.score()}, {"shard", hit.shard()},
                             {"metadata", std::map<std::string, std::string>(hit.metadata().begin(), hit.metadata().end())}});
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-5s %-10s %-24s %s\n", "rank", "score", "id", "shard");
  int rank = 0;
  for (const auto& hit : response.hits()) {
    std::printf("%-5d %-10.4f %-24s %s\n", ++rank, hit.score(), hit.id().c_str(), hit.shard().c_str());
    if (args->Has("metadata")) {
      for (const auto& [key, value] : hit.metadata()) std::printf("      %s=%s\n", key.c_str(), value.c_str());
    }
  }
  std::printf("%d hits in %.1f ms%s\n", response.hits_size(), response.took_ms(),
              response.partial() ? "  (PARTIAL: some shards did not answer)" : "");
  for (const auto& shard : response.failed_shards()) std::printf("  failed shard: %s\n", shard.c_str());
  return 0;
}

int RunDelete(int argc, char** argv) {
  static const std::vector<FlagSpec> kFlags = {
      {"ids", "ID[,ID...]", "document ids to delete (required)"},
      kRouterFlag,
      {"help", nullptr, "show this help"},
  };
  auto args = Args::Parse(argc, argv, kFlags);
  if (!args.ok() || !args->Has("ids")) {
    return UsageError("delete", "--ids ID[,ID...]", kFlags, args.ok() ? absl::OkStatus() : args.status());
  }
  tartan::v1::DeleteDocumentsRequest request;
  for (absl::string_view id : absl::StrSplit(*args->Get("ids"), ',', absl::SkipEmpty())) {
    request.add_ids(std::string(id));
  }
  auto stub = MakeRouterStub(RouterAddress(*args));
  grpc::ClientContext context;
  SetTimeout(&context, 30);
  tartan::v1::DeleteDocumentsResponse response;
  grpc::Status status = stub->DeleteDocuments(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "delete: %s\n", Describe(status).c_str());
    return 1;
  }
  std::printf("deleted %llu of %d documents\n", static_cast<unsigned long long>(response.deleted()),
              request.ids_size());
  return 0;
}

int RunStatus(int argc, char** argv) {
  static const std::vector<FlagSpec> kFlags = {
      kRouterFlag,
      {"json", nullptr, "print the reply as JSON"},
      {"help", nullptr, "show this help"},
  };
  auto args = Args::Parse(argc, argv, kFlags);
  if (!args.ok()) return UsageError("status", "[flags]", kFlags, args.status());
  auto stub = MakeRouterStub(RouterAddress(*args));
  grpc::ClientContext context;
  SetTimeout(&context, 10);
  tartan::v1::ClusterStatusResponse response;
  grpc::Status status = stub->ClusterStatus(&context, {}, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "status: %s\n", Describe(status).c_str());
    return 1;
  }
  if (args->Has("json")) {
    nlohmann::json out = {{"documents", response.documents()}, {"encoder_healthy", response.encoder_healthy()},
                          {"model", response.model().name()}, {"dim", response.model().dim()}};
    out["shards"] = nlohmann::json::array();
    for (const auto& s : response.shards()) {
      out["shards"].push_back({{"address", s.address()}, {"healthy", s.healthy()}, {"documents", s.documents()},
                               {"token_vectors", s.token_vectors()}, {"segments", s.segments()},
                               {"bytes_on_disk", s.bytes_on_disk()}, {"error", s.error()}});
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("encoder: %s", response.encoder_healthy() ? "healthy" : "UNAVAILABLE");
  if (response.encoder_healthy()) {
    std::printf("  model %s (%s, dim %u, %s)", response.model().name().c_str(),
                response.model().architecture().c_str(), response.model().dim(),
                response.model().precision().c_str());
  }
  std::printf("\n%-24s %-8s %10s %12s %8s %12s\n", "shard", "health", "documents", "tokens", "segments", "disk_bytes");
  for (const auto& s : response.shards()) {
    std::printf("%-24s %-8s %10llu %12llu %8llu %12llu %s\n", s.address().c_str(), s.healthy() ? "ok" : "DOWN",
                static_cast<unsigned long long>(s.documents()), static_cast<unsigned long long>(s.token_vectors()),
                static_cast<unsigned long long>(s.segments()), static_cast<unsigned long long>(s.bytes_on_disk()),
                s.error().c_str());
  }
  std::printf("total documents: %llu\n", static_cast<unsigned long long>(response.documents()));
  bool all_ok = response.encoder_healthy();
  for (const auto& s : response.shards()) all_ok = all_ok && s.healthy();
  return all_ok ? 0 : 1;
}

}  // namespace tartan::cli
