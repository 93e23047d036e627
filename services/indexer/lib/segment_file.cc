#include "services/indexer/lib/segment_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/half.h"

namespace tartan::index {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'R', 'T', 'S', 'E', 'G', '\0'};
// Version 2 added the optional rerank store section; version 1 files read as having none.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldestVersion = 1;
constexpr size_t kHeaderBytes = 256;
constexpr size_t kAlign = 64;
constexpr uint32_t kMaxDim = 4096;  // as Shard::Open
enum Section {
  kCentroids,
  kCutoffs,
  kWeights,
  kDocOffsets,
  kCodes,
  kResiduals,
  kIvfOffsets,
  kIvfDocs,
  kIdOffsets,
  kIdBytes,
  kExact,  // version 2
  kNumSections
};

struct Header {
  char magic[8];
  uint32_t version, dim, nbits, num_centroids;
  uint64_t num_docs, num_tokens, codec_id, trained_tokens;
  uint32_t normalize, code_bytes;
  uint64_t sections[kNumSections][2];  // offset, size
};
static_assert(sizeof(Header) <= kHeaderBytes);

// A full disk or quota is the operator's to fix and may pass (RESOURCE_EXHAUSTED); anything
// else is INTERNAL.
absl::Status Errno(const std::string& what, const std::string& path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(errno));
  if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
    return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status WriteAll(int fd, const void* p, size_t n, const std::string& path) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    c += w, n -= size_t(w);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("open dir", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync dir", dir);
  return absl::OkStatus();
}

