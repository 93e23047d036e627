// tartanctl eval: run a BEIR folder's test queries through the router and report nDCG@10,
// recall@100, MRR@10, latency p50/p99 and QPS, as a table and optionally JSON.
#include <chrono>
#include <cstdio>
#include <fstream>

#include "nlohmann/json.hpp"
#include "services/cli/beir.h"
#include "services/cli/commands.h"
#include "services/cli/ir_metrics.h"
#include "services/cli/router_client.h"

namespace tartan::cli {

int RunEval(int argc, char** argv) {
  static const std::vector<FlagSpec> kFlags = {
      {"beir", "DIR", "BEIR folder with queries.jsonl and qrels/<split>.tsv (required)"},
      kRouterFlag,
      {"split", "NAME", "qrels split (default test)"},
      {"k", "N", "results retrieved per query (default 100)"},
      {"max-queries", "N", "evaluate at most N queries (default all)"},
      {"exact", nullptr, "brute-force MaxSim instead of the compressed index"},
      {"json-out", "FILE", "also write the figures as JSON"},
      {"help", nullptr, "show this help"},
  };
  auto args = Args::Parse(argc, argv, kFlags);
  if (!args.ok() || !args->Has("beir")) {
    if (args.ok() && args->Has("help")) {
      std::printf("%s", Usage("eval", "--beir DIR [flags]", kFlags).c_str());
      return 0;
    }
    if (!args.ok()) std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    std::fprintf(stderr, "%s", Usage("eval", "--beir DIR [flags]", kFlags).c_str());
    return 2;
  }
  auto k = args->GetInt("k", 100, 10, 1000);
  auto max_queries = args->GetInt("max-queries", -1, -1, 1LL << 30);
  if (!k.ok() || !max_queries.ok()) {
    std::fprintf(stderr, "eval: %s\n", std::string((!k.ok() ? k.status() : max_queries.status()).message()).c_str());
    return 2;
  }
  const std::string dir = *args->Get("beir");
  const std::string split = args->GetOr("split", "test");
  auto queries = ReadQueries(dir);
  auto qrels = ReadQrels(dir, split);
  if (!queries.ok() || !qrels.ok()) {
    std::fprintf(stderr, "eval: %s\n",
                 std::string((!queries.ok() ? queries.status() : qrels.status()).message()).c_str());
    return 1;
  }
  auto stub = MakeRouterStub(RouterAddress(*args));
  std::vector<double> latencies_ms;
  double ndcg = 0, recall = 0, mrr = 0;
  int evaluated = 0, partial = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [qid, relevant] : *qrels) {
    if (*max_queries >= 0 && evaluated >= *max_queries) break;
    auto it = queries->find(qid);
    if (it == queries->end()) continue;
    tartan::v1::SearchRequest request;
    request.set_text(it->second);
    request.set_k(static_cast<uint32_t>(*k));
    request.mutable_params()->set_exact(args->Has("exact"));
    grpc::ClientContext context;
    SetTimeout(&context, 30);
    tartan::v1::SearchResponse response;
    const auto t0 = std::chrono::steady_clock::now();
    grpc::Status status = stub->Search(&context, request, &response);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!status.ok()) {
      std::fprintf(stderr, "eval: query %s: %s\n", qid.c_str(), Describe(status).c_str());
      return 1;
    }
    partial += response.partial();
    std::vector<std::string> ranked;
    for (const auto& hit : response.hits()) ranked.push_back(hit.id());
    ndcg += NdcgAtK(ranked, relevant, 10);
    recall += RecallAtK(ranked, relevant, 100);
    mrr += ReciprocalRankAtK(ranked, relevant, 10);
    ++evaluated;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (evaluated == 0) {
    std::fprintf(stderr, "eval: no query of %s/qrels/%s.tsv is in queries.jsonl\n", dir.c_str(), split.c_str());
    return 1;
  }
  const double n = evaluated;
  nlohmann::json out = {{"dataset", dir}, {"split", split}, {"queries", evaluated},
                        {"ndcg@10", ndcg / n}, {"recall@100", recall / n}, {"mrr@10", mrr / n},
                        {"latency_p50_ms", Quantile(latencies_ms, 0.5)},
                        {"latency_p99_ms", Quantile(latencies_ms, 0.99)},
                        {"qps", n / seconds}, {"partial_replies", partial},
                        {"mode", args->Has("exact") ? "exact" : "index"}};
  std::printf("| queries | nDCG@10 | recall@100 | MRR@10 | p50 ms | p99 ms | QPS |\n");
  std::printf("|--------:|--------:|-----------:|-------:|-------:|-------:|----:|\n");
  std::printf("| %d | %.4f | %.4f | %.4f | %.1f | %.1f | %.1f |\n", evaluated, ndcg / n, recall / n, mrr / n,
              Quantile(latencies_ms, 0.5), Quantile(latencies_ms, 0.99), n / seconds);
  if (partial) std::printf("warning: %d replies were partial (a shard did not answer)\n", partial);
  if (auto path = args->Get("json-out")) {
    std::ofstream file(*path);
    file << out.dump(2) << "\n";
    if (!file) {
      std::fprintf(stderr, "eval: cannot write %s\n", path->c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace tartan::cli
