// What flush, compaction and import hand to SegmentSet::Publish: a compressed segment's
// contents and where its documents come from.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/segment.h"
#include "services/indexer/lib/segment_file.h"

namespace tartan::index {

// A new compressed segment to publish.
struct SegmentBuild {
  std::shared_ptr<const Codec> codec;  // what data is encoded with
  SegmentData data;                    // ids, offsets, codes, residuals
  // Flush and compaction: per document, its metadata and where it came from. A document
  // moves only if it is still there (same segment, slot and LSN) when the change commits;
  // otherwise it was replaced or deleted meanwhile and stays dead in the new segment.
  std::vector<std::shared_ptr<const Metadata>> metadata;
  struct Source {
    int64_t segment;
    uint32_t local;
    uint64_t lsn;
  };
  std::vector<Source> sources;
  std::vector<int64_t> replaces;  // segments that leave the manifest
  // Import: every document is a new write (own LSN), replacing any with the same id.
  bool import = false;
  Metadata import_metadata;
  bool make_codec_current = true;  // new writes are flushed with this codec from now on
};

}  // namespace tartan::index