absl::Status WriteSegment(const std::string& path, const Codec& codec, const SegmentData& data) {
  const uint64_t ndocs = data.ids.size();
  const uint64_t ntokens = data.doc_offsets.empty() ? 0 : data.doc_offsets.back();
  const uint64_t pb = uint64_t(codec.packed_bytes());
  const bool streamed = data.residuals.empty() && data.residual_source;
  const uint64_t exact_bytes = data.exact_source ? ntokens * uint64_t(codec.dim) * 2 : 0;
  if (data.doc_offsets.size() != ndocs + 1 || data.codes.size() != ntokens ||
      (!streamed && data.residuals.size() != ntokens * pb))
    return absl::InvalidArgumentError("WriteSegment: inconsistent segment data sizes");
  const int nc = codec.num_centroids;
  const bool small_codes = nc <= 65536;

  // Inverted lists: centroid -> sorted unique local docs.
  std::vector<uint64_t> ivf_offsets(nc + 1, 0);
  std::vector<uint32_t> last(nc, UINT32_MAX);
  for (uint32_t d = 0; d < ndocs; ++d) {
    for (uint64_t t = data.doc_offsets[d]; t < data.doc_offsets[d + 1]; ++t)
      if (last[data.codes[t]] != d) last[data.codes[t]] = d, ++ivf_offsets[data.codes[t] + 1];
  }
  for (int c = 0; c < nc; ++c) ivf_offsets[c + 1] += ivf_offsets[c];
  std::vector<uint32_t> ivf_docs(ivf_offsets[nc]);
  {
    std::vector<uint64_t> fill(ivf_offsets.begin(), ivf_offsets.end() - 1);
    std::fill(last.begin(), last.end(), UINT32_MAX);
    for (uint32_t d = 0; d < ndocs; ++d) {
      for (uint64_t t = data.doc_offsets[d]; t < data.doc_offsets[d + 1]; ++t)
        if (last[data.codes[t]] != d) last[data.codes[t]] = d, ivf_docs[fill[data.codes[t]]++] = d;
    }
  }
  // Varint-delta encode each list.
  std::vector<uint64_t> ivf_byte_offsets(nc + 1, 0);
  std::vector<uint8_t> ivf_bytes;
  ivf_bytes.reserve(ivf_docs.size() * 2);
  for (int c = 0; c < nc; ++c) {
    uint32_t prev = 0;
    for (uint64_t i = ivf_offsets[c]; i < ivf_offsets[c + 1]; ++i) {
      uint32_t delta = ivf_docs[i] - prev;
      prev = ivf_docs[i];
      while (delta >= 0x80) {
        ivf_bytes.push_back(uint8_t(delta | 0x80));
        delta >>= 7;
      }
      ivf_bytes.push_back(uint8_t(delta));
    }
    ivf_byte_offsets[c + 1] = ivf_bytes.size();
  }
  std::vector<uint32_t> id_offsets(ndocs + 1, 0);
  std::string id_bytes;
  for (uint64_t d = 0; d < ndocs; ++d) {
    id_bytes += data.ids[d];
    id_offsets[d + 1] = uint32_t(id_bytes.size());
  }

  std::vector<uint16_t> centroids16(codec.centroids.size());
  for (size_t i = 0; i < centroids16.size(); ++i) centroids16[i] = FloatToHalf(codec.centroids[i]);
  struct Blob {
    const void* p;
    size_t n;
  };
  Blob blobs[kNumSections] = {
      {centroids16.data(), centroids16.size() * 2},
      {codec.bucket_cutoffs.data(), codec.bucket_cutoffs.size() * 4},
      {codec.bucket_weights.data(), codec.bucket_weights.size() * 4},
      {data.doc_offsets.data(), data.doc_offsets.size() * 8},
      // Codes and residuals are written by their own loops below (in chunks).
      {nullptr, ntokens * (small_codes ? 2 : 4)},
      {nullptr, ntokens * pb},
      {ivf_byte_offsets.data(), ivf_byte_offsets.size() * 8},
      {ivf_bytes.data(), ivf_bytes.size()},
      {id_offsets.data(), id_offsets.size() * 4},
      {id_bytes.data(), id_bytes.size()},
      {nullptr, exact_bytes}};
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.dim = uint32_t(codec.dim);
  h.nbits = uint32_t(codec.nbits);
  h.num_centroids = uint32_t(nc);
  h.num_docs = ndocs;
  h.num_tokens = ntokens;
  h.codec_id = codec.id;
  h.trained_tokens = codec.trained_tokens;
  h.normalize = codec.normalize ? 1 : 0;
  h.code_bytes = small_codes ? 2 : 4;
  uint64_t off = kHeaderBytes;
  for (int s = 0; s < kNumSections; ++s) {
    off = (off + kAlign - 1) / kAlign * kAlign;
    h.sections[s][0] = off;
    h.sections[s][1] = blobs[s].n;
    off += blobs[s].n;
  }

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  absl::Status status;
  auto emit = [&](const void* p, size_t n) {
    if (!status.ok() || n == 0) return;
    XXH64_update(st, p, n);
    status = WriteAll(fd, p, n, tmp);
  };
  char header_bytes[kHeaderBytes] = {};
  std::memcpy(header_bytes, &h, sizeof(h));
  emit(header_bytes, kHeaderBytes);
  uint64_t pos = kHeaderBytes;
  static const char kZeros[kAlign] = {};
  // Chunked sections: codes narrowed to u16 and streamed residual rows go through one
  // bounded buffer instead of a copy of the whole section.
  std::vector<uint8_t> chunk;
  auto emit_codes = [&] {
    if (!small_codes) return emit(data.codes.data(), ntokens * 4);
    const uint64_t rows = kSegmentWriteChunkBytes / 2;
    for (uint64_t first = 0; first < ntokens && status.ok(); first += rows) {
      const uint64_t n = std::min(rows, ntokens - first);
      chunk.resize(n * 2);
      for (uint64_t t = 0; t < n; ++t) {
        const uint16_t c = uint16_t(data.codes[first + t]);
        std::memcpy(chunk.data() + 2 * t, &c, 2);
      }
      emit(chunk.data(), n * 2);
    }
  };
  auto emit_residuals = [&] {
    if (!streamed) return emit(data.residuals.data(), data.residuals.size());
    const uint64_t rows =
        std::max<uint64_t>(1, kSegmentWriteChunkBytes / std::max<uint64_t>(1, pb));
    for (uint64_t first = 0; first < ntokens && status.ok(); first += rows) {
      const uint64_t n = std::min(rows, ntokens - first);
      chunk.resize(n * pb);
      status = data.residual_source(first, {data.codes.data() + first, n}, chunk.data());
      emit(chunk.data(), n * pb);
    }
  };
  auto emit_exact = [&] {
    if (!data.exact_source) return;
    const uint64_t rows = std::max<uint64_t>(1, kSegmentWriteChunkBytes / (2 * codec.dim));
    for (uint64_t first = 0; first < ntokens && status.ok(); first += rows) {
      const uint64_t n = std::min(rows, ntokens - first);
      chunk.resize(n * 2 * codec.dim);
      status = data.exact_source(first, n, reinterpret_cast<uint16_t*>(chunk.data()));
      emit(chunk.data(), chunk.size());
    }
  };
  for (int s = 0; s < kNumSections; ++s) {
    emit(kZeros, h.sections[s][0] - pos);
    if (s == kCodes) {
      emit_codes();
    } else if (s == kResiduals) {
      emit_residuals();
    } else if (s == kExact) {
      emit_exact();
    } else {
      emit(blobs[s].p, blobs[s].n);
    }
    pos = h.sections[s][0] + blobs[s].n;
  }
  const uint64_t digest = XXH64_digest(st);
  XXH64_freeState(st);
  if (status.ok()) status = WriteAll(fd, &digest, sizeof(digest), tmp);
  if (status.ok() && ::fsync(fd) != 0) status = Errno("fsync", tmp);
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) status = Errno("rename to", path);
  if (!status.ok()) {
    ::unlink(tmp.c_str());  // no litter after a failed write (a full disk, say)
    return status;
  }
  return FsyncDir(std::filesystem::path(path).parent_path().string());
}

