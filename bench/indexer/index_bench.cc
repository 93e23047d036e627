// Index shard benchmark on a structured synthetic corpus (see synthetic_corpus.h): recall@10/@100
// against exact MaxSim on the original vectors, the compression ceiling (exact MaxSim on the
// decompressed vectors) and the search approximation (PLAID vs exact on decompressed),
// MRR of the known positive, QPS at 1 and 2 threads with p50/p99 latency, bytes per token on
// disk and in RAM, build and compaction time. The baseline is exact brute force (one BLAS
// GEMM per block of original vectors, then row max) measured in the same process.
//
//   index_bench --docs=10000 --queries=100 --nbits=2,4 --nprobe=2 --candidates=default,1024/256
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/compute/blas_threads.h"
#include "common/compute/cpu_features.h"
#include "common/compute/maxsim.h"
#include "common/compute/parallel_for.h"
#include "nlohmann/json.hpp"
#include "services/indexer/lib/shard.h"
#include "services/indexer/lib/synthetic_corpus.h"

ABSL_FLAG(int, docs, 100000, "documents in the synthetic corpus (~100 tokens each)");
ABSL_FLAG(std::string, vectors_jsonl, "",
          "index real vectors instead: `tartanctl encode --documents` output (one JSON line per "
          "document with \"embeddings\"); --docs caps how many are read, --dim is taken from it");
ABSL_FLAG(int, dim, 128, "vector dimension");
ABSL_FLAG(int, queries, 100, "queries (each derived from one document)");
ABSL_FLAG(int, query_tokens, 32, "tokens per query");
ABSL_FLAG(std::string, nbits, "2,4", "comma-separated residual bits to benchmark");
ABSL_FLAG(std::string, nprobe, "4,8,16", "comma-separated probes per query token (grid)");
ABSL_FLAG(int, n_rerank_exact, 256,
          "candidates decompressed and scored exactly for the k=100 run (recall@100)");
ABSL_FLAG(std::string, candidates, "default",
          "comma-separated k=10 candidate depths APPROX/EXACT (n_candidates_approx/"
          "n_rerank_exact), e.g. 256/64,1024/256; 'default' = the library defaults");
ABSL_FLAG(int, threads, 0,
          "threads for the index build and the ground truth (0 = all hardware threads); search "
          "QPS is always measured with 1 and 2 threads");
ABSL_FLAG(int, baseline_queries, 10, "queries timed for the brute-force baseline");
ABSL_FLAG(std::string, dir, "/tmp/tartan_index_bench", "scratch directory (deleted first)");
ABSL_FLAG(bool, keep_dir, false, "keep the last index directory for inspection");
ABSL_FLAG(int, kmeans_iterations, 6, "k-means iterations");
ABSL_FLAG(int, kmeans_sample_per_centroid, 16, "k-means training vectors per centroid");

