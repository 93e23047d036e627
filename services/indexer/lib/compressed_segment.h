// A compressed segment: an immutable, mmapped segment file (segment_file.h: centroid code
// and nbits residual per token, inverted lists centroid -> documents) plus what the write
// log holds about its documents (metadata, LSNs) and their alive bits. Searched in PLAID's
// stages (searcher.cc) through the hooks below.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "services/indexer/lib/segment.h"
#include "services/indexer/lib/segment_file.h"

namespace tartan::index {

class CompressedSegment final : public Segment {
 public:
  // Every slot starts dead: the segment set marks the documents the write log places here.
  CompressedSegment(int64_t id, std::string file_name, std::shared_ptr<SegmentFile> file);

  const std::string& file_name() const { return file_name_; }
  const SegmentFile& file() const { return *file_; }
  // Payload of a slot, set while the segment is being built, before it is published.
  void SetDocInfo(uint32_t local, std::shared_ptr<const Metadata> metadata, uint64_t lsn);

  uint32_t num_docs() const override { return file_->num_docs(); }
  std::string_view doc_id(uint32_t local) const override { return file_->id(local); }
  uint32_t doc_len(uint32_t local) const override { return file_->doc_len(local); }
  const Metadata& metadata(uint32_t local) const override { return *metadata_[local]; }
  std::shared_ptr<const Metadata> shared_metadata(uint32_t local) const override {
    return metadata_[local];
  }
  uint64_t lsn(uint32_t local) const override { return lsns_[local]; }
  void DecodeDoc(uint32_t local, float* out) const override { file_->DecodeDoc(local, out); }
  bool decodes_exactly() const override { return file_->has_exact(); }
  const std::shared_ptr<const Codec>& codec() const override { return file_->codec(); }
  uint64_t file_bytes() const override { return file_->file_bytes(); }
  uint64_t ram_bytes() const override;

  // Every document is indexed: nothing to score without the index.
  void ScoreUnindexed(const SearchQuery& query, std::vector<SegmentHit>* out,
                      ScoreScratch* scratch) const override {}
  void FindCandidates(const SearchQuery& query, bool widen,
                      std::vector<uint32_t>* out) const override;
  float ApproxScore(const SearchQuery& query, uint32_t local, ScoreScratch* scratch) const override;
  float RefinedScore(const SearchQuery& query, uint32_t local,
                     ScoreScratch* scratch) const override;
  void ScoreExhaustively(const SearchQuery& query, std::vector<SegmentHit>* out,
                         ScoreScratch* scratch) const override;

 private:
  const std::string file_name_;
  const std::shared_ptr<SegmentFile> file_;
  std::vector<std::shared_ptr<const Metadata>> metadata_;  // [num_docs]
  std::vector<uint64_t> lsns_;                             // [num_docs]
  uint64_t metadata_bytes_ = 0;  // of the distinct metadata maps, summed by SetDocInfo
};

}  // namespace tartan::index
