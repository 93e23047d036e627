// SegmentFile::Open on hostile segment files. The trailing xxh64 is recomputed over the
// mutated bytes first (anyone who can write the file can forge it), so the fuzzer reaches the
// header and section checks; every accessor is then exercised on what Open accepted.
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "services/indexer/lib/segment_file.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = tartan::fuzz::ScratchDir() + "/seg-1.tseg";
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 8) {
    const uint64_t digest = XXH64(bytes.data(), bytes.size() - 8, 0);
    std::memcpy(bytes.data() + bytes.size() - 8, &digest, 8);  // little endian, as written
  }
  tartan::fuzz::WriteFile(path, bytes);
  auto segment = tartan::index::SegmentFile::Open(path, /*verify=*/true);
  if (!segment.ok()) {
    return 0;
  }
  const tartan::index::SegmentFile& seg = **segment;
  const tartan::index::Codec& codec = *seg.codec();
  std::vector<float> decoded;
  std::vector<uint32_t> codes;
  for (uint32_t doc = 0; doc < seg.num_docs(); ++doc) {
    (void)seg.id(doc);
    decoded.resize(size_t(seg.doc_len(doc)) * codec.dim);
    seg.DecodeDoc(doc, decoded.data());
    codes.resize(seg.doc_len(doc));
    seg.DocCodes(doc, codes.data());
  }
  std::vector<uint32_t> docs;
  for (int c = 0; c < codec.num_centroids; ++c) {
    docs.clear();
    seg.IvfDocs(uint32_t(c), &docs);
    for (uint32_t doc : docs) {
      if (doc >= seg.num_docs()) {
        __builtin_trap();  // an inverted list must name documents of this segment
      }
    }
  }
  return 0;
}
