#include "services/indexer/lib/searcher.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/compute/dnnl_matmul.h"
#include "common/status_macros.h"
#include "services/indexer/lib/block_maxsim.h"
#include "services/indexer/lib/residual_lut.h"

namespace tartan::index {
namespace {

struct Candidate {
  float score;
  uint32_t seg;  // index into the searched segments
  uint32_t local;
};

// Keeps the best `n` by score.
void KeepTop(std::vector<Candidate>* c, size_t n) {
  if (c->size() <= n) return;
  std::nth_element(c->begin(), c->begin() + n, c->end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  c->resize(n);
}

// Accumulates stage times into a SearchTrace.
class StageClock {
 public:
  explicit StageClock(SearchTrace* trace)
      : trace_(trace), last_(std::chrono::steady_clock::now()) {}
  void Lap(double SearchTrace::*field) {
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

// A search thread's CentroidScores, kept for its next searches: the score table is 4 MB at
// 32,768 centroids x 32 query tokens and the residual tables 2 MB. Allocated and zeroed per
// query, they cost 17% of a search's CPU under load (memset and page faults in perf), and
// some processes ran 3x slower for their whole life (bench/RESULTS.md). A thread keeps at
// most kKept (one per codec of a typical snapshot).
class ScoresPool {
 public:
  static std::unique_ptr<CentroidScores> Take() {
    std::vector<std::unique_ptr<CentroidScores>>& kept = Kept();
    if (kept.empty()) return std::make_unique<CentroidScores>();
    std::unique_ptr<CentroidScores> cs = std::move(kept.back());
    kept.pop_back();
    return cs;
  }
  // Takes back a search's entries when it ends (declared after them, so destroyed first).
  explicit ScoresPool(std::vector<std::unique_ptr<CentroidScores>>* used) : used_(used) {}
  ~ScoresPool() {
    std::vector<std::unique_ptr<CentroidScores>>& kept = Kept();
    for (auto& cs : *used_)
      if (kept.size() < kKept) kept.push_back(std::move(cs));
  }

 private:
  static constexpr size_t kKept = 2;
  static std::vector<std::unique_ptr<CentroidScores>>& Kept() {
    thread_local std::vector<std::unique_ptr<CentroidScores>> kept;
    return kept;
  }
  std::vector<std::unique_ptr<CentroidScores>>* used_;
};

// Stage 1a: the query tokens against one codec's centroids (one GEMM), each query token's
// nprobe best centroids and stage 2's 8-bit copy of the scores. Stage 3's residual lookup
// tables are built only if it runs (BuildStage3Tables).
std::unique_ptr<CentroidScores> ScoreCentroids(const Codec& codec, const float* q, int nq,
                                               int nprobe, float threshold) {
  std::unique_ptr<CentroidScores> cs = ScoresPool::Take();
  cs->codec = &codec;
  cs->nq = nq;
  const int nc = codec.num_centroids;
  cs->st.resize(size_t(nc) * nq);
  // st[c * nq + t] = centroid c . query token t, on this search's thread.
  compute::StridedMatmul(compute::MatmulDataType::kFloat32, /*trans_b=*/true, nc, nq, codec.dim,
                         1.0f, codec.centroids.data(), codec.dim, q, codec.dim, cs->st.data(), nq,
                         /*num_threads=*/1);
  // One pass over the table: each centroid's best query score, and each query token's
  // nprobe best centroids kept in a small sorted list (nprobe is small; most scores fail
  // the first comparison) instead of a sort of all centroids per query token.
  const int np = std::min(nprobe, nc);
  std::vector<float> top_s(size_t(nq) * np, -3.0e38f);
  std::vector<uint32_t> top_c(size_t(nq) * np, 0);
  cs->best.resize(nc);
  for (int c = 0; c < nc; ++c) {
    const float* row = cs->st.data() + size_t(c) * nq;
    float b = -3.0e38f;
    for (int i = 0; i < nq; ++i) {
      const float v = row[i];
      b = std::max(b, v);
      float* ts = top_s.data() + size_t(i) * np;
      if (v <= ts[np - 1]) continue;
      uint32_t* tc = top_c.data() + size_t(i) * np;
      int j = np - 1;
      for (; j > 0 && ts[j - 1] < v; --j) ts[j] = ts[j - 1], tc[j] = tc[j - 1];
      ts[j] = v, tc[j] = uint32_t(c);
    }
    cs->best[c] = b;
  }
  QuantizeStage2Table(cs->st.data(), cs->best.data(), size_t(nc), nq, threshold, &cs->stage2);
  // (centroid, query token) pairs as compressed rows by centroid.
  cs->probe_begin.assign(nc + 1, 0);
  for (uint32_t c : top_c) ++cs->probe_begin[c + 1];
  for (int c = 0; c < nc; ++c) cs->probe_begin[c + 1] += cs->probe_begin[c];
  cs->probed_by.resize(top_c.size());
  std::vector<uint32_t> fill(cs->probe_begin.begin(), cs->probe_begin.end() - 1);
  for (int i = 0; i < nq; ++i)
    for (int j = 0; j < np; ++j) cs->probed_by[fill[top_c[size_t(i) * np + j]]++] = uint32_t(i);
  return cs;
}

// Stage 1b: candidates from every segment's index; when they are too few for k results
// (a selective filter), every eligible indexed document.
std::vector<Candidate> FindCandidates(const std::vector<const Segment*>& segs,
                                      const SearchQuery& query, size_t already_scored) {
  std::vector<Candidate> cands;
  std::vector<uint32_t> locals;
  for (const bool widen : {false, true}) {
    cands.clear();
    for (uint32_t si = 0; si < segs.size(); ++si) {
      locals.clear();
      segs[si]->FindCandidates(query, widen, &locals);
      for (uint32_t local : locals) cands.push_back(Candidate{0.f, si, local});
    }
    if (cands.size() + already_scored >= size_t(query.params->k)) break;
  }
  return cands;
}

// Polled every this many candidates in the scoring loops.
constexpr size_t kInterruptEvery = 4096;

// Stage 2.
absl::Status ApproxScores(const std::vector<const Segment*>& segs, const SearchQuery& query,
                          std::vector<Candidate>* cands, ScoreScratch* scratch) {
  for (size_t i = 0; i < cands->size(); ++i) {
    if (i % kInterruptEvery == kInterruptEvery - 1) RETURN_IF_ERROR(query.Interrupted());
    Candidate& c = (*cands)[i];
    c.score = segs[c.seg]->ApproxScore(query, c.local, scratch);
  }
  KeepTop(cands, size_t(std::max(query.params->n_candidates_approx, query.params->k)));
  return absl::OkStatus();
}

// How many candidates stage 4 scores exactly (n_rerank_exact; 0: the default). When every
// segment decodes exactly (the rerank store), stage 4 costs about what stage 3 does per
// candidate and is exact, while stage 3's ranking lost the true top 10 (skewed 100k: recall@10
// 0.910 keeping 32 of 128, 0.983 keeping all; bench/RESULTS.md), so it scores every stage-2
// survivor. Otherwise each one is decompressed, and 32 keep >= 0.98 of the compression ceiling.
size_t RerankDepth(const SearchParams& p, const std::vector<const Segment*>& segs) {
  constexpr int kDecompressedDefault = 32;
  int depth = p.n_rerank_exact;
  if (depth <= 0) {
    const bool exact = std::all_of(segs.begin(), segs.end(),
                                   [](const Segment* s) { return s->decodes_exactly(); });
    depth = exact ? std::max(p.n_candidates_approx, p.k) : kDecompressedDefault;
  }
  return size_t(std::max(depth, p.k));
}

// Stage 3's residual lookup tables for every codec the query was scored against (1-2 MB each):
// built only when stage 3 runs, which the default exact depth with the rerank store skips.
void BuildStage3Tables(const float* q, int nq,
                       std::vector<std::unique_ptr<CentroidScores>>* centroid_scores) {
  for (const auto& cs : *centroid_scores) BuildResidualLuts(*cs->codec, q, nq, &cs->residual_lut);
}

// Stage 3.
void RefinedScores(const std::vector<const Segment*>& segs, const SearchQuery& query, size_t depth,
                   std::vector<Candidate>* cands, ScoreScratch* scratch) {
  for (Candidate& c : *cands) c.score = segs[c.seg]->RefinedScore(query, c.local, scratch);
  KeepTop(cands, depth);
}

// Stage 4: decode the survivors (from the rerank store when the segment keeps one) and
// score them exactly, a block of documents (up to kRerankBlockTokens tokens, 1 MB at dim 128)
// at a time.
constexpr uint32_t kRerankBlockTokens = 2048;

void Rerank(const std::vector<const Segment*>& segs, const SearchQuery& query,
            const std::vector<Candidate>& cands, TopK* top, ScoreScratch* scratch) {
  BlockMaxSim block(query, kRerankBlockTokens, scratch, [&](size_t j, float score) {
    top->Add(segs[cands[j].seg]->doc_id(cands[j].local), score);
  });
  for (const Candidate& c : cands) block.Add(*segs[c.seg], c.local);
  block.Finish();
}

}  // namespace

absl::StatusOr<std::vector<Hit>> Search(const SegmentSnapshot& snapshot, const float* q, int nq,
                                        int dim, const SearchParams& p) {
  if (q == nullptr || nq <= 0)
    return absl::InvalidArgumentError("query needs at least one token vector");
  if (p.k <= 0) return absl::InvalidArgumentError(absl::StrCat("k must be positive, got ", p.k));
  const std::vector<const Segment*> segs = snapshot.all();
  const DocPredicate eligible(p);
  std::vector<std::unique_ptr<CentroidScores>> centroid_scores;
  const ScoresPool return_to_pool(&centroid_scores);
  const SearchQuery query{q, nq, dim, &p, &eligible, &centroid_scores};
  TopK top{size_t(p.k), {}};
  SearchTrace local_trace;
  SearchTrace& trace = p.trace != nullptr ? *p.trace : local_trace;
  StageClock clock(&trace);
  ScoreScratch scratch;
  std::vector<SegmentHit> scored;
  auto add_scored = [&](const Segment& seg) {
    for (const SegmentHit& h : scored) top.Add(seg.doc_id(h.local), h.score);
    trace.exact_scored += scored.size();
    scored.clear();
  };

  if (p.exact) {
    for (const Segment* seg : segs) {
      seg->ScoreExhaustively(query, &scored, &scratch);
      add_scored(*seg);
      RETURN_IF_ERROR(query.Interrupted());
    }
    clock.Lap(&SearchTrace::rerank_seconds);
    return top.Finish();
  }

  // Stage 0.
  for (const Segment* seg : segs) {
    seg->ScoreUnindexed(query, &scored, &scratch);
    add_scored(*seg);
  }
  clock.Lap(&SearchTrace::exact_segment_seconds);
  RETURN_IF_ERROR(query.Interrupted());
  // Stage 1: centroid scores once per codec, shared by every segment encoded with it.
  for (const Segment* seg : segs) {
    const Codec* codec = seg->codec().get();
    if (codec == nullptr) continue;  // stores exact vectors: no centroids to score
    bool have = false;
    for (const auto& cs : centroid_scores) have |= cs->codec == codec;
    if (!have)
      centroid_scores.push_back(
          ScoreCentroids(*codec, q, nq, std::max(1, p.nprobe), p.centroid_score_threshold));
  }
  std::vector<Candidate> cands = FindCandidates(segs, query, top.hits.size());
  trace.candidates += cands.size();
  clock.Lap(&SearchTrace::candidates_seconds);
  RETURN_IF_ERROR(query.Interrupted());
  RETURN_IF_ERROR(ApproxScores(segs, query, &cands, &scratch));
  RETURN_IF_ERROR(query.Interrupted());
  // Stage 3 only ranks: when it would keep every candidate, stage 4 scores them all anyway.
  const size_t depth = RerankDepth(p, segs);
  if (cands.size() > depth) {
    BuildStage3Tables(q, nq, &centroid_scores);
    RefinedScores(segs, query, depth, &cands, &scratch);
  }
  clock.Lap(&SearchTrace::approx_seconds);
  RETURN_IF_ERROR(query.Interrupted());
  Rerank(segs, query, cands, &top, &scratch);
  trace.exact_scored += cands.size();
  clock.Lap(&SearchTrace::rerank_seconds);
  return top.Finish();
}

}  // namespace tartan::index
