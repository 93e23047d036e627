#include "services/indexer/lib/compressed_segment.h"

#include <algorithm>

#include "common/compute/target_clones.h"
#include "services/indexer/lib/block_maxsim.h"
#include "services/indexer/lib/residual_lut.h"

namespace tartan::index {

namespace {
const Metadata kNoMetadata;
}  // namespace

CompressedSegment::CompressedSegment(int64_t id, std::string file_name,
                                     std::shared_ptr<SegmentFile> file)
    : Segment(id, file->num_docs()),
      file_name_(std::move(file_name)),
      file_(std::move(file)),
      metadata_(file_->num_docs(), std::shared_ptr<const Metadata>(&kNoMetadata, [](auto*) {})),
      lsns_(file_->num_docs(), 0) {}

void CompressedSegment::SetDocInfo(uint32_t local, std::shared_ptr<const Metadata> metadata,
                                   uint64_t lsn) {
  // Imports share one map among all their documents: count it once.
  if (local == 0 || metadata != metadata_[local - 1]) metadata_bytes_ += MetadataBytes(*metadata);
  metadata_[local] = std::move(metadata);
  lsns_[local] = lsn;
}

uint64_t CompressedSegment::ram_bytes() const {
  // Per document: metadata, a pointer to it, an LSN and an alive bit; the file is mmapped.
  return metadata_bytes_ + uint64_t(num_docs()) * (sizeof(metadata_[0]) + sizeof(uint64_t) + 1);
}

void CompressedSegment::FindCandidates(const SearchQuery& query, bool widen,
                                       std::vector<uint32_t>* out) const {
  const DocPredicate& eligible = *query.eligible;
  if (widen) {
    for (uint32_t i = 0; i < num_docs(); ++i)
      if (IsAlive(i) && eligible(doc_id(i), metadata(i))) out->push_back(i);
    return;
  }
  const CentroidScores& cs = query.ScoresFor(codec().get());
  std::vector<uint8_t> seen(num_docs(), 0);  // 0 unseen, 1 candidate, 2 rejected
  std::vector<uint32_t> list;
  for (int c = 0; c < cs.codec->num_centroids; ++c) {
    if (!cs.probed(uint32_t(c))) continue;
    list.clear();
    file_->IvfDocs(uint32_t(c), &list);
    for (const uint32_t d : list) {
      if (seen[d]) continue;
      const bool ok = IsAlive(d) && eligible(doc_id(d), metadata(d));
      seen[d] = ok ? 1 : 2;
      if (ok) out->push_back(d);
    }
  }
}

namespace {

// Stage 3: sum_i max over the document's tokens t of (q_i . (centroid_t + residual_t) when
// q_i probed t's centroid, from the residual lookup tables, else centroid_t . q_i). PLAID uses
// centroid scores only here, which misranks documents when residuals are large.
// maxes, row: scratch [nq].
TARTAN_TARGET_CLONES_AVX2 float ResidualRefinedScore(const CentroidScores& cs, const SegmentFile& s,
                                                     uint32_t doc, int nq, float* maxes,
                                                     float* row) {
  for (int i = 0; i < nq; ++i) maxes[i] = -3.0e38f;
  const uint64_t b = s.doc_begin(doc), e = b + s.doc_len(doc);
  if (b == e) return 0;
  for (uint64_t t = b; t < e; ++t) {
    const uint32_t c = s.code(t);
    const float* st = cs.st.data() + size_t(c) * nq;
    if (cs.probed(c)) {
      std::copy_n(st, nq, row);
      for (uint32_t k = cs.probe_begin[c]; k < cs.probe_begin[c + 1]; ++k) {
        const uint32_t i = cs.probed_by[k];
        row[i] = ProbedTokenScore(cs, int(i), c, s.residual(t));
      }
      st = row;
    }
    for (int i = 0; i < nq; ++i) maxes[i] = std::max(maxes[i], st[i]);
  }
  float total = 0;
  for (int i = 0; i < nq; ++i) total += maxes[i];
  return total;
}

}  // namespace

// Stage 2, from centroids alone: sum_i max_t st[code_t, i], where tokens whose centroid
// scores below the threshold against every query token count as 0 (PLAID's centroid pruning).
float CompressedSegment::ApproxScore(const SearchQuery& query, uint32_t local,
                                     ScoreScratch* /*scratch*/) const {
  const Stage2Table& table = query.ScoresFor(codec().get()).stage2;
  const uint64_t b = file_->doc_begin(local);
  const size_t n = file_->doc_len(local);
  const uint32_t steps = file_->codes16() != nullptr
                             ? Stage2MaxSum(table, query.nq, file_->codes16() + b, n)
                             : Stage2MaxSum(table, query.nq, file_->codes32() + b, n);
  return float(steps) * table.step;
}

float CompressedSegment::RefinedScore(const SearchQuery& query, uint32_t local,
                                      ScoreScratch* scratch) const {
  scratch->maxes.resize(query.nq);
  scratch->row.resize(query.nq);
  return ResidualRefinedScore(query.ScoresFor(codec().get()), *file_, local, query.nq,
                              scratch->maxes.data(), scratch->row.data());
}

void CompressedSegment::ScoreExhaustively(const SearchQuery& query, std::vector<SegmentHit>* out,
                                          ScoreScratch* scratch) const {
  constexpr uint32_t kBlockTokens = 8192;
  std::vector<uint32_t>& locals = scratch->locals;
  locals.clear();
  BlockMaxSim block(query, kBlockTokens, scratch, [&](size_t j, float score) {
    out->push_back(SegmentHit{locals[j], score});
  });
  for (uint32_t i = 0; i < num_docs(); ++i) {
    if (!IsAlive(i) || !(*query.eligible)(doc_id(i), metadata(i))) continue;
    locals.push_back(i);
    if (block.Add(*this, i) && !query.Interrupted().ok()) return;  // the searcher reports it
  }
  block.Finish();
}

}  // namespace tartan::index