namespace tartan::index {
namespace {

using Clock = std::chrono::steady_clock;
using Metadata = std::map<std::string, std::string>;  // Document::metadata
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

// All original vectors back to back ([tokens, dim]) with document offsets, so brute force
// reads them in place (one GEMM per block of whole documents, no copies).
struct Originals {
  std::vector<float> vectors;
  std::vector<uint32_t> offsets{0};  // [docs + 1]
};

// Exact top-k over the original vectors. Returns document numbers.
std::vector<int> BruteForce(const Originals& o, const float* q, int nq, int dim, size_t k) {
  constexpr uint32_t kBlockTokens = 8192;
  std::vector<float> scratch, scores;
  std::vector<uint32_t> rel;
  std::vector<std::pair<float, int>> all;
  const int ndocs = int(o.offsets.size()) - 1;
  all.reserve(ndocs);
  for (int first = 0; first < ndocs;) {
    int end = first + 1;
    while (end < ndocs && o.offsets[end + 1] - o.offsets[first] <= kBlockTokens) ++end;
    rel.clear();
    for (int i = first; i <= end; ++i) rel.push_back(o.offsets[i] - o.offsets[first]);
    scores.resize(end - first);
    compute::MaxSimBlock(q, nq, o.vectors.data() + size_t(o.offsets[first]) * dim, rel.data(),
                         end - first, dim, scores.data(), &scratch);
    for (int i = first; i < end; ++i) all.emplace_back(scores[i - first], i);
    first = end;
  }
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + k, all.end(),
                    [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<int> out;
  for (size_t i = 0; i < k; ++i) out.push_back(all[i].second);
  return out;
}

// Documents [begin, end) of the corpus as shard documents (copies of their vectors).
std::vector<Document> Docs(const Originals& o, const std::vector<Metadata>& metadata, int dim,
                           int begin, int end) {
  std::vector<Document> out;
  for (int i = begin; i < end; ++i) {
    Document d;
    d.id = absl::StrCat("doc", i);
    d.num_tokens = int(o.offsets[i + 1] - o.offsets[i]);
    d.vectors.assign(o.vectors.begin() + size_t(o.offsets[i]) * dim,
                     o.vectors.begin() + size_t(o.offsets[i + 1]) * dim);
    d.metadata = metadata[i];
    out.push_back(std::move(d));
  }
  return out;
}

// Reads up to max_docs documents' token vectors from `tartanctl encode` output.
absl::Status ReadVectorsJsonl(const std::string& path, int max_docs, Originals* o, int* dim) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--vectors_jsonl: cannot open ", path));
  std::string line;
  int lineno = 0;
  *dim = 0;
  while (int(o->offsets.size()) - 1 < max_docs && std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("embeddings") || !j["embeddings"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", lineno, ": expected {\"embeddings\": [[...]]}"));
    }
    for (const auto& row : j["embeddings"]) {
      if (*dim == 0) *dim = int(row.size());
      if (int(row.size()) != *dim || *dim % 8 != 0) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", lineno, ": vectors of ",
                                                       row.size(),
                                                       " dims (need one dim, a multiple of 8)"));
      }
      for (const auto& v : row) o->vectors.push_back(v.get<float>());
    }
    o->offsets.push_back(o->offsets.back() + uint32_t(j["embeddings"].size()));
  }
  if (o->offsets.size() < 2)
    return absl::InvalidArgumentError(absl::StrCat(path, ": no documents"));
  return absl::OkStatus();
}

// A query derived from document `positive` of a real corpus the way SyntheticCorpus does it:
// noisy, renormalised copies of randomly chosen tokens of the document.
std::vector<float> DeriveQuery(const Originals& o, int dim, int positive,
                               const SyntheticOptions& so, uint64_t seed) {
  std::mt19937_64 rng(seed * 31 + uint64_t(positive));
  std::normal_distribution<float> noise(0.f, 2.f * so.query_noise / std::sqrt(float(dim)));
  const uint32_t b = o.offsets[positive], n = o.offsets[positive + 1] - b;
  std::vector<float> q(size_t(so.query_tokens) * dim);
  for (int i = 0; i < so.query_tokens; ++i) {
    float* x = q.data() + size_t(i) * dim;
    const float* src = o.vectors.data() + size_t(b + (n ? rng() % n : 0)) * dim;
    double norm = 0;
    for (int k = 0; k < dim; ++k)
      x[k] = (n ? src[k] : 0.f) + noise(rng), norm += double(x[k]) * x[k];
    for (int k = 0; k < dim; ++k) x[k] = float(x[k] / std::sqrt(std::max(norm, 1e-30)));
  }
  return q;
}

int DocNumber(const std::string& id) { return std::stoi(id.substr(3)); }

double Recall(const std::vector<Hit>& got, const std::vector<int>& truth, size_t k) {
  size_t n = std::min(k, truth.size()), hit = 0;
  for (size_t i = 0; i < std::min(k, got.size()); ++i)
    for (size_t j = 0; j < n; ++j) hit += DocNumber(got[i].id) == truth[j];
  return n ? double(hit) / double(n) : 0;
}

