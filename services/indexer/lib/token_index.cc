#include "services/indexer/lib/token_index.h"

namespace tartan::index {

TokenIndex::TokenIndex(const SegmentFile& file)
    : begin_(size_t(file.codec()->num_centroids) + 1, 0), entries_(file.num_tokens()) {
  // SegmentFile::Open refuses segments whose token rows do not fit 32 bits.
  for (uint64_t t = 0; t < file.num_tokens(); ++t) ++begin_[file.code(t) + 1];
  for (size_t c = 1; c < begin_.size(); ++c) begin_[c] += begin_[c - 1];
  std::vector<uint32_t> fill(begin_.begin(), begin_.end() - 1);
  for (uint32_t d = 0; d < file.num_docs(); ++d) {
    const uint64_t b = file.doc_begin(d), e = b + file.doc_len(d);
    for (uint64_t t = b; t < e; ++t) entries_[fill[file.code(t)]++] = Entry{uint32_t(t), d};
  }
}

}  // namespace tartan::index