absl::Status WriteCodecFile(const std::string& path, const Codec& codec) {
  SegmentData empty;
  empty.doc_offsets.push_back(0);
  // Absolute, so the write can fsync the folder even for a bare file name.
  return WriteSegment(std::filesystem::absolute(path).string(), codec, empty);
}

SegmentFile::~SegmentFile() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

absl::StatusOr<std::shared_ptr<SegmentFile>> SegmentFile::Open(const std::string& path,
                                                               bool verify) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat("segment ", path, ": ", std::strerror(errno)));
  struct stat sb;
  if (::fstat(fd, &sb) != 0) {
    ::close(fd);
    return Errno("stat", path);
  }
  const size_t size = size_t(sb.st_size);
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("segment ", path, " is corrupt: ", why));
  };
  if (size < kHeaderBytes + 8) {
    ::close(fd);
    return corrupt(absl::StrCat("truncated (", size, " bytes)"));
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Errno("mmap", path);
  std::shared_ptr<SegmentFile> seg(new SegmentFile());
  seg->base_ = static_cast<const uint8_t*>(p);
  seg->size_ = size;
  Header h;
  std::memcpy(&h, seg->base_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) return corrupt("bad magic (not a Tartan segment)");
  if (h.version < kOldestVersion || h.version > kVersion)
    return corrupt(absl::StrCat("unsupported version ", h.version, " (this build reads ",
                                kOldestVersion, " to ", kVersion, ")"));
  if (h.nbits != 1 && h.nbits != 2 && h.nbits != 4) return corrupt("bad nbits");
  if (h.dim == 0 || h.dim % 8 != 0 || h.dim > kMaxDim || h.num_centroids == 0 ||
      h.num_centroids > uint32_t(INT32_MAX))
    return corrupt("bad dim or centroids");
  if (h.code_bytes != 2 && h.code_bytes != 4) return corrupt("bad code width");
  // Local doc numbers are uint32 and doc + 1 must not wrap.
  if (h.num_docs >= UINT32_MAX) return corrupt(absl::StrCat("bad document count ", h.num_docs));
  const uint64_t nopts = 1ull << h.nbits, pb = uint64_t(h.dim) * h.nbits / 8;
  // Checked products: header counts whose section sizes wrap around 2^64 are corrupt (a wrapped
  // size could otherwise match a small section).
  bool overflow = false;
  auto mul = [&overflow](uint64_t a, uint64_t b) {
    uint64_t r = 0;
    overflow |= __builtin_mul_overflow(a, b, &r);
    return r;
  };
  const uint64_t expect[kNumSections] = {mul(mul(h.num_centroids, h.dim), 2),
                                         mul(mul(h.dim, nopts - 1), 4),
                                         mul(mul(h.dim, nopts), 4),
                                         mul(h.num_docs + 1, 8),
                                         mul(h.num_tokens, h.code_bytes),
                                         mul(h.num_tokens, pb),
                                         mul(uint64_t(h.num_centroids) + 1, 8),
                                         UINT64_MAX,
                                         mul(h.num_docs + 1, 4),
                                         UINT64_MAX,
                                         mul(mul(h.num_tokens, h.dim), 2)};
  if (overflow) return corrupt("header counts overflow the section sizes");
  // The rerank store is optional (and absent from version 1, whose header has zeros there).
  const bool has_exact = h.sections[kExact][1] != 0;
  if (h.version < 2 && (has_exact || h.sections[kExact][0] != 0))
    return corrupt("version 1 segment with a rerank store section");
  for (int s = 0; s < kNumSections; ++s) {
    const uint64_t o = h.sections[s][0], n = h.sections[s][1];
    if (s == kExact && !has_exact) continue;
    // Written as comparisons against what is left of the file, so o + n cannot overflow.
    if (o < kHeaderBytes || o > size - 8 || n > size - 8 - o)
      return corrupt(absl::StrCat("section ", s, " out of bounds (file truncated?)"));
    if (o % 8 != 0) return corrupt(absl::StrCat("section ", s, " is misaligned"));
    if (expect[s] != UINT64_MAX && n != expect[s])
      return corrupt(absl::StrCat("section ", s, " has ", n, " bytes, expected ", expect[s]));
  }
  if (verify) {
    uint64_t stored;
    std::memcpy(&stored, seg->base_ + size - 8, 8);
    if (XXH64(seg->base_, size - 8, 0) != stored) return corrupt("checksum mismatch");
  }
  auto sec = [&](int s) { return seg->base_ + h.sections[s][0]; };
  auto codec = std::make_shared<Codec>();
  codec->dim = int(h.dim);
  codec->nbits = int(h.nbits);
  codec->num_centroids = int(h.num_centroids);
  codec->normalize = h.normalize != 0;
  codec->trained_tokens = h.trained_tokens;
  auto floats = [&](int s, std::vector<float>* out) {
    out->resize(h.sections[s][1] / 4);
    std::memcpy(out->data(), sec(s), h.sections[s][1]);
  };
  codec->centroids.resize(h.sections[kCentroids][1] / 2);
  for (size_t i = 0; i < codec->centroids.size(); ++i) {
    uint16_t v;
    std::memcpy(&v, sec(kCentroids) + 2 * i, 2);
    codec->centroids[i] = HalfToFloat(v);
  }
  floats(kCutoffs, &codec->bucket_cutoffs);
  floats(kWeights, &codec->bucket_weights);
  codec->Finalize();
  if (codec->id != h.codec_id) return corrupt("codec id mismatch");
  seg->codec_ = codec;
  seg->num_docs_ = uint32_t(h.num_docs);
  seg->num_tokens_ = h.num_tokens;
  seg->packed_bytes_ = int(pb);
  seg->dim_ = int(h.dim);
  if (has_exact) seg->exact_ = reinterpret_cast<const uint16_t*>(sec(kExact));
  seg->doc_offsets_ = reinterpret_cast<const uint64_t*>(sec(kDocOffsets));
  if (h.code_bytes == 2) {
    seg->codes16_ = reinterpret_cast<const uint16_t*>(sec(kCodes));
  } else {
    seg->codes32_ = reinterpret_cast<const uint32_t*>(sec(kCodes));
  }
  seg->residuals_ = sec(kResiduals);
  seg->ivf_offsets_ = reinterpret_cast<const uint64_t*>(sec(kIvfOffsets));
  seg->ivf_bytes_ = sec(kIvfDocs);
  seg->id_offsets_ = reinterpret_cast<const uint32_t*>(sec(kIdOffsets));
  seg->id_bytes_ = reinterpret_cast<const char*>(sec(kIdBytes));
  // Structural checks so a bad (but checksummed-by-accident or unverified) file cannot
  // send reads out of bounds.
  if (seg->doc_offsets_[0] != 0 || seg->doc_offsets_[h.num_docs] != h.num_tokens)
    return corrupt("doc offsets inconsistent");
  for (uint64_t d = 0; d < h.num_docs; ++d) {
    if (seg->doc_offsets_[d + 1] < seg->doc_offsets_[d]) return corrupt("doc offsets decrease");
    if (seg->doc_offsets_[d + 1] - seg->doc_offsets_[d] > UINT32_MAX)
      return corrupt("document longer than 2^32 tokens");
  }
  if (seg->ivf_offsets_[0] != 0 || seg->ivf_offsets_[h.num_centroids] != h.sections[kIvfDocs][1])
    return corrupt("inverted lists inconsistent");
  for (uint32_t c = 0; c < h.num_centroids; ++c) {
    if (seg->ivf_offsets_[c + 1] < seg->ivf_offsets_[c])
      return corrupt("inverted list offsets decrease");
  }
  if (seg->id_offsets_[0] != 0 || seg->id_offsets_[h.num_docs] != h.sections[kIdBytes][1])
    return corrupt("ids inconsistent");
  for (uint64_t d = 0; d < h.num_docs; ++d) {
    if (seg->id_offsets_[d + 1] < seg->id_offsets_[d]) return corrupt("id offsets decrease");
  }
  // Every code indexes the centroid table on decode: one pass over the codes section (2 or 4
  // bytes per token, a small fraction of the residuals that verify already reads).
  for (uint64_t t = 0; t < h.num_tokens; ++t) {
    if (seg->code(t) >= h.num_centroids)
      return corrupt(absl::StrCat("code ", seg->code(t), " of token ", t, " out of range"));
  }
  return seg;
}

