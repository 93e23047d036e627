// Search: exact over the mutable segment; over compressed segments in PLAID's stages, or
// brute force over every stored vector when params.exact:
//  1. query tokens . centroids (one GEMM); each query token probes its nprobe best
//     centroids; candidates = documents in the probed inverted lists (filters applied here).
//  2. Pruned centroid scores (PLAID): sum_i max over the document's tokens of centroid . q_i,
//     skipping tokens whose centroid scores below the threshold for every query token; the
//     n_candidates_approx best go on.
//  3. Centroid scores refined with residuals: a token whose centroid q_i probed is
//     decompressed and counts with its exact similarity to q_i, the others with their
//     centroid's score (PLAID uses centroid scores only here, which misranks documents when
//     residuals are large); the n_rerank_exact best go on.
//  4. Decompress them and score exact MaxSim (one GEMM); top k.
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
  std::vector<float> best;             // [nc] max_i st[c, i]
  std::vector<uint32_t> probe_begin;   // [nc + 1] into probed_by: the query tokens that
  std::vector<uint32_t> probed_by;     // probed centroid c (c is probed when non-empty)
  bool probed(uint32_t c) const { return probe_begin[c] != probe_begin[c + 1]; }
};

CodecScores ScoreCentroids(const Codec& codec, const float* q, int nq, int nprobe) {
  CodecScores cs;
  cs.codec = &codec;
  const int nc = codec.num_centroids;
  cs.st.resize(size_t(nc) * nq);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, nq, codec.dim, 1.f,
              codec.centroids.data(), codec.dim, q, codec.dim, 0.f, cs.st.data(), nq);
  // One pass over the table: each centroid's best query score, and each query token's
  // nprobe best centroids kept in a small sorted list (nprobe is small; most scores fail
  // the first comparison) instead of a sort of all centroids per query token.
  const int np = std::min(nprobe, nc);
  std::vector<float> top_s(size_t(nq) * np, -3.0e38f);
  std::vector<uint32_t> top_c(size_t(nq) * np, 0);
  cs.best.resize(nc);
  for (int c = 0; c < nc; ++c) {
    const float* row = cs.st.data() + size_t(c) * nq;
    float best = -3.0e38f;
    for (int i = 0; i < nq; ++i) {
      const float v = row[i];
      best = std::max(best, v);
      float* ts = top_s.data() + size_t(i) * np;
      if (v <= ts[np - 1]) continue;
      uint32_t* tc = top_c.data() + size_t(i) * np;
      int j = np - 1;
      for (; j > 0 && ts[j - 1] < v; --j) ts[j] = ts[j - 1], tc[j] = tc[j - 1];
      ts[j] = v, tc[j] = uint32_t(c);
    }
    cs.best[c] = best;
  }
  // (centroid, query token) pairs as compressed rows by centroid.
  cs.probe_begin.assign(nc + 1, 0);
  for (uint32_t c : top_c) ++cs.probe_begin[c + 1];
  for (int c = 0; c < nc; ++c) cs.probe_begin[c + 1] += cs.probe_begin[c];
  cs.probed_by.resize(top_c.size());
  std::vector<uint32_t> fill(cs.probe_begin.begin(), cs.probe_begin.end() - 1);
  for (int i = 0; i < nq; ++i)
    for (int j = 0; j < np; ++j) cs.probed_by[fill[top_c[size_t(i) * np + j]]++] = uint32_t(i);
  return cs;
}

// Stage 2, from centroids alone: sum_i max_t st[code_t, i], skipping tokens whose centroid
// scores below the threshold against every query token (they count as 0 — PLAID's
// centroid pruning).
TARTAN_TARGET_CLONES_AVX2 float PrunedCentroidScore(const CodecScores& cs, const Segment& s,
                                                    uint32_t doc, int nq, float threshold,
                                                    float* maxes) {
  for (int i = 0; i < nq; ++i) maxes[i] = 0.f;
  const uint64_t b = s.doc_begin(doc), e = b + s.doc_len(doc);
  for (uint64_t t = b; t < e; ++t) {
    const uint32_t c = s.code(t);
    if (cs.best[c] < threshold) continue;
    const float* row = cs.st.data() + size_t(c) * nq;
    for (int i = 0; i < nq; ++i) maxes[i] = std::max(maxes[i], row[i]);
  }
  float total = 0;
  for (int i = 0; i < nq; ++i) total += maxes[i];
  return total;
}

// Stage 3: sum_i max over the document's tokens t of (q_i . decoded t when q_i probed t's
// centroid, else centroid_t . q_i). `row` and `decoded` are scratch ([nq], [dim]).
TARTAN_TARGET_CLONES_AVX2 float RefinedScore(const CodecScores& cs, const Segment& s,
                                             uint32_t doc, const float* q, int nq, float* maxes,
                                             float* row, float* decoded) {
  const int dim = cs.codec->dim;
  for (int i = 0; i < nq; ++i) maxes[i] = -3.0e38f;
  const uint64_t b = s.doc_begin(doc), e = b + s.doc_len(doc);
  if (b == e) return 0;
  for (uint64_t t = b; t < e; ++t) {
    const uint32_t c = s.code(t);
    const float* st = cs.st.data() + size_t(c) * nq;
    if (cs.probed(c)) {
      std::copy_n(st, nq, row);
      cs.codec->Decode(&c, s.residual(t), 1, decoded);
      for (uint32_t k = cs.probe_begin[c]; k < cs.probe_begin[c + 1]; ++k) {
        const uint32_t i = cs.probed_by[k];
        row[i] = kernels::MaxSimDispatch(q + size_t(i) * dim, 1, decoded, 1, dim);  // a dot
      }
      st = row;
    }
    for (int i = 0; i < nq; ++i) maxes[i] = std::max(maxes[i], st[i]);
  }
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
      if (!cs.probed(uint32_t(c))) continue;
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
    c.score = PrunedCentroidScore(*seg_scores[c.seg], *snap.segments[c.seg]->seg, c.local, nq,
                                  p.centroid_score_threshold, maxes.data());
  KeepTop(&cands, size_t(std::max(p.n_candidates_approx, p.k)));
  // Stage 3: centroid scores refined with the probed tokens' residuals.
  std::vector<float> row(nq), decoded(dim);
  for (Candidate& c : cands)
    c.score = RefinedScore(*seg_scores[c.seg], *snap.segments[c.seg]->seg, c.local, q, nq,
                           maxes.data(), row.data(), decoded.data());
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
