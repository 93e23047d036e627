// Closed-loop load test through the router (issue 12): starts a local cluster (encoder with
// the lexical test model, 2 shards, router on 127.0.0.1), preloads documents, then for each
// mix (search only; 90% search + 10% ingest) and each concurrency level runs that many
// clients back to back for a fixed duration. Prints throughput, p50/p99/p999 latency, error
// rate, and the RSS of every process before and after, as a Markdown table.
// Usage: load_bench [--duration_s=10] [--levels=1,2,4,8,16] [--docs=5000]
// Needs TARTAN_BIN_DIR (built binaries) and TARTAN_SHARED_DIR (tokenizer files).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/cluster/local_cluster.h"

ABSL_FLAG(double, duration_s, 10, "Seconds per concurrency level and mix");
ABSL_FLAG(std::string, levels, "1,2,4,8,16", "Concurrent closed-loop clients, one run each");
ABSL_FLAG(int, docs, 5000, "Documents preloaded (16 token vectors each)");

namespace {

namespace v1 = tartan::v1;
using tartan::testing::LocalCluster;

constexpr int kDim = 128;
const char* kWords[] = {"river", "mountain", "bridge", "forest", "city",  "ocean",  "desert",
                        "train", "castle",   "garden", "island", "storm", "valley", "harbor"};

double RssMb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return -1;
}

struct Sample {
  double seconds;
  bool ok;
};

struct Result {
  std::vector<double> latencies;  // successful operations
  int errors = 0;
  double elapsed = 0;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, size_t(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + long(i), v.end());
  return v[i];
}

// One closed-loop client: search (text query, k=10) or, with probability ingest_fraction, an
// AddDocuments of 10 vector documents.
void Client(v1::Router::Stub* router, int id, double ingest_fraction,
            std::chrono::steady_clock::time_point until, std::atomic<int>* next_doc,
            std::vector<Sample>* out) {
  std::mt19937 rng(id);
  std::uniform_real_distribution<double> coin(0, 1);
  while (std::chrono::steady_clock::now() < until) {
    grpc::ClientContext context;
    tartan::testing::SetDeadline(&context, 10);
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status;
    if (coin(rng) < ingest_fraction) {
      v1::AddDocumentsRequest add;
      for (int i = 0; i < 10; ++i) {
        auto* doc = add.add_documents();
        doc->set_id(absl::StrCat("load-", next_doc->fetch_add(1)));
        *doc->mutable_vectors() = tartan::testing::RandomVectors(&rng, 16, kDim);
        (*doc->mutable_metadata())["source"] = "load";
      }
      v1::AddDocumentsResponse response;
      status = router->AddDocuments(&context, add, &response);
    } else {
      v1::SearchRequest search;
      search.set_text(absl::StrCat(kWords[rng() % 14], " ", kWords[rng() % 14]));
      search.set_k(10);
      v1::SearchResponse response;
      status = router->Search(&context, search, &response);
      if (status.ok() && response.partial()) status = grpc::Status(grpc::UNAVAILABLE, "partial");
    }
    out->push_back({std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                    status.ok()});
  }
}

Result RunLevel(LocalCluster& cluster, int clients, double ingest_fraction, double duration_s,
                std::atomic<int>* next_doc) {
  std::vector<std::vector<Sample>> samples(clients);
  std::vector<std::unique_ptr<v1::Router::Stub>> stubs;
  for (int c = 0; c < clients; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per client
    stubs.push_back(v1::Router::NewStub(grpc::CreateCustomChannel(
        cluster.router_process().address(), grpc::InsecureChannelCredentials(), args)));
  }
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(duration_s));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back(Client, stubs[c].get(), c * 7919 + clients, ingest_fraction, until,
                         next_doc, &samples[c]);
  }
  for (auto& t : threads) t.join();
  Result result;
  result.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& client : samples) {
    for (const Sample& s : client) {
      if (s.ok) {
        result.latencies.push_back(s.seconds);
      } else {
        ++result.errors;
      }
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<int> levels;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_levels), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1) {
      std::fprintf(stderr, "bad --levels entry %s\n", std::string(part).c_str());
      return 2;
    }
    levels.push_back(n);
  }
  const std::string work_dir = tartan::testing::MakeTempDir("load-bench");
  const std::string model = tartan::testing::LexicalTestModel(work_dir);
  if (model.empty()) {
    std::fprintf(stderr, "TARTAN_SHARED_DIR (tokenizer files) unavailable\n");
    return 2;
  }
  LocalCluster::Options options;
  options.shards = 2;
  options.allow_exact_search = false;
  auto cluster_or = LocalCluster::Start(model, work_dir, options);
  if (!cluster_or.ok()) {
    std::fprintf(stderr, "%s\n", cluster_or.status().ToString().c_str());
    return 1;
  }
  LocalCluster& cluster = **cluster_or;

  // Preload: vector documents whose metadata names a word, so searches have something to hit.
  std::mt19937 rng(1);
  const int docs = absl::GetFlag(FLAGS_docs);
  for (int begin = 0; begin < docs; begin += 200) {
    v1::AddDocumentsRequest add;
    for (int i = begin; i < std::min(docs, begin + 200); ++i) {
      auto* doc = add.add_documents();
      doc->set_id(absl::StrCat("pre-", i));
      *doc->mutable_vectors() = tartan::testing::RandomVectors(&rng, 16, kDim);
      (*doc->mutable_metadata())["word"] = kWords[i % 14];
    }
    grpc::ClientContext context;
    tartan::testing::SetDeadline(&context, 60);
    v1::AddDocumentsResponse response;
    const grpc::Status status = cluster.router().AddDocuments(&context, add, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "preload: %s\n", status.error_message().c_str());
      return 1;
    }
  }

  const pid_t pids[] = {cluster.router_process().pid(), cluster.shard(0).pid(),
                        cluster.shard(1).pid()};
  double rss_before[3];
  for (int i = 0; i < 3; ++i) rss_before[i] = RssMb(pids[i]);
  std::atomic<int> next_doc{0};
  const double duration = absl::GetFlag(FLAGS_duration_s);
  std::printf("| mix | clients | ops/s | p50 ms | p99 ms | p999 ms | errors |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& [mix, ingest] : std::vector<std::pair<std::string, double>>{
           {"search", 0.0}, {"90% search, 10% ingest", 0.1}}) {
    for (int clients : levels) {
      Result r = RunLevel(cluster, clients, ingest, duration, &next_doc);
      const double total = double(r.latencies.size() + size_t(r.errors));
      std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.2f%% |\n", mix.c_str(), clients,
                  double(r.latencies.size()) / r.elapsed, 1000 * Percentile(r.latencies, 0.5),
                  1000 * Percentile(r.latencies, 0.99), 1000 * Percentile(r.latencies, 0.999),
                  total > 0 ? 100.0 * r.errors / total : 0.0);
      std::fflush(stdout);
    }
  }
  const char* names[] = {"router", "shard 0", "shard 1"};
  std::printf("\nRSS before -> after the load: ");
  for (int i = 0; i < 3; ++i) {
    std::printf("%s %.0f -> %.0f MB%s", names[i], rss_before[i], RssMb(pids[i]),
                i < 2 ? ", " : "\n");
  }
  std::printf("documents ingested during the load: %d\n", next_doc.load());
  return 0;
}
