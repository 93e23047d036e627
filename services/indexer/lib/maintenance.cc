#include "services/indexer/lib/maintenance.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "common/half.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "services/indexer/lib/compaction_policy.h"
#include "services/indexer/lib/training_sample.h"

namespace tartan::index {
namespace {

// A flush or compaction frees the fresh documents' vectors or the merged segment's buffers:
// hand the free pages back to the system, which glibc's malloc otherwise keeps (the shard's
// resident memory would stay at its peak).
void ReturnFreedMemory() { malloc_trim(0); }

uint64_t LiveTokens(const SegmentSnapshot& snap) {
  uint64_t n = 0;
  for (const Segment* s : snap.all()) n += s->live_tokens();
  return n;
}

// Raises a build's "running" stat for as long as the build's scope lasts.
class RunningFlag {
 public:
  explicit RunningFlag(std::atomic<bool>& flag) : flag_(flag) {
    flag_.store(true, std::memory_order_relaxed);
  }
  ~RunningFlag() { flag_.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool>& flag_;
};

}  // namespace

Maintenance::Maintenance(const ShardOptions& options, WriteLog& log, SegmentSet& segments)
    : opts_(options), log_(log), segments_(segments) {}

Maintenance::~Maintenance() { Stop(); }

void Maintenance::Start() {
  if (!opts_.background_compaction) return;
  flusher_ = std::thread([this] { FlushLoop(); });
  compactor_ = std::thread([this] { CompactionLoop(); });
}

void Maintenance::Stop() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_stop_ = true;
  }
  flush_cv_.notify_all();
  compact_cv_.notify_all();
  flushed_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (compactor_.joinable()) compactor_.join();
  std::thread retrainer;
  {
    std::lock_guard<std::mutex> l(retrain_mu_);
    retrain_cancel_.store(true);  // no retrain starts from now on, and a running one stops
    retrainer = std::move(retrainer_);
  }
  if (retrainer.joinable()) retrainer.join();
  std::scoped_lock m(flush_mu_, compact_mu_);  // builds started by callers end first
}

void Maintenance::Kick() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    flush_kick_ = true;
  }
  flush_cv_.notify_all();
}

void Maintenance::KickCompaction() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    compact_kick_ = true;
  }
  compact_cv_.notify_all();
}

void Maintenance::FlushLoop() {
  using Clock = std::chrono::steady_clock;
  const auto index_delay = std::chrono::milliseconds(opts_.index_delay_ms);
  // When the loop first saw the fresh segment non-empty since it was last empty.
  bool fresh_seen = false;
  Clock::time_point fresh_since;
  std::unique_lock<std::mutex> l(bg_mu_);
  while (!bg_stop_) {
    const auto poll = fresh_seen && opts_.index_delay_ms > 0
                          ? std::min<Clock::duration>(index_delay, std::chrono::seconds(1))
                          : Clock::duration(std::chrono::seconds(1));
    flush_cv_.wait_for(l, poll, [&] { return bg_stop_ || flush_kick_; });
    if (bg_stop_) break;
    flush_kick_ = false;
    l.unlock();
    const uint64_t fresh_tokens = segments_.fresh_tokens();
    const auto now = Clock::now();
    if (fresh_tokens == 0) {
      fresh_seen = false;
    } else if (!fresh_seen) {
      fresh_seen = true;
      fresh_since = now;
    }
    // Before the first codec exists, only a full fresh segment is worth training on.
    const bool index_fresh = opts_.index_delay_ms > 0 && fresh_seen &&
                             now - fresh_since >= index_delay &&
                             segments_.Snapshot().codec != nullptr;
    if (fresh_tokens >= opts_.flush_threshold_tokens || index_fresh) {
      fresh_seen = false;
      if (absl::Status st = Flush(); !st.ok()) {
        LOG_ERROR << "background flush failed: " << st;
        {
          std::lock_guard<std::mutex> g(bg_mu_);
          flush_error_ = st;
          ++flush_failures_;
        }
        flushed_cv_.notify_all();  // writers waiting out backpressure learn at once
      } else {
        KickCompaction();  // one more segment: the policy may pick a merge
      }
    }
    l.lock();
  }
}

