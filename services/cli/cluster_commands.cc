// tartanctl search / delete / status: one call each to the router, printed for people
// (or as JSON with --json).
#include <cstdio>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "services/cli/commands.h"
#include "services/cli/router_client.h"

namespace tartan::cli {
namespace {

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

struct SearchOptions {
  std::string query;
  RouterTarget router;
  int k = 10;
  std::string filter;  // empty: none
  bool exact = false;
  bool metadata = false;
  bool json = false;
  int timeout = 10;  // seconds
};

int RunSearch(const SearchOptions& o) {
  tartan::v1::SearchRequest request;
  request.set_text(o.query);
  request.set_k(static_cast<uint32_t>(o.k));
  request.mutable_params()->set_exact(o.exact);
  request.set_include_metadata(o.metadata || o.json);
  if (!o.filter.empty() && !ParseFilter(o.filter, request.mutable_filter())) {
    std::fprintf(stderr, "tartanctl search: --filter: expected key=value[,key=value|value2]\n");
    return 2;
  }
  auto stub = MakeRouterStub(o.router);
  grpc::ClientContext context;
  SetTimeout(&context, static_cast<double>(o.timeout));
  tartan::v1::SearchResponse response;
  grpc::Status status = stub->Search(&context, request, &response);
  if (!status.ok()) return Fail("search", Describe(status));
  if (o.json) {
    nlohmann::json out = {{"partial", response.partial()}, {"took_ms", response.took_ms()}};
    out["failed_shards"] =
        std::vector<std::string>(response.failed_shards().begin(), response.failed_shards().end());
    out["hits"] = nlohmann::json::array();
    for (const auto& hit : response.hits()) {
      out["hits"].push_back({{"id", hit.id()},
                             {"score", hit.score()},
                             {"shard", hit.shard()},
                             {"metadata", std::map<std::string, std::string>(
                                              hit.metadata().begin(), hit.metadata().end())}});
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-5s %-10s %-24s %s\n", "rank", "score", "id", "shard");
  int rank = 0;
  for (const auto& hit : response.hits()) {
    std::printf("%-5d %-10.4f %-24s %s\n", ++rank, hit.score(), hit.id().c_str(),
                hit.shard().c_str());
    if (o.metadata) {
      for (const auto& [key, value] : hit.metadata())
        std::printf("      %s=%s\n", key.c_str(), value.c_str());
    }
  }
  std::printf("%d hits in %.1f ms%s\n", response.hits_size(), response.took_ms(),
              response.partial() ? "  (PARTIAL: some shards did not answer)" : "");
  for (const auto& shard : response.failed_shards())
    std::printf("  failed shard: %s\n", shard.c_str());
  return 0;
}

struct DeleteOptions {
  std::string ids;
  RouterTarget router;
};

int RunDelete(const DeleteOptions& o) {
  tartan::v1::DeleteDocumentsRequest request;
  for (absl::string_view id : absl::StrSplit(o.ids, ',', absl::SkipEmpty())) {
    request.add_ids(std::string(id));
  }
  auto stub = MakeRouterStub(o.router);
  grpc::ClientContext context;
  SetTimeout(&context, 30);
  tartan::v1::DeleteDocumentsResponse response;
  grpc::Status status = stub->DeleteDocuments(&context, request, &response);
  if (!status.ok()) return Fail("delete", Describe(status));
  std::printf("deleted %llu of %d documents\n", static_cast<unsigned long long>(response.deleted()),
              request.ids_size());
  return 0;
}

struct StatusOptions {
  RouterTarget router;
  bool json = false;
};

int RunStatus(const StatusOptions& o) {
  auto stub = MakeRouterStub(o.router);
  grpc::ClientContext context;
  SetTimeout(&context, 10);
  tartan::v1::ClusterStatusResponse response;
  grpc::Status status = stub->ClusterStatus(&context, {}, &response);
  if (!status.ok()) return Fail("status", Describe(status));
  if (o.json) {
    nlohmann::json out = {{"documents", response.documents()},
                          {"encoder_healthy", response.encoder_healthy()},
                          {"model", response.model().name()},
                          {"dim", response.model().dim()}};
    out["shards"] = nlohmann::json::array();
    for (const auto& s : response.shards()) {
      out["shards"].push_back(
          {{"address", s.address()},
           {"healthy", s.healthy()},
           {"documents", s.documents()},
           {"token_vectors", s.token_vectors()},
           {"segments", s.segments()},
           {"bytes_on_disk", s.bytes_on_disk()},
           {"codec_id", absl::StrCat(absl::Hex(s.codec_id(), absl::kZeroPad16))},
           {"error", s.error()}});
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
  std::printf("\n%-24s %-8s %10s %12s %8s %12s %16s\n", "shard", "health", "documents", "tokens",
              "segments", "disk_bytes", "codec");
  for (const auto& s : response.shards()) {
    std::printf("%-24s %-8s %10llu %12llu %8llu %12llu %016llx %s\n", s.address().c_str(),
                s.healthy() ? "ok" : "DOWN", static_cast<unsigned long long>(s.documents()),
                static_cast<unsigned long long>(s.token_vectors()),
                static_cast<unsigned long long>(s.segments()),
                static_cast<unsigned long long>(s.bytes_on_disk()),
                static_cast<unsigned long long>(s.codec_id()), s.error().c_str());
  }
  std::printf("total documents: %llu\n", static_cast<unsigned long long>(response.documents()));
  bool all_ok = response.encoder_healthy();
  for (const auto& s : response.shards()) all_ok = all_ok && s.healthy();
  return all_ok ? 0 : 1;
}

}  // namespace

Command AddSearchCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<SearchOptions>();
  CLI::App* cmd = tartanctl.add_subcommand("search", "search the cluster with a text query");
  cmd->add_option("--query", o->query, "query text")->required()->type_name("TEXT");
  AddRouterOption(cmd, &o->router);
  cmd->add_option("--k", o->k, "results")
      ->type_name("N")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--filter", o->filter, "metadata filter: clauses AND-ed, V|W = any of")
      ->type_name("K=V[,K=V|W]");
  cmd->add_flag("--exact", o->exact,
                "brute-force MaxSim (reference) instead of the compressed index");
  cmd->add_flag("--metadata", o->metadata, "print each hit's metadata");
  cmd->add_flag("--json", o->json, "print the reply as JSON");
  cmd->add_option("--timeout", o->timeout, "deadline")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  return {cmd, [o] { return RunSearch(*o); }};
}

Command AddDeleteCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<DeleteOptions>();
  CLI::App* cmd = tartanctl.add_subcommand("delete", "delete documents by id");
  cmd->add_option("--ids", o->ids, "comma-separated document ids to delete")
      ->required()
      ->type_name("ID[,ID...]");
  AddRouterOption(cmd, &o->router);
  return {cmd, [o] { return RunDelete(*o); }};
}

Command AddStatusCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "status", "cluster status: encoder, shards, documents (exit 1 when any is down)");
  AddRouterOption(cmd, &o->router);
  cmd->add_flag("--json", o->json, "print the reply as JSON");
  return {cmd, [o] { return RunStatus(*o); }};
}

}  // namespace tartan::cli
