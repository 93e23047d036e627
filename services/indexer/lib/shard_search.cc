// Search: exact over the mutable segment; PLAID-style over compressed segments
// (probe centroids -> candidates -> pruned centroid scores -> full centroid scores ->
// decompress + exact MaxSim), or brute force over every stored vector when params.exact.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/indexer/lib/kernels.h"
#include "services/indexer/lib/shard_impl.h"

namespace tartan::index {
namespace {

struct Candidate {
  float score;
  uint32_t seg;  // index into the snapshot's segments
  uint32_t local;
};

// Keeps the best `n` by score (ties broken by position for determinism).
void KeepTop(std::vector<Candidate>* c, size_t n) {
  if (c->size() <= n) return;
  std::nth_element(c->begin(), c->begin() + n, c->end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  c->resize(n);
}

// Per-codec query/centroid scores, centroid-major: st[c * nq + i] = centroid_c . q_i.
struct CodecScores {
  const Codec* codec;
  std::vector<float> st;
  std::vector<float> best;    // [nc] max_i st[c, i]
  std::vector<uint8_t> probe; // [nc] 1 when in some query token's top nprobe
};

CodecScores ScoreCentroids(const Codec& codec, const float* q, int nq, int nprobe) {
  CodecScores cs;
  cs.codec = &codec;
  const int nc = codec.num_centroids;
  cs.st.resize(size_t(nc) * nq);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, nq, codec.dim, 1.f,
              codec.centroids.data(), codec.dim, q, codec.dim, 0.f, cs.st.data(), nq);
  cs.best.assign(nc, -1e30f);
  for (int c = 0; c < nc; ++c)
    for (int i = 0; i < nq; ++i) cs.best[c] = std::max(cs.best[c], cs.st[size_t(c) * nq + i]);
  cs.probe.assign(nc, 0);
  const int np = std::min(nprobe, nc);
  std::vector<std::pair<float, int>> col(nc);
  for (int i = 0; i < nq; ++i) {
    for (int c = 0; c < nc; ++c) col[c] = {cs.st[size_t(c) * nq + i], c};
    std::partial_sort(col.begin(), col.begin() + np, col.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (int j = 0; j < np; ++j) cs.probe[col[j].second] = 1;
  }
  return cs;
}

// Approximate score from centroids alone: sum_i max_t st[code_t, i]. With prune, tokens
// whose centroid scores below the threshold against every query token are skipped (their
// contribution counts as 0 — PLAID's centroid pruning).
TARTAN_TARGET_CLONES_AVX2 float CentroidScore(
    const CodecScores& cs, const Segment& s, uint32_t doc, int nq, bool prune, float threshold,
    float* maxes) {
  for (int i = 0; i < nq; ++i) maxes[i] = prune ? 0.f : -1e30f;
  const uint64_t b = s.doc_begin(doc), e = b + s.doc_len(doc);
  bool any = false;
  for (uint64_t t = b; t < e; ++t) {
    const uint32_t c = s.code(t);
    if (prune && cs.best[c] < threshold) continue;
    any = true;
    const float* row = cs.st.data() + size_t(c) * nq;
    for (int i = 0; i < nq; ++i) maxes[i] = std::max(maxes[i], row[i]);
  }
  if (!any && !prune) return 0;
  float total = 0;
  for (int i = 0; i < nq; ++i) total += maxes[i];
  return total;
}

// Accumulates stage times into an optional SearchTrace.
class StageClock {
 public:
  explicit StageClock(SearchTrace* trace) : trace_(trace), last_(std::chrono::steady_clock::now()) {}
  void Lap(double SearchTrace::*field) {
    if (trace_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    trace_->*field += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  SearchTrace* trace_;
  std::chrono::steady_clock::time_point last_;
};

struct TopK {
  size_t k;
  std::vector<Hit> hits;
  void Add(std::string_view id, float score) { hits.push_back(Hit{std::string(id), score}); }
  std::vector<Hit> Finish() {
    auto better = [](const Hit& a, const Hit& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    };
    if (hits.size() > k) {
      std::nth_element(hits.begin(), hits.begin() + k, hits.end(), better);
      hits.resize(k);
    }
    std::sort(hits.begin(), hits.end(), better);
    return std::move(hits);
  }
};

}  // namespace

absl::StatusOr<std::vector<Hit>> ShardImpl::Search(const float* q, int nq,
                                                   const SearchParams& p) const {
  if (q == nullptr || nq <= 0)
    return absl::InvalidArgumentError("query needs at least one token vector");
  if (p.k <= 0) return absl::InvalidArgumentError(absl::StrCat("k must be positive, got ", p.k));
  const int dim = opts_.dim;
  const Snapshot snap = TakeSnapshot();
  absl::flat_hash_set<std::string_view> subset(p.id_subset.begin(), p.id_subset.end());
  auto eligible = [&](std::string_view id, const Metadata& m) {
    if (!subset.empty() && !subset.contains(id)) return false;
    return p.filter == nullptr || p.filter->Matches(m);
  };
  TopK top{size_t(p.k), {}};
  SearchTrace local_trace;
  SearchTrace& trace = p.trace != nullptr ? *p.trace : local_trace;
  StageClock clock(&trace);

  // Mutable segment: exact.
  for (const auto& d : snap.mutable_docs)
    if (eligible(d->id, d->metadata)) {
      top.Add(d->id, kernels::MaxSimDispatch(q, nq, d->vectors.data(), d->num_tokens, dim));
      ++trace.exact_scored;
    }
  clock.Lap(&SearchTrace::exact_segment_seconds);

  std::vector<float> buf;
  if (p.exact) {
    // Brute force: decode in blocks of whole documents, one GEMM per block.
    constexpr size_t kBlockTokens = 8192;
    std::vector<float> scratch, scores;
    std::vector<uint32_t> offsets, locals, codes;
    for (const auto& h : snap.segments) {
      const Segment& s = *h->seg;
      auto run = [&] {
        if (locals.empty()) return;
        scores.resize(locals.size());
        kernels::MaxSimBlock(q, nq, buf.data(), offsets.data(), int(locals.size()), dim,
                             scores.data(), &scratch);
        for (size_t j = 0; j < locals.size(); ++j) top.Add(s.id(locals[j]), scores[j]);
        trace.exact_scored += locals.size();
        locals.clear();
        offsets.assign(1, 0);
      };
      offsets.assign(1, 0);
      locals.clear();
      for (uint32_t i = 0; i < s.num_docs(); ++i) {
        if (!h->IsAlive(i) || !eligible(s.id(i), *h->metadata[i])) continue;
        const uint32_t n = s.doc_len(i);
        if (offsets.back() + n > kBlockTokens) run();
        buf.resize(size_t(offsets.back() + n) * dim);
        s.DecodeDoc(i, buf.data() + size_t(offsets.back()) * dim);
        offsets.push_back(offsets.back() + n);
        locals.push_back(i);
      }
      run();
    }
    clock.Lap(&SearchTrace::rerank_seconds);
    return top.Finish();
  }

  // Stage 1: candidates from the probed centroids' inverted lists (filters applied here).
  std::vector<std::unique_ptr<CodecScores>> codec_scores;
  std::vector<const CodecScores*> seg_scores(snap.segments.size());
  for (size_t si = 0; si < snap.segments.size(); ++si) {
    const Codec* c = snap.segments[si]->seg->codec().get();
    const CodecScores* found = nullptr;
    for (const auto& cs : codec_scores)
      if (cs->codec == c) found = cs.get();
    if (!found) {
      codec_scores.push_back(
          std::make_unique<CodecScores>(ScoreCentroids(*c, q, nq, std::max(1, p.nprobe))));
      found = codec_scores.back().get();
    }
    seg_scores[si] = found;
  }
  std::vector<Candidate> cands;
  std::vector<float> maxes(nq);
  for (size_t si = 0; si < snap.segments.size(); ++si) {
    const SegmentHandle& h = *snap.segments[si];
    const Segment& s = *h.seg;
    const CodecScores& cs = *seg_scores[si];
    std::vector<uint8_t> seen(s.num_docs(), 0);  // 0 unseen, 1 candidate, 2 rejected
    std::vector<uint32_t> list;
    for (int c = 0; c < cs.codec->num_centroids; ++c) {
      if (!cs.probe[c]) continue;
      list.clear();
      s.IvfDocs(uint32_t(c), &list);
      for (const uint32_t* d = list.data(); d != list.data() + list.size(); ++d) {
        if (seen[*d]) continue;
        const bool ok = h.IsAlive(*d) && eligible(s.id(*d), *h.metadata[*d]);
        seen[*d] = ok ? 1 : 2;
        if (ok) cands.push_back(Candidate{0.f, uint32_t(si), *d});
      }
    }
  }
  // A selective filter may leave fewer than k candidates near the query: widen to every
  // eligible document so k results come back whenever k exist.
  if (cands.size() + top.hits.size() < size_t(p.k)) {
    cands.clear();
    for (size_t si = 0; si < snap.segments.size(); ++si) {
      const SegmentHandle& h = *snap.segments[si];
      for (uint32_t i = 0; i < h.seg->num_docs(); ++i)
        if (h.IsAlive(i) && eligible(h.seg->id(i), *h.metadata[i]))
          cands.push_back(Candidate{0.f, uint32_t(si), i});
    }
  }
  trace.candidates += cands.size();
  clock.Lap(&SearchTrace::candidates_seconds);
  // Stage 2: pruned centroid scores.
  for (Candidate& c : cands)
    c.score = CentroidScore(*seg_scores[c.seg], *snap.segments[c.seg]->seg, c.local, nq, true,
                            p.centroid_score_threshold, maxes.data());
  KeepTop(&cands, size_t(std::max(p.n_candidates_approx, p.k)));
  // Stage 3: full centroid scores.
  for (Candidate& c : cands)
    c.score = CentroidScore(*seg_scores[c.seg], *snap.segments[c.seg]->seg, c.local, nq, false,
                            0.f, maxes.data());
  KeepTop(&cands, size_t(std::max(p.n_rerank_exact, p.k)));
  clock.Lap(&SearchTrace::approx_seconds);
  // Stage 4: decompress the survivors into one block and score them with one GEMM.
  std::vector<uint32_t> offsets{0};
  for (const Candidate& c : cands) {
    const Segment& s = *snap.segments[c.seg]->seg;
    const uint32_t n = s.doc_len(c.local);
    buf.resize(size_t(offsets.back() + n) * dim);
    s.DecodeDoc(c.local, buf.data() + size_t(offsets.back()) * dim);
    offsets.push_back(offsets.back() + n);
  }
  std::vector<float> scores(cands.size()), scratch;
  if (!cands.empty())
    kernels::MaxSimBlock(q, nq, buf.data(), offsets.data(), int(cands.size()), dim,
                         scores.data(), &scratch);
  for (size_t j = 0; j < cands.size(); ++j)
    top.Add(snap.segments[cands[j].seg]->seg->id(cands[j].local), scores[j]);
  trace.exact_scored += cands.size();
  clock.Lap(&SearchTrace::rerank_seconds);
  return top.Finish();
}

// ---- public wrapper ----

Shard::Shard(std::unique_ptr<ShardImpl> impl) : impl_(std::move(impl)) {}
Shard::~Shard() = default;

absl::StatusOr<std::unique_ptr<Shard>> Shard::Open(const ShardOptions& options) {
  auto impl = std::make_unique<ShardImpl>(options);
  RETURN_IF_ERROR(impl->Recover());
  return std::unique_ptr<Shard>(new Shard(std::move(impl)));
}

absl::Status Shard::Upsert(std::vector<Document> docs) { return impl_->Upsert(std::move(docs)); }
absl::StatusOr<int> Shard::Delete(const std::vector<std::string>& ids) { return impl_->Delete(ids); }
absl::StatusOr<std::vector<Hit>> Shard::Search(const float* query, int n,
                                               const SearchParams& params) const {
  return impl_->Search(query, n, params);
}
absl::StatusOr<std::vector<std::optional<Document>>> Shard::Get(
    const std::vector<std::string>& ids) const {
  return impl_->Get(ids);
}
ShardStats Shard::Stats() const { return impl_->Stats(); }
absl::Status Shard::Flush() { return impl_->Flush(); }
absl::Status Shard::Compact() { return impl_->Compact(); }
absl::Status Shard::Close() { return impl_->Close(); }
absl::StatusOr<int> Shard::ImportPlaidIndex(const std::string& dir, const std::string& prefix) {
  return impl_->ImportPlaid(dir, prefix);
}

absl::StatusOr<std::vector<std::vector<Hit>>> Shard::SearchBatch(
    const std::vector<const float*>& queries, const std::vector<int>& num_query_tokens,
    const SearchParams& params) const {
  if (queries.size() != num_query_tokens.size())
    return absl::InvalidArgumentError("queries and num_query_tokens differ in length");
  std::vector<absl::StatusOr<std::vector<Hit>>> results(queries.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < queries.size();)
      results[i] = impl_->Search(queries[i], num_query_tokens[i], params);
  };
  const int threads = std::max(1, std::min<int>(impl_->options().num_threads, int(queries.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  std::vector<std::vector<Hit>> out;
  out.reserve(results.size());
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace tartan::index
