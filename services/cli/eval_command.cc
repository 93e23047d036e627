// tartanctl eval: run a BEIR folder's test queries through the router and report nDCG@10,
// recall@100, MRR@10, latency p50/p99 and QPS, as a table and optionally JSON.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "services/cli/beir.h"
#include "services/cli/commands.h"
#include "services/cli/ir_metrics.h"
#include "services/cli/router_client.h"

namespace tartan::cli {

namespace {

struct EvalOptions {
  std::string beir;
  RouterTarget router;
  std::string split = "test";
  int k = 100;
  int max_queries = -1;  // -1: all
  bool exact = false;
  std::string json_out;  // empty: none
};

int RunEval(const EvalOptions& o) {
  const std::string& dir = o.beir;
  const std::string& split = o.split;
  auto queries = ReadQueries(dir);
  auto qrels = ReadQrels(dir, split);
  if (!queries.ok()) return Fail("eval", queries.status());
  if (!qrels.ok()) return Fail("eval", qrels.status());
  auto stub = MakeRouterStub(o.router);
  std::vector<double> latencies_ms;
  double ndcg = 0, recall = 0, mrr = 0;
  int evaluated = 0, partial = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [qid, relevant] : *qrels) {
    if (o.max_queries >= 0 && evaluated >= o.max_queries) break;
    auto it = queries->find(qid);
    if (it == queries->end()) continue;
    tartan::v1::SearchRequest request;
    request.set_text(it->second);
    request.set_k(static_cast<uint32_t>(o.k));
    request.mutable_params()->set_exact(o.exact);
    grpc::ClientContext context;
    SetTimeout(&context, 30);
    tartan::v1::SearchResponse response;
    const auto t0 = std::chrono::steady_clock::now();
    grpc::Status status = stub->Search(&context, request, &response);
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!status.ok()) return Fail("eval", "query " + qid + ": " + Describe(status));
    partial += response.partial();
    std::vector<std::string> ranked;
    for (const auto& hit : response.hits()) ranked.push_back(hit.id());
    ndcg += NdcgAtK(ranked, relevant, 10);
    recall += RecallAtK(ranked, relevant, 100);
    mrr += ReciprocalRankAtK(ranked, relevant, 10);
    ++evaluated;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (evaluated == 0) {
    return Fail("eval", "no query of " + dir + "/qrels/" + split + ".tsv is in queries.jsonl");
  }
  const double n = evaluated;
  nlohmann::json out = {{"dataset", dir},
                        {"split", split},
                        {"queries", evaluated},
                        {"ndcg@10", ndcg / n},
                        {"recall@100", recall / n},
                        {"mrr@10", mrr / n},
                        {"latency_p50_ms", Quantile(latencies_ms, 0.5)},
                        {"latency_p99_ms", Quantile(latencies_ms, 0.99)},
                        {"qps", n / seconds},
                        {"partial_replies", partial},
                        {"mode", o.exact ? "exact" : "index"}};
  std::printf("| queries | nDCG@10 | recall@100 | MRR@10 | p50 ms | p99 ms | QPS |\n");
  std::printf("|--------:|--------:|-----------:|-------:|-------:|-------:|----:|\n");
  std::printf("| %d | %.4f | %.4f | %.4f | %.1f | %.1f | %.1f |\n", evaluated, ndcg / n, recall / n,
              mrr / n, Quantile(latencies_ms, 0.5), Quantile(latencies_ms, 0.99), n / seconds);
  if (partial) std::printf("warning: %d replies were partial (a shard did not answer)\n", partial);
  if (!o.json_out.empty()) {
    std::ofstream file(o.json_out);
    file << out.dump(2) << "\n";
    if (!file) return Fail("eval", "cannot write " + o.json_out);
  }
  return 0;
}

}  // namespace

Command AddEvalCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "eval", "nDCG@10 / recall@100 / MRR@10 / latency of a BEIR folder's queries");
  cmd->add_option("--beir", o->beir, "BEIR folder with queries.jsonl and qrels/<split>.tsv")
      ->required()
      ->type_name("DIR");
  AddRouterOption(cmd, &o->router);
  cmd->add_option("--split", o->split, "qrels split")->type_name("NAME")->capture_default_str();
  cmd->add_option("--k", o->k, "results retrieved per query")
      ->type_name("N")
      ->check(CLI::Range(10, 1000))
      ->capture_default_str();
  cmd->add_option("--max-queries", o->max_queries, "evaluate at most N queries (default all)")
      ->type_name("N")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--exact", o->exact, "brute-force MaxSim instead of the compressed index");
  cmd->add_option("--json-out", o->json_out, "also write the figures as JSON")->type_name("FILE");
  return {cmd, [o] { return RunEval(*o); }};
}

}  // namespace tartan::cli
