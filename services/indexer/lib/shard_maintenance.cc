// Flush (mutable segment -> compressed segment) and compaction (merge segments, purge
// deletes). Both build their segment without blocking searches or writes, then take the
// write lock only to commit the manifest change and swap the in-memory segment list.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "services/indexer/lib/shard_impl.h"

namespace tartan::index {

absl::Status ShardImpl::Publish(const Codec& codec, SegmentData data,
                                const std::vector<std::shared_ptr<const Metadata>>& metadata,
                                const std::vector<Loc>& expected,
                                const std::vector<int64_t>& removed,
                                std::shared_ptr<const Codec> codec_ptr) {
  int64_t seg_id;
  {
    std::unique_lock l(mu_);
    seg_id = next_segment_id_++;
  }
  const size_t ndocs = data.ids.size();
  std::shared_ptr<SegmentHandle> h;
  SegmentRow row;
  const std::string file = absl::StrCat("seg-", seg_id, ".tseg");
  const std::string path = opts_.data_dir + "/" + file;
  if (ndocs > 0) {
    RETURN_IF_ERROR(WriteSegment(path, codec, data));
    ASSIGN_OR_RETURN(std::shared_ptr<Segment> seg, Segment::Open(path));
    if (codec_ptr && codec_ptr->id == seg->codec()->id) seg->ShareCodec(codec_ptr);
    h = std::make_shared<SegmentHandle>();
    h->id = seg_id;
    h->file = file;
    h->seg = std::move(seg);
    h->Init(uint32_t(ndocs));
    h->metadata = metadata;
    row = SegmentRow{seg_id, file, ndocs, data.doc_offsets.back()};
  }
  std::vector<std::string> old_files;
  {
    std::lock_guard<std::mutex> w(write_mu_);
    if (!store_) return absl::FailedPreconditionError("shard is closed");
    // Only documents not replaced or deleted since the snapshot move; writes are excluded
    // by write_mu_, so locs_ cannot change until we are done.
    std::vector<std::pair<std::string, uint32_t>> moves;
    std::vector<uint32_t> moved_local;
    {
      std::shared_lock l(mu_);
      for (size_t i = 0; i < ndocs; ++i) {
        auto it = locs_.find(data.ids[i]);
        if (it == locs_.end()) continue;
        const Loc& e = expected[i];
        if (it->second.segment == e.segment && it->second.local == e.local &&
            it->second.seq == e.seq) {
          moves.emplace_back(data.ids[i], uint32_t(i));
          moved_local.push_back(uint32_t(i));
        }
      }
    }
    absl::Status st = store_->CommitSegments(row, removed, moves);
    if (!st.ok()) {
      std::remove(path.c_str());
      return st;
    }
    std::unique_lock l(mu_);
    for (uint32_t i : moved_local) {
      Loc& loc = locs_[data.ids[i]];
      if (loc.segment == kMutableSegment) {
        auto m = mutable_.find(data.ids[i]);
        mutable_tokens_ -= m->second->num_tokens;
        mutable_.erase(m);
      }
      loc.segment = seg_id;
      loc.local = i;
      h->SetAlive(i);
    }
    std::vector<std::shared_ptr<SegmentHandle>> next;
    for (auto& s : segments_) {
      if (std::find(removed.begin(), removed.end(), s->id) != removed.end())
        old_files.push_back(opts_.data_dir + "/" + s->file);
      else
        next.push_back(s);
    }
    if (h) next.push_back(h);
    segments_ = std::move(next);
    if (codec_ptr) codec_ = codec_ptr;
  }
  // Readers still holding the old segments keep their mappings; the files can go.
  for (const std::string& f : old_files) std::remove(f.c_str());
  return absl::OkStatus();
}

absl::Status ShardImpl::Flush() {
  std::lock_guard<std::mutex> m(maint_mu_);
  const auto flush_start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<const MutableDoc>> docs;
  std::shared_ptr<const Codec> codec;
  std::vector<std::shared_ptr<SegmentHandle>> segs;
  uint64_t total_tokens = 0;
  {
    std::shared_lock l(mu_);
    for (const auto& [id, d] : mutable_) docs.push_back(d);
    codec = codec_;
    segs = segments_;
    total_tokens = mutable_tokens_;
    for (const auto& h : segments_) total_tokens += h->live_tokens.load();
  }
  if (docs.empty()) return absl::OkStatus();
  std::sort(docs.begin(), docs.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  SegmentData data;
  data.doc_offsets.push_back(0);
  std::vector<float> all;
  for (const auto& d : docs) {
    data.ids.push_back(d->id);
    data.doc_offsets.push_back(data.doc_offsets.back() + uint64_t(d->num_tokens));
    all.insert(all.end(), d->vectors.begin(), d->vectors.end());
  }
  const size_t ntok = data.doc_offsets.back();
  // Train on the first flush, and again when the index has outgrown the centroids.
  bool retrained = false;
  if (ntok > 0 && (!codec || codec->nbits != opts_.nbits ||
                   double(total_tokens) >= opts_.retrain_growth_factor * double(codec->trained_tokens))) {
    CodecTrainOptions t;
    t.nbits = opts_.nbits;
    t.sample_per_centroid = opts_.kmeans_sample_per_centroid;
    t.iterations = opts_.kmeans_iterations;
    t.total_tokens = total_tokens;
    // A retrain sizes the centroids for the whole index, so the new documents alone may be
    // far too few to train them: top the sample up with decoded tokens spread evenly over
    // the live documents of the existing segments.
    const double target_k = std::exp2(std::floor(std::log2(16.0 * std::sqrt(double(total_tokens)))));
    const size_t want = size_t(target_k) * size_t(std::max(1, t.sample_per_centroid));
    std::vector<float> train;
    const float* train_x = all.data();
    size_t train_n = ntok;
    uint64_t seg_tokens = 0;
    for (const auto& h : segs) seg_tokens += h->live_tokens.load();
    if (ntok < want && seg_tokens > 0) {
      train = all;
      const uint64_t step = std::max<uint64_t>(1, seg_tokens / (want - ntok));
      std::vector<float> buf;
      uint64_t seen = 0;
      for (const auto& h : segs)
        for (uint32_t i = 0; i < h->seg->num_docs(); ++i) {
          if (!h->IsAlive(i)) continue;
          const uint32_t n = h->seg->doc_len(i);
          // Take the whole document each time the running token count crosses a step.
          if ((seen + n) / step > seen / step) {
            buf.resize(size_t(n) * opts_.dim);
            h->seg->DecodeDoc(i, buf.data());
            train.insert(train.end(), buf.begin(), buf.end());
          }
          seen += n;
        }
      train_x = train.data();
      train_n = train.size() / opts_.dim;
    }
    ASSIGN_OR_RETURN(Codec trained, TrainCodec(train_x, train_n, opts_.dim, t));
    codec = std::make_shared<const Codec>(std::move(trained));
    retrained = true;
    LOG_INFO << "trained codec: " << codec->num_centroids << " centroids on " << train_n
             << " tokens (index holds " << total_tokens << ")";
  }
  if (!codec) {  // only empty documents so far: any codec will do, train on a zero vector
    std::vector<float> zero(opts_.dim, 0.f);
    CodecTrainOptions t;
    t.nbits = opts_.nbits;
    ASSIGN_OR_RETURN(Codec trained, TrainCodec(zero.data(), 1, opts_.dim, t));
    codec = std::make_shared<const Codec>(std::move(trained));
    retrained = true;
  }
  const auto encode_start = std::chrono::steady_clock::now();
  data.codes.resize(ntok);
  data.residuals.resize(ntok * codec->packed_bytes());
  codec->Encode(all.data(), ntok, data.codes.data(), data.residuals.data());
  const auto publish_start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<const Metadata>> metadata;
  std::vector<Loc> expected;
  for (const auto& d : docs) {
    metadata.push_back(std::make_shared<const Metadata>(d->metadata));
    expected.push_back(Loc{kMutableSegment, 0, d->seq});
  }
  all.clear();
  all.shrink_to_fit();
  RETURN_IF_ERROR(Publish(*codec, std::move(data), metadata, expected, {},
                          retrained ? codec : std::shared_ptr<const Codec>(codec)));
  const auto end = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  LOG_INFO << "flushed " << docs.size() << " documents (" << ntok << " tokens): train "
           << secs(flush_start, encode_start) << " s, encode " << secs(encode_start, publish_start)
           << " s, write + commit " << secs(publish_start, end) << " s";
  std::unique_lock l(mu_);
  ++flushes_;
  return absl::OkStatus();
}

absl::Status ShardImpl::Compact() { return CompactSegments({}); }

absl::Status ShardImpl::CompactSegments(const std::vector<int64_t>& ids) {
  std::lock_guard<std::mutex> m(maint_mu_);
  std::vector<std::shared_ptr<SegmentHandle>> segs;
  std::shared_ptr<const Codec> codec;
  absl::flat_hash_map<std::string, Loc> locs;  // expected locations of the live docs
  {
    std::shared_lock l(mu_);
    for (const auto& h : segments_)  // segments merged meanwhile are simply not found
      if (ids.empty() || std::find(ids.begin(), ids.end(), h->id) != ids.end()) segs.push_back(h);
    codec = codec_;
    for (const auto& h : segs)
      for (uint32_t i = 0; i < h->seg->num_docs(); ++i)
        if (h->IsAlive(i)) {
          auto it = locs_.find(std::string(h->seg->id(i)));
          if (it != locs_.end()) locs.emplace(it->first, it->second);
        }
  }
  if (segs.empty()) return absl::OkStatus();
  SegmentData data;
  data.doc_offsets.push_back(0);
  std::vector<std::shared_ptr<const Metadata>> metadata;
  std::vector<Loc> expected;
  std::vector<int64_t> removed;
  const int pb = codec->packed_bytes();
  std::vector<float> decoded;
  std::vector<uint32_t> codes;
  for (const auto& h : segs) {
    removed.push_back(h->id);
    const Segment& s = *h->seg;
    const bool same_codec = s.codec()->id == codec->id;
    for (uint32_t i = 0; i < s.num_docs(); ++i) {
      auto it = locs.find(std::string(s.id(i)));
      if (!h->IsAlive(i) || it == locs.end() || it->second.segment != h->id || it->second.local != i)
        continue;
      const uint32_t n = s.doc_len(i);
      const size_t t0 = data.codes.size();
      data.codes.resize(t0 + n);
      data.residuals.resize((t0 + n) * pb);
      if (same_codec) {
        s.DocCodes(i, data.codes.data() + t0);
        std::copy_n(s.residual(s.doc_begin(i)), size_t(n) * pb, data.residuals.data() + t0 * pb);
      } else {  // written under older centroids: re-encode with the current codec
        decoded.resize(size_t(n) * codec->dim);
        s.DecodeDoc(i, decoded.data());
        codec->Encode(decoded.data(), n, data.codes.data() + t0, data.residuals.data() + t0 * pb);
      }
      data.ids.emplace_back(s.id(i));
      data.doc_offsets.push_back(t0 + n);
      metadata.push_back(h->metadata[i]);
      expected.push_back(it->second);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(Publish(*codec, std::move(data), metadata, expected, removed, codec));
  std::unique_lock l(mu_);
  ++compactions_;
  LOG_DEBUG << "compacted " << segs.size() << " segments in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s";
  return absl::OkStatus();
}

}  // namespace tartan::index