void Maintenance::CompactionLoop() {
  std::unique_lock<std::mutex> l(bg_mu_);
  while (!bg_stop_) {
    compact_cv_.wait_for(l, std::chrono::seconds(1), [&] { return bg_stop_ || compact_kick_; });
    if (bg_stop_) break;
    compact_kick_ = false;
    l.unlock();
    // A new codec (a retrain's, an adopted one) first: a merge under the old one is wasted.
    if (absl::Status st = ReencodeStaleSegments(); !st.ok()) {
      LOG_ERROR << "re-encoding under the current codec failed: " << st;
      l.lock();
      continue;
    }
    std::vector<SegmentSize> sizes;
    for (const auto& s : segments_.Snapshot().compressed) {
      sizes.push_back(
          SegmentSize{s->id(), s->live_tokens(), s->num_docs(), s->num_docs() - s->live_docs()});
    }
    CompactionPolicy policy;
    policy.min_merge = opts_.compaction_max_segments;
    policy.dead_fraction = opts_.compaction_dead_fraction;
    if (const std::vector<int64_t> pick = PickCompaction(std::move(sizes), policy); !pick.empty()) {
      if (absl::Status st = CompactSegments(pick); !st.ok()) {
        LOG_ERROR << "background compaction failed: " << st;
      }
    }
    l.lock();
  }
}

absl::StatusOr<std::shared_ptr<const Codec>> Maintenance::TrainForIndex(
    SegmentSnapshot snap, const std::atomic<bool>* cancel) {
  const uint64_t total_tokens = LiveTokens(snap);
  CodecTrainOptions t;
  t.nbits = opts_.nbits;
  t.sample_per_centroid = opts_.kmeans_sample_per_centroid;
  t.iterations = opts_.kmeans_iterations;
  t.total_tokens = total_tokens;
  t.threads = opts_.build_threads;
  t.cancel = cancel;
  // The sample, evenly spread over every live token (new documents and indexed ones alike),
  // is all the training holds: a retrain at 20M tokens once decoded the whole index, 10 GB,
  // and ran the shard out of memory.
  const size_t want =
      size_t(DefaultNumCentroids(total_tokens)) * size_t(std::max(1, t.sample_per_centroid));
  std::vector<float> sample;
  const uint64_t n = SampleLiveTokens(snap.all(), want, opts_.dim, &sample);
  snap = {};     // the segments and fresh documents are not needed for the k-means
  if (n == 0) {  // only empty documents so far: any codec will do, train on a zero vector
    sample.assign(opts_.dim, 0.f);
    t.total_tokens = 0;
  }
  ASSIGN_OR_RETURN(Codec trained,
                   TrainCodec(sample.data(), std::max<uint64_t>(n, 1), opts_.dim, t));
  LOG_INFO << "trained codec: " << trained.num_centroids << " centroids on " << n
           << " tokens (index holds " << total_tokens << ")";
  return std::make_shared<const Codec>(std::move(trained));
}

void Maintenance::StartRetrain(SegmentSnapshot snap) {
  std::lock_guard<std::mutex> l(retrain_mu_);
  if (retraining_ || retrain_cancel_.load()) return;
  // A retrain that ended since `snap` was taken made its codec current first: none is due.
  if (segments_.Snapshot().codec != snap.codec) return;
  if (retrainer_.joinable()) retrainer_.join();  // the last retrain's thread, finished
  retraining_ = true;
  LOG_INFO << "the index outgrew its codec: retraining in the background";
  retrainer_ = std::thread([this, snap = std::move(snap)]() mutable {
    absl::StatusOr<std::shared_ptr<const Codec>> codec =
        TrainForIndex(std::move(snap), &retrain_cancel_);
    if (!codec.ok() && !retrain_cancel_.load()) {
      LOG_ERROR << "codec retrain failed: " << codec.status();
    }
    // Current at once (unless a codec is pinned): the next flush encodes with it, and the
    // compaction loop re-encodes the segments under older codecs. Builds need not stop for
    // this; one that ends under the old codec is re-encoded in turn.
    if (codec.ok()) segments_.UseCodec(*std::move(codec));
    {
      std::lock_guard<std::mutex> g(retrain_mu_);
      retraining_ = false;
    }
    KickCompaction();
  });
}

std::vector<int64_t> Maintenance::StaleSegments() const {
  const SegmentSnapshot snap = segments_.Snapshot();
  std::vector<int64_t> stale;
  for (const auto& s : snap.compressed)
    if (s->codec()->id != snap.codec->id) stale.push_back(s->id());
  return stale;
}