std::vector<int> Ids(const std::vector<Hit>& hits) {
  std::vector<int> v;
  for (const Hit& h : hits) v.push_back(DocNumber(h.id));
  return v;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

struct Depth {
  std::string label;
  int approx = 0, exact = 0;  // 0: library default
};

std::vector<Depth> ParseDepths(const std::string& flag) {
  std::vector<Depth> out;
  for (const auto& part : absl::StrSplit(flag, ',')) {
    Depth d{std::string(part)};
    if (part != "default") {
      std::vector<std::string> ae = absl::StrSplit(part, '/');
      if (ae.size() != 2) {
        std::fprintf(stderr, "--candidates: expected APPROX/EXACT or default, got %s\n",
                     d.label.c_str());
        std::exit(2);
      }
      d.approx = std::stoi(ae[0]);
      d.exact = std::stoi(ae[1]);
    }
    out.push_back(d);
  }
  return out;
}

int Main() {
  compute::SetBlasThreads(1);  // one thread per search: QPS per core is what we compare
  const int threads =
      absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads) : compute::NumCores();
  const std::vector<Depth> depths = ParseDepths(absl::GetFlag(FLAGS_candidates));
  SyntheticOptions so;
  so.dim = absl::GetFlag(FLAGS_dim);
  so.num_docs = absl::GetFlag(FLAGS_docs);
  so.query_tokens = absl::GetFlag(FLAGS_query_tokens);
  const int nqueries = absl::GetFlag(FLAGS_queries);
  struct utsname un;
  uname(&un);
  std::printf(
      "## index_bench\n\ncommand: index_bench --docs=%d --dim=%d --queries=%d --query_tokens=%d "
      "--nbits=%s --nprobe=%s --n_rerank_exact=%d --candidates=%s --threads=%d\nmachine: %s %s, %u "
      "hardware threads, AVX2 %s; OpenBLAS 1 thread per search\n\n",
      so.num_docs, so.dim, nqueries, so.query_tokens, absl::GetFlag(FLAGS_nbits).c_str(),
      absl::GetFlag(FLAGS_nprobe).c_str(), absl::GetFlag(FLAGS_n_rerank_exact),
      absl::GetFlag(FLAGS_candidates).c_str(), threads, un.sysname, un.machine,
      std::thread::hardware_concurrency(), compute::HasAvx2() ? "yes" : "no");
  auto t = Clock::now();
  Originals originals;
  std::vector<Metadata> metadata;
  std::vector<std::vector<float>> queries;
  std::vector<int> positives;
  const std::string vectors_path = absl::GetFlag(FLAGS_vectors_jsonl);
  if (vectors_path.empty()) {
    SyntheticCorpus corpus(so);
    for (int i = 0; i < so.num_docs; ++i) {
      Document d = corpus.MakeDocument(i);
      originals.vectors.insert(originals.vectors.end(), d.vectors.begin(), d.vectors.end());
      originals.offsets.push_back(originals.offsets.back() + uint32_t(d.num_tokens));
      metadata.push_back(std::move(d.metadata));
    }
    for (int i = 0; i < nqueries; ++i) {
      positives.push_back(int((uint64_t(i) * 2654435761ull) % uint64_t(so.num_docs)));
      queries.push_back(corpus.MakeQuery(positives.back(), uint64_t(i)));
    }
  } else {
    if (absl::Status st = ReadVectorsJsonl(vectors_path, so.num_docs, &originals, &so.dim);
        !st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 2;
    }
    so.num_docs = int(originals.offsets.size()) - 1;
    metadata.resize(so.num_docs);
    for (int i = 0; i < nqueries; ++i) {
      positives.push_back(int((uint64_t(i) * 2654435761ull) % uint64_t(so.num_docs)));
      queries.push_back(DeriveQuery(originals, so.dim, positives.back(), so, uint64_t(i)));
    }
  }
  const size_t tokens = originals.offsets.back();
  std::printf("corpus: %d docs, %zu tokens (%.1f per doc, dim %d), %s in %.1f s\n", so.num_docs,
              tokens, double(tokens) / so.num_docs, so.dim,
              vectors_path.empty() ? "synthetic, generated" : vectors_path.c_str(), Seconds(t));
  // Ground truth on the originals, on all threads; then the baseline timed on one thread.
  std::vector<std::vector<int>> truth(nqueries);
  t = Clock::now();
  compute::ParallelFor(nqueries, threads, [&](int64_t i, int) {
    truth[i] = BruteForce(originals, queries[i].data(), so.query_tokens, so.dim, 100);
  });
  std::printf("ground truth (brute force, %d threads): %.1f s\n", threads, Seconds(t));
  const int nbase = std::min(nqueries, absl::GetFlag(FLAGS_baseline_queries));
  t = Clock::now();
  for (int i = 0; i < nbase; ++i)
    BruteForce(originals, queries[i].data(), so.query_tokens, so.dim, 100);
  const double base_qps = nbase / Seconds(t);
  double truth_mrr = 0;
  for (int i = 0; i < nqueries; ++i) {
    for (size_t r = 0; r < truth[i].size(); ++r)
      if (truth[i][r] == positives[i]) truth_mrr += 1.0 / double(r + 1);
  }
  std::printf(
      "baseline QPS %.2f; MRR@100 of the positive under exact MaxSim on originals: %.3f\n\n",
      base_qps, truth_mrr / nqueries);

  std::printf(
      "| nbits | nprobe | candidates | R@10 vs orig | R@100 vs orig | ceiling R@10 | "
      "ceiling R@100 | R@10 vs decompressed | MRR@10 | QPS 1t | QPS 2t | p50 ms | p99 ms | "
      "CPU ms/query 1t | x brute force | ms: lists / centroid scores / rerank | docs from "
      "lists |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::string notes;
  for (const auto& nb : absl::StrSplit(absl::GetFlag(FLAGS_nbits), ',')) {
    ShardOptions o;
    o.data_dir = absl::GetFlag(FLAGS_dir);
    std::filesystem::remove_all(o.data_dir);
    o.dim = so.dim;
    o.nbits = std::stoi(std::string(nb));
    o.background_compaction = false;
    o.flush_threshold_tokens = size_t(1) << 40;
    o.build_threads = threads;
    o.kmeans_iterations = absl::GetFlag(FLAGS_kmeans_iterations);
    o.kmeans_sample_per_centroid = absl::GetFlag(FLAGS_kmeans_sample_per_centroid);
    compute::SetBlasThreads(threads);  // the index build may use every core
    auto shard_or = Shard::Open(o);
    if (!shard_or.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(shard_or.status().message()).c_str());
      return 1;
    }
    Shard& shard = **shard_or;
    // Build: 90% in the first segment, the rest later as a second segment (for compaction).
    const int first_part = so.num_docs * 9 / 10;
    t = Clock::now();
    for (int b = 0; b < first_part; b += 1000) {
      if (!shard.Upsert(Docs(originals, metadata, so.dim, b, std::min(first_part, b + 1000))).ok())
        return 1;
    }
    const double ingest_s = Seconds(t);
    t = Clock::now();
    if (!shard.Flush().ok()) return 1;
    const double flush_s = Seconds(t);
    for (int b = first_part; b < so.num_docs; b += 1000) {
      if (!shard.Upsert(Docs(originals, metadata, so.dim, b, std::min(so.num_docs, b + 1000))).ok())
        return 1;
    }
    if (!shard.Flush().ok()) return 1;
    // Delete 2% (not positives' ground truth; just churn) and reinsert them: tombstones +
    // replacements that compaction must purge.
    std::vector<Document> again;
    for (int i = 0; i < so.num_docs; i += 50)
      again.push_back(Docs(originals, metadata, so.dim, i, i + 1)[0]);
    if (!shard.Upsert(again).ok() || !shard.Flush().ok()) return 1;
    const ShardStats before = shard.Stats();
    t = Clock::now();
    if (!shard.Compact().ok()) return 1;
    const double compact_s = Seconds(t);
    const ShardStats st = shard.Stats();
    compute::SetBlasThreads(1);
    notes += absl::StrFormat(
        "- nbits=%s: ingest (SQLite, group commit) %.1f s, flush of %d docs (k-means %d centroids "
        "+ encode) %.1f s; compaction of %d segments (%d dead docs) %.1f s. After compaction: %d "
        "docs, %d tokens; disk %.1f bytes/token (segment %.1f of which centroids %.1f; "
        "SQLite ids/metadata %.1f), RAM %.1f bytes/token (excluding the mmapped segment, which "
        "the OS pages in).\n",
        std::string(nb), ingest_s, first_part, st.num_centroids, flush_s, int(before.segments),
        int(before.dead_documents), compact_s, int(st.documents), int(st.token_vectors),
        double(st.bytes_on_disk) / double(st.token_vectors),
        double(st.bytes_segments) / double(st.token_vectors),
        double(st.bytes_centroids) / double(st.token_vectors),
        double(st.bytes_on_disk - st.bytes_segments) / double(st.token_vectors),
        double(st.bytes_in_ram) / double(st.token_vectors));

    // Ceiling: exact MaxSim on the decompressed vectors.
    std::vector<std::vector<Hit>> dec_truth(nqueries);
    double ceil10 = 0, ceil100 = 0;
    SearchParams exact;
    exact.exact = true;
    exact.k = 100;
    t = Clock::now();
    compute::ParallelFor(nqueries, threads, [&](int64_t i, int) {
      dec_truth[i] = *shard.Search(queries[i].data(), so.query_tokens, exact);
    });
    for (int i = 0; i < nqueries; ++i) {
      ceil10 += Recall(dec_truth[i], truth[i], 10);
      ceil100 += Recall(dec_truth[i], truth[i], 100);
    }
    std::fprintf(stderr, "nbits=%s: ceiling (exact on decompressed, %d threads) %.1f s\n",
                 std::string(nb).c_str(), threads, Seconds(t));
    for (const auto& np : absl::StrSplit(absl::GetFlag(FLAGS_nprobe), ',')) {
      for (const Depth& depth : depths) {
        // k=10: recall@10, MRR, latency, QPS.
        SearchParams p;
        p.k = 10;
        p.nprobe = std::stoi(std::string(np));
        if (depth.approx > 0) p.n_candidates_approx = depth.approx;
        if (depth.exact > 0) p.n_rerank_exact = depth.exact;
        SearchTrace trace;
        p.trace = &trace;
        // k=100 (recall@100) needs a deeper rerank.
        SearchParams p100 = p;
        p100.k = 100;
        p100.n_candidates_approx = 4 * absl::GetFlag(FLAGS_n_rerank_exact);
        p100.n_rerank_exact = absl::GetFlag(FLAGS_n_rerank_exact);
        p100.trace = nullptr;
        double r10 = 0, r100 = 0, a10 = 0, mrr = 0;
        std::vector<double> lat;
        std::vector<std::vector<Hit>> results(nqueries);
        // CPU time of this thread as well as wall time: on a shared, loaded machine the CPU
        // time per query still compares engines.
        const double cpu0 = ThreadCpuSeconds();
        for (int i = 0; i < nqueries; ++i) {
          auto q0 = Clock::now();
          results[i] = *shard.Search(queries[i].data(), so.query_tokens, p);
          lat.push_back(Seconds(q0));
        }
        const double cpu_ms = 1e3 * (ThreadCpuSeconds() - cpu0) / nqueries;
        p.trace = nullptr;
        for (int i = 0; i < nqueries; ++i) {
          r10 += Recall(results[i], truth[i], 10);
          r100 += Recall(*shard.Search(queries[i].data(), so.query_tokens, p100), truth[i], 100);
          a10 += Recall(results[i], Ids(dec_truth[i]), 10);
          for (size_t r = 0; r < results[i].size(); ++r)
            if (DocNumber(results[i][r].id) == positives[i]) mrr += 1.0 / double(r + 1);
        }
        const double qps1 = nqueries / std::accumulate(lat.begin(), lat.end(), 0.0);
        auto b0 = Clock::now();  // 2 threads, one query each at a time (as two concurrent clients)
        compute::ParallelFor(nqueries, 2, [&](int64_t i, int) {
          (void)shard.Search(queries[i].data(), so.query_tokens, p);
        });
        const double qps2 = nqueries / Seconds(b0);
        std::printf(
            "| %s | %d | %d/%d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.2f | "
            "%.2f | %.2f | %.0fx | %.2f / %.2f / %.2f | %.0f |\n",
            std::string(nb).c_str(), p.nprobe, p.n_candidates_approx, p.n_rerank_exact,
            r10 / nqueries, r100 / nqueries, ceil10 / nqueries, ceil100 / nqueries, a10 / nqueries,
            mrr / nqueries, qps1, qps2, 1e3 * Percentile(lat, 0.5), 1e3 * Percentile(lat, 0.99),
            cpu_ms, qps1 / base_qps, 1e3 * trace.candidates_seconds / nqueries,
            1e3 * trace.approx_seconds / nqueries, 1e3 * trace.rerank_seconds / nqueries,
            double(trace.candidates) / nqueries);
        std::fflush(stdout);
      }
    }
    shard.Close().IgnoreError();
  }
  std::printf("\n%s", notes.c_str());
  if (!absl::GetFlag(FLAGS_keep_dir)) std::filesystem::remove_all(absl::GetFlag(FLAGS_dir));
  return 0;
}

}  // namespace
}  // namespace tartan::index

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows even when piped
  absl::ParseCommandLine(argc, argv);
  return tartan::index::Main();
}