void SegmentFile::IvfDocs(uint32_t c, std::vector<uint32_t>* out) const {
  const uint8_t* p = ivf_bytes_ + ivf_offsets_[c];
  const uint8_t* end = ivf_bytes_ + ivf_offsets_[c + 1];
  uint32_t doc = 0;
  while (p < end) {
    uint32_t delta = 0;
    int shift = 0;
    while (p < end && (*p & 0x80) && shift < 28)
      delta |= uint32_t(*p++ & 0x7f) << shift, shift += 7;
    if (p < end) delta |= uint32_t(*p++) << shift;
    doc += delta;
    if (doc < num_docs_) out->push_back(doc);
  }
}

void SegmentFile::DocCodes(uint32_t doc, uint32_t* out) const {
  const uint64_t b = doc_offsets_[doc], e = doc_offsets_[doc + 1];
  for (uint64_t t = b; t < e; ++t) out[t - b] = code(t);
}

void SegmentFile::DecodeDoc(uint32_t doc, float* out) const {
  const uint32_t n = doc_len(doc);
  if (exact_ != nullptr) return HalfToFloat(exact(doc_begin(doc)), size_t(n) * dim_, out);
  std::vector<uint32_t> codes(n);
  DocCodes(doc, codes.data());
  codec_->Decode(codes.data(), residual(doc_begin(doc)), n, out);
}

}  // namespace tartan::index