bool Maintenance::retrain_running() {
  std::lock_guard<std::mutex> l(retrain_mu_);
  return retraining_;
}

absl::Status Maintenance::ReencodeStaleSegments() {
  // A build that ran under the old codec while it changed publishes a stale segment: a few
  // rounds at most.
  for (std::vector<int64_t> stale = StaleSegments(); !stale.empty(); stale = StaleSegments()) {
    LOG_INFO << "re-encoding " << stale.size() << " segments under the current codec";
    RETURN_IF_ERROR(CompactSegments(stale));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Codec>> Maintenance::CodecForFlush(
    const SegmentSnapshot& snap) {
  if (std::shared_ptr<const Codec> pinned = segments_.pinned()) return pinned;
  const std::shared_ptr<const Codec>& codec = snap.codec;
  // None yet, or one of other nbits (options changed across a restart): nothing to encode
  // with but a codec trained now.
  if (!codec || codec->nbits != opts_.nbits) return TrainForIndex(snap, nullptr);
  const uint64_t total_tokens = LiveTokens(snap);
  // The index has outgrown the centroids: retrain for its size. In the background the
  // k-means runs beside the flushes, which encode with the current codec until the new one
  // is ready (two minutes at 24M tokens, 65,536 centroids; writes would wait for it).
  if (double(total_tokens) >= opts_.retrain_growth_factor * double(codec->trained_tokens)) {
    if (!opts_.background_compaction) return TrainForIndex(snap, nullptr);
    StartRetrain(snap);
  }
  return codec;
}

absl::Status Maintenance::Flush() {
  std::lock_guard<std::mutex> m(flush_mu_);
  const RunningFlag running(flush_running_);
  const auto flush_start = std::chrono::steady_clock::now();
  const SegmentSnapshot snap = segments_.Snapshot();
  const FreshSegment& fresh = *snap.fresh;
  std::vector<uint32_t> slots;
  for (uint32_t i = 0; i < fresh.num_docs(); ++i)
    if (fresh.IsAlive(i)) slots.push_back(i);
  if (slots.empty()) return absl::OkStatus();
  std::sort(slots.begin(), slots.end(),
            [&](uint32_t a, uint32_t b) { return fresh.doc_id(a) < fresh.doc_id(b); });
  SegmentBuild build;
  SegmentData& data = build.data;
  data.doc_offsets.push_back(0);
  std::vector<float> all;
  for (uint32_t i : slots) {
    const FreshDoc& d = fresh.doc(i);
    data.ids.push_back(d.id);
    data.doc_offsets.push_back(data.doc_offsets.back() + uint64_t(d.num_tokens));
    all.insert(all.end(), d.vectors.begin(), d.vectors.end());
    build.metadata.push_back(d.metadata);
    build.sources.push_back(SegmentBuild::Source{kFreshSegmentId, i, d.lsn});
  }
  const size_t ntok = data.doc_offsets.back();
  ASSIGN_OR_RETURN(build.codec, CodecForFlush(snap));
  build.make_codec_current = build.codec != snap.codec;  // trained now; else it is current
  const auto encode_start = std::chrono::steady_clock::now();
  data.codes.resize(ntok);
  data.residuals.resize(ntok * build.codec->packed_bytes());
  build.codec->Encode(all.data(), ntok, data.codes.data(), data.residuals.data(),
                      opts_.build_threads);
  if (opts_.rerank_store) {  // f16 copy of the vectors, half the bytes of `all`
    auto exact = std::make_shared<std::vector<uint16_t>>(all.size());
    FloatToHalf(all.data(), all.size(), exact->data());
    const size_t dim = size_t(opts_.dim);
    data.exact_source = [exact, dim](uint64_t first, uint64_t n, uint16_t* out) {
      std::memcpy(out, exact->data() + first * dim, n * dim * 2);
      return absl::OkStatus();
    };
  }
  const auto publish_start = std::chrono::steady_clock::now();
  all.clear();
  all.shrink_to_fit();
  RETURN_IF_ERROR(segments_.Publish(log_, std::move(build)));
  ReturnFreedMemory();
  const auto end = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  LOG_INFO << "flushed " << slots.size() << " documents (" << ntok << " tokens): train "
           << secs(flush_start, encode_start) << " s, encode " << secs(encode_start, publish_start)
           << " s, write + commit " << secs(publish_start, end) << " s";
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    flushes_.fetch_add(1, std::memory_order_relaxed);
    flush_error_ = absl::OkStatus();
  }
  flushed_cv_.notify_all();
  return absl::OkStatus();
}

bool Maintenance::WaitForFlush(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> l(bg_mu_);
  const uint64_t seen = flushes_.load(std::memory_order_relaxed), failed = flush_failures_;
  return flushed_cv_.wait_until(l, deadline,
                                [&] {
                                  return bg_stop_ ||
                                         flushes_.load(std::memory_order_relaxed) != seen ||
                                         flush_failures_ != failed;
                                }) &&
         !bg_stop_ && flushes_.load(std::memory_order_relaxed) != seen;
}

absl::Status Maintenance::FlushError() const {
  std::lock_guard<std::mutex> l(bg_mu_);
  return flush_error_;
}

absl::Status Maintenance::Compact() { return CompactSegments({}); }

absl::Status Maintenance::CompactSegments(const std::vector<int64_t>& ids) {
  std::lock_guard<std::mutex> m(compact_mu_);
  const RunningFlag running(compaction_running_);
  const auto start = std::chrono::steady_clock::now();
  const SegmentSnapshot snap = segments_.Snapshot();
  std::vector<std::shared_ptr<const CompressedSegment>> segs;
  for (const auto& s : snap.compressed)  // segments merged meanwhile are simply not found
    if (ids.empty() || std::find(ids.begin(), ids.end(), s->id()) != ids.end()) segs.push_back(s);
  if (segs.empty()) return absl::OkStatus();
  SegmentBuild build;
  build.codec = snap.codec;
  build.make_codec_current = false;  // a codec current since the snapshot stays current
  const Codec& codec = *build.codec;
  SegmentData& data = build.data;
  // Codes, ids and offsets are collected here (a few bytes per token); the residuals (most
  // of the segment) are streamed into the file by data.residual_source, a chunk at a time,
  // straight from the source segments.
  uint64_t live_tokens = 0;
  for (const auto& s : segs) live_tokens += s->live_tokens();
  data.codes.reserve(live_tokens);
  data.doc_offsets.push_back(0);
  struct Row {       // where a merged document comes from
    uint64_t begin;  // its first token row in the merged segment
    const CompressedSegment* seg;
    uint32_t local;
  };
  std::vector<Row> rows;
  // Documents written under older centroids are re-assigned to the current codec's, in batches
  // of about kReassignTokens decoded tokens: one document at a time, each product was too small
  // for the two-level search and the GEMMs (a 2M-token re-encode took 133 s).
  constexpr size_t kReassignTokens = 1 << 16;        // 32 MB of fp32 at dim 128
  std::vector<float> decoded;                        // [pending tokens, dim]
  std::vector<std::pair<size_t, uint32_t>> pending;  // (first merged row, tokens) per document
  std::vector<uint32_t> assigned;
  auto reassign_pending = [&] {
    const size_t n = decoded.size() / codec.dim;
    assigned.resize(n);
    codec.Assign(decoded.data(), n, assigned.data(), opts_.build_threads);
    size_t at = 0;
    for (const auto& [t0, len] : pending) {
      std::copy_n(assigned.data() + at, len, data.codes.data() + t0);
      at += len;
    }
    decoded.clear();
    pending.clear();
  };
  for (const auto& s : segs) {
    build.replaces.push_back(s->id());
    const bool same_codec = s->codec()->id == codec.id;
    for (uint32_t i = 0; i < s->num_docs(); ++i) {
      if (!s->IsAlive(i)) continue;
      const uint32_t n = s->doc_len(i);
      const size_t t0 = data.codes.size();
      data.codes.resize(t0 + n);
      if (same_codec) {
        s->file().DocCodes(i, data.codes.data() + t0);
      } else {
        const size_t at = decoded.size();
        decoded.resize(at + size_t(n) * codec.dim);
        s->DecodeDoc(i, decoded.data() + at);
        pending.emplace_back(t0, n);
        if (decoded.size() >= kReassignTokens * codec.dim) reassign_pending();
      }
      rows.push_back(Row{t0, s.get(), i});
      data.ids.emplace_back(s->doc_id(i));
      data.doc_offsets.push_back(t0 + n);
      build.metadata.push_back(s->shared_metadata(i));
      build.sources.push_back(SegmentBuild::Source{s->id(), i, s->lsn(i)});
    }
  }
  if (!pending.empty()) reassign_pending();
  decoded = {};  // the batch buffer is not needed while the file is written
  // Calls fn(row, skip, n, t) for each run of merged token rows [t, t + n) within [first, end)
  // that comes from one document: its rows skip.. skip + n.
  auto for_each_run = [&rows](uint64_t first, uint64_t end, auto&& fn) {
    // The last document starting at or before `first` (documents may be empty).
    size_t d = size_t(std::upper_bound(rows.begin(), rows.end(), first,
                                       [](uint64_t t, const Row& r) { return t < r.begin; }) -
                      rows.begin()) -
               1;
    for (uint64_t t = first; t < end; ++d) {
      const Row& r = rows[d];
      const uint64_t n = std::min<uint64_t>(end, r.begin + r.seg->doc_len(r.local)) - t;
      fn(r, t - r.begin, n, t);
      t += n;
    }
  };
  // Residual rows [first, first + codes.size()): copied from the source file when it has the
  // current codec, else packed against the codes assigned above from the decoded document.
  // rows, segs and codec outlive Publish, which calls this while it writes the file.
  const int threads = opts_.build_threads;
  data.residual_source = [for_each_run, &codec, threads, decoded = std::vector<float>()](
                             uint64_t first, std::span<const uint32_t> codes,
                             uint8_t* out) mutable -> absl::Status {
    const size_t pb = size_t(codec.packed_bytes());
    for_each_run(
        first, first + codes.size(), [&](const Row& r, uint64_t skip, uint64_t n, uint64_t t) {
          const SegmentFile& f = r.seg->file();
          if (r.seg->codec()->id == codec.id) {
            std::memcpy(out + (t - first) * pb, f.residual(f.doc_begin(r.local) + skip), n * pb);
          } else {
            decoded.resize(size_t(r.seg->doc_len(r.local)) * codec.dim);
            r.seg->DecodeDoc(r.local, decoded.data());
            codec.EncodeResiduals(decoded.data() + skip * codec.dim, n, codes.data() + (t - first),
                                  out + (t - first) * pb, threads);
          }
        });
    return absl::OkStatus();
  };
  // The rerank store survives a merge only when every merged segment has one: rows decoded
  // from the compressed form would pass for exact vectors.
  const bool keep_exact =
      opts_.rerank_store &&
      std::all_of(segs.begin(), segs.end(), [](const auto& s) { return s->file().has_exact(); });
  if (opts_.rerank_store && !keep_exact) {
    LOG_WARNING << "compaction merges segments without a rerank store: the merged segment keeps "
                   "none (documents re-ingested after --rerank_store was enabled get one)";
  }
  if (keep_exact) {
    const size_t dim = size_t(codec.dim);
    data.exact_source = [for_each_run, dim](uint64_t first, uint64_t n,
                                            uint16_t* out) -> absl::Status {
      for_each_run(first, first + n, [&](const Row& r, uint64_t skip, uint64_t len, uint64_t t) {
        const SegmentFile& f = r.seg->file();
        std::memcpy(out + (t - first) * dim, f.exact(f.doc_begin(r.local) + skip), len * dim * 2);
      });
      return absl::OkStatus();
    };
  }
  RETURN_IF_ERROR(segments_.Publish(log_, std::move(build)));
  ReturnFreedMemory();
  compactions_.fetch_add(1, std::memory_order_relaxed);
  // A long compaction holds back the next one and a codec change: worth an operator's eye.
  LOG_INFO << "compacted " << segs.size() << " segments (" << live_tokens << " live tokens) in "
           << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
           << " s";
  return absl::OkStatus();
}

absl::Status Maintenance::AdoptCodec(std::shared_ptr<const Codec> codec) {
  segments_.Pin(codec);  // builds under way publish under the old codec: re-encoded below
  LOG_INFO << "adopted codec " << codec->id << " (" << codec->num_centroids << " centroids, nbits "
           << codec->nbits << ")";
  return ReencodeStaleSegments();
}

absl::Status Maintenance::Import(SegmentBuild build) {
  std::lock_guard<std::mutex> m(flush_mu_);
  // A fresh shard adopts the imported centroids for what it ingests next (as after a
  // restart, where the newest segment's codec is current).
  build.make_codec_current = segments_.Snapshot().codec == nullptr;
  return segments_.Publish(log_, std::move(build));
}

}  // namespace tartan::index
