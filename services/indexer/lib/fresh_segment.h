// The fresh segment: documents written since the last flush, held in memory with their exact
// vectors and searched exhaustively (it has no index). Copy-on-write: a version is immutable
// except for its alive bits; each write batch publishes a new version that shares the
// documents of the previous one and keeps their slot numbers, so readers holding an older
// version are never disturbed. A flush moves the fresh documents into a compressed segment
// and starts a new, renumbered version with whatever was written meanwhile.
#pragma once

#include <memory>
#include <vector>

#include "services/indexer/lib/segment.h"

namespace tartan::index {

struct FreshDoc {
  std::string id;
  int num_tokens = 0;
  std::vector<float> vectors;  // [num_tokens, dim]
  std::shared_ptr<const Metadata> metadata;
  uint64_t lsn = 0;
};

class FreshSegment final : public Segment {
 public:
  static std::shared_ptr<FreshSegment> Empty(int dim);
  // A new version: this version's live documents in their slots (dead slots keep their
  // number but drop their document) followed by `added`, all alive.
  std::shared_ptr<FreshSegment> Append(std::vector<std::shared_ptr<const FreshDoc>> added) const;
  // A new, renumbered version holding this version's live documents except those in
  // `moved` (sorted slot numbers).
  std::shared_ptr<FreshSegment> Without(const std::vector<uint32_t>& moved) const;

  const FreshDoc& doc(uint32_t local) const { return *docs_[local]; }

  uint32_t num_docs() const override { return uint32_t(docs_.size()); }
  std::string_view doc_id(uint32_t local) const override { return docs_[local]->id; }
  uint32_t doc_len(uint32_t local) const override { return uint32_t(docs_[local]->num_tokens); }
  const Metadata& metadata(uint32_t local) const override { return *docs_[local]->metadata; }
  std::shared_ptr<const Metadata> shared_metadata(uint32_t local) const override {
    return docs_[local]->metadata;
  }
  uint64_t lsn(uint32_t local) const override { return docs_[local]->lsn; }
  void DecodeDoc(uint32_t local, float* out) const override;
  bool decodes_exactly() const override { return true; }
  const std::shared_ptr<const Codec>& codec() const override { return no_codec_; }
  uint64_t file_bytes() const override { return 0; }
  uint64_t ram_bytes() const override;

  void ScoreUnindexed(const SearchQuery& query, std::vector<SegmentHit>* out,
                      ScoreScratch* scratch) const override;
  // No index: every document was scored by ScoreUnindexed, none is a candidate.
  void FindCandidates(const SearchQuery& query, bool widen,
                      std::vector<uint32_t>* out) const override {}
  // The stored vectors are exact, so the approximate scores are the exact ones.
  float ApproxScore(const SearchQuery& query, uint32_t local, ScoreScratch* scratch) const override;
  float RefinedScore(const SearchQuery& query, uint32_t local,
                     ScoreScratch* scratch) const override;
  void ScoreExhaustively(const SearchQuery& query, std::vector<SegmentHit>* out,
                         ScoreScratch* scratch) const override;

 private:
  FreshSegment(int dim, std::vector<std::shared_ptr<const FreshDoc>> docs);

  const int dim_;
  // [num_docs]; null for slots whose document died before this version was made.
  const std::vector<std::shared_ptr<const FreshDoc>> docs_;
  const std::shared_ptr<const Codec> no_codec_;
};

}  // namespace tartan::index
