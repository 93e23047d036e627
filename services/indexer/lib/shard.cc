#include "services/indexer/lib/shard.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "services/indexer/lib/compaction_policy.h"
#include "services/indexer/lib/kernels.h"
#include "services/indexer/lib/shard_impl.h"

namespace tartan::index {

namespace fs = std::filesystem;

float MaxSim(const float* q, int nq, const float* d, int nd, int dim) {
  return kernels::MaxSimDispatch(q, nq, d, nd, dim);
}

// ---- SegmentHandle ----

void SegmentHandle::Init(uint32_t num_docs) {
  const size_t words = (size_t(num_docs) + 63) / 64;
  alive.reset(new std::atomic<uint64_t>[words]);
  for (size_t i = 0; i < words; ++i) alive[i].store(0, std::memory_order_relaxed);
  metadata.assign(num_docs, nullptr);
}

void SegmentHandle::SetAlive(uint32_t local) {
  alive[local >> 6].fetch_or(1ull << (local & 63), std::memory_order_relaxed);
  live_docs.fetch_add(1, std::memory_order_relaxed);
  live_tokens.fetch_add(seg->doc_len(local), std::memory_order_relaxed);
}

void SegmentHandle::Kill(uint32_t local) {
  const uint64_t bit = 1ull << (local & 63);
  if (alive[local >> 6].fetch_and(~bit, std::memory_order_relaxed) & bit) {
    live_docs.fetch_sub(1, std::memory_order_relaxed);
    live_tokens.fetch_sub(seg->doc_len(local), std::memory_order_relaxed);
  }
}

namespace {

absl::Status ValidateDoc(const Document& d, int dim) {
  if (d.id.empty() || d.id.size() > 256)
    return absl::InvalidArgumentError(absl::StrCat("document id must be 1-256 bytes, got ", d.id.size()));
  if (d.num_tokens < 0 || d.vectors.size() != size_t(d.num_tokens) * dim)
    return absl::InvalidArgumentError(absl::StrCat("document '", d.id, "': ", d.vectors.size(),
                                                   " floats for ", d.num_tokens,
                                                   " tokens of dim ", dim));
  for (float v : d.vectors)
    if (!std::isfinite(v))
      return absl::InvalidArgumentError(absl::StrCat("document '", d.id, "' has a non-finite value"));
  return absl::OkStatus();
}

}  // namespace

// ---- open / recovery ----

ShardImpl::~ShardImpl() { Close().IgnoreError(); }

absl::Status ShardImpl::Recover() {
  if (opts_.dim < 8 || opts_.dim > 4096 || opts_.dim % 8 != 0)
    return absl::InvalidArgumentError(absl::StrCat("dim must be a multiple of 8 in [8, 4096], got ", opts_.dim));
  if (opts_.nbits != 1 && opts_.nbits != 2 && opts_.nbits != 4)
    return absl::InvalidArgumentError(absl::StrCat("nbits must be 1, 2 or 4, got ", opts_.nbits));
  std::error_code ec;
  fs::create_directories(opts_.data_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", opts_.data_dir, ": ", ec.message()));
  ASSIGN_OR_RETURN(store_, DocStore::Open(opts_.data_dir, opts_.dim));
  ASSIGN_OR_RETURN(std::vector<SegmentRow> rows, store_->Segments());
  absl::flat_hash_map<int64_t, SegmentHandle*> by_id;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const Codec>> codecs;
  for (const SegmentRow& r : rows) {
    ASSIGN_OR_RETURN(std::shared_ptr<Segment> seg, Segment::Open(opts_.data_dir + "/" + r.file));
    if (seg->codec()->dim != opts_.dim)
      return absl::FailedPreconditionError(absl::StrCat("segment ", r.file, " has dim ", seg->codec()->dim,
                                                        ", shard dim is ", opts_.dim));
    auto [it, fresh] = codecs.emplace(seg->codec()->id, seg->codec());
    if (!fresh) seg->ShareCodec(it->second);
    auto h = std::make_shared<SegmentHandle>();
    h->id = r.id;
    h->file = r.file;
    h->seg = std::move(seg);
    h->Init(h->seg->num_docs());
    by_id[r.id] = h.get();
    segments_.push_back(h);
    next_segment_id_ = std::max(next_segment_id_, r.id + 1);
    codec_ = h->seg->codec();  // rows are ordered by id: the newest codec wins
  }
  // Files not in the manifest are leftovers of an interrupted flush or compaction.
  for (const auto& entry : fs::directory_iterator(opts_.data_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name.rfind("seg-", 0) == 0;
    bool listed = false;
    for (const SegmentRow& r : rows) listed |= r.file == name;
    if (ours && !listed) {
      LOG_INFO << "removing unreferenced segment file " << entry.path().string();
      fs::remove(entry.path(), ec);
    }
  }
  RETURN_IF_ERROR(store_->ForEachDoc([&](DocRow&& r) -> absl::Status {
    const uint64_t seq = next_seq_++;
    if (r.segment == kMutableSegment) {
      if (r.vectors.size() != size_t(r.num_tokens) * opts_.dim)
        return absl::DataLossError(absl::StrCat("document '", r.id, "' has ", r.vectors.size(),
                                                " floats, expected ", r.num_tokens, "x", opts_.dim));
      auto d = std::make_shared<MutableDoc>();
      d->id = r.id;
      d->num_tokens = r.num_tokens;
      d->vectors = std::move(r.vectors);
      d->metadata = std::move(r.metadata);
      d->seq = seq;
      mutable_tokens_ += d->num_tokens;
      locs_[r.id] = Loc{kMutableSegment, 0, seq};
      mutable_[r.id] = std::move(d);
      return absl::OkStatus();
    }
    auto it = by_id.find(r.segment);
    if (it == by_id.end() || r.local >= it->second->seg->num_docs() ||
        it->second->seg->id(r.local) != r.id)
      return absl::DataLossError(absl::StrCat("document '", r.id, "' points at segment ", r.segment,
                                              " row ", r.local, ", which does not hold it"));
    it->second->SetAlive(r.local);
    it->second->metadata[r.local] = std::make_shared<const Metadata>(std::move(r.metadata));
    locs_[r.id] = Loc{r.segment, r.local, seq};
    return absl::OkStatus();
  }));
  LOG_INFO << "shard " << opts_.data_dir << " recovered: " << locs_.size() << " documents, "
           << segments_.size() << " segments, " << mutable_.size() << " in the mutable segment";
  if (opts_.background_compaction) bg_ = std::thread([this] { BackgroundLoop(); });
  return absl::OkStatus();
}

absl::Status ShardImpl::Close() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    if (closed_.exchange(true)) return absl::OkStatus();
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_.joinable()) bg_.join();
  std::lock_guard<std::mutex> w(write_mu_);
  store_.reset();
  return absl::OkStatus();
}

// ---- writes (group commit) ----

absl::Status ShardImpl::Upsert(std::vector<Document> docs) {
  Pending p;
  p.rows.reserve(docs.size());
  for (Document& d : docs) {
    RETURN_IF_ERROR(ValidateDoc(d, opts_.dim));
    DocRow r;
    r.id = std::move(d.id);
    r.num_tokens = d.num_tokens;
    r.vectors = std::move(d.vectors);
    r.metadata = std::move(d.metadata);
    p.rows.push_back(std::move(r));
  }
  for (const DocRow& r : p.rows) p.ops.push_back(WriteOp{false, r.id, &r});
  RETURN_IF_ERROR(Submit(&p));
  bool flush_inline = false;
  {
    std::shared_lock l(mu_);
    if (mutable_tokens_ >= opts_.flush_threshold_tokens) {
      if (opts_.background_compaction)
        Kick();
      else
        flush_inline = true;
    }
  }
  if (flush_inline) return Flush();
  return absl::OkStatus();
}

absl::StatusOr<int> ShardImpl::Delete(const std::vector<std::string>& ids) {
  Pending p;
  for (const std::string& id : ids) p.ops.push_back(WriteOp{true, id, nullptr});
  RETURN_IF_ERROR(Submit(&p));
  int n = 0;
  for (int d : p.deleted) n += d;
  return n;
}

absl::Status ShardImpl::Submit(Pending* p) {
  std::unique_lock<std::mutex> l(queue_mu_);
  if (closed_) return absl::FailedPreconditionError("shard is closed");
  queue_.push_back(p);
  queue_cv_.wait(l, [&] { return p->done || !leader_active_; });
  if (p->done) return p->status;
  // Leader: give concurrent writers a moment to join, then commit everyone in one fsync.
  leader_active_ = true;
  if (opts_.fsync == ShardOptions::Fsync::kGroupCommit && opts_.group_commit_ms > 0) {
    l.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(opts_.group_commit_ms));
    l.lock();
  }
  std::vector<Pending*> batch(queue_.begin(), queue_.end());
  queue_.clear();
  l.unlock();
  CommitBatch(batch);
  l.lock();
  for (Pending* b : batch) b->done = true;
  leader_active_ = false;
  l.unlock();
  queue_cv_.notify_all();
  return p->status;
}

void ShardImpl::RemoveLocked(const std::string& id) {
  auto it = locs_.find(id);
  if (it == locs_.end()) return;
  if (it->second.segment == kMutableSegment) {
    auto m = mutable_.find(id);
    mutable_tokens_ -= m->second->num_tokens;
    mutable_.erase(m);
  } else {
    for (auto& h : segments_)
      if (h->id == it->second.segment) h->Kill(it->second.local);
  }
  locs_.erase(it);
}

void ShardImpl::CommitBatch(const std::vector<Pending*>& batch) {
  std::lock_guard<std::mutex> w(write_mu_);
  std::vector<WriteOp> ops;
  for (Pending* p : batch) ops.insert(ops.end(), p->ops.begin(), p->ops.end());
  std::vector<int> deleted;
  absl::Status st = store_ ? store_->Apply(ops, &deleted)
                           : absl::FailedPreconditionError("shard is closed");
  if (!st.ok()) {
    for (Pending* p : batch) p->status = st;
    return;
  }
  std::unique_lock l(mu_);
  size_t k = 0;
  for (Pending* p : batch) {
    p->deleted.assign(p->ops.size(), 0);
    for (size_t i = 0; i < p->ops.size(); ++i, ++k) {
      const WriteOp& op = p->ops[i];
      RemoveLocked(op.id);
      if (op.is_delete) {
        p->deleted[i] = deleted[k];
        continue;
      }
      auto d = std::make_shared<MutableDoc>();
      DocRow& r = p->rows[size_t(op.row - p->rows.data())];
      d->id = r.id;
      d->num_tokens = r.num_tokens;
      d->vectors = std::move(r.vectors);
      d->metadata = std::move(r.metadata);
      d->seq = next_seq_++;
      mutable_tokens_ += d->num_tokens;
      locs_[d->id] = Loc{kMutableSegment, 0, d->seq};
      mutable_[d->id] = std::move(d);
    }
  }
}

// ---- reads ----

Snapshot ShardImpl::TakeSnapshot() const {
  Snapshot s;
  std::shared_lock l(mu_);
  s.mutable_docs.reserve(mutable_.size());
  for (const auto& [id, d] : mutable_) s.mutable_docs.push_back(d);
  s.segments = segments_;
  return s;
}

absl::StatusOr<std::vector<std::optional<Document>>> ShardImpl::Get(
    const std::vector<std::string>& ids) const {
  std::vector<std::optional<Document>> out(ids.size());
  std::shared_lock l(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = locs_.find(ids[i]);
    if (it == locs_.end()) continue;
    Document d;
    d.id = ids[i];
    if (it->second.segment == kMutableSegment) {
      const MutableDoc& m = *mutable_.at(ids[i]);
      d.num_tokens = m.num_tokens;
      d.vectors = m.vectors;
      d.metadata = m.metadata;
    } else {
      for (const auto& h : segments_) {
        if (h->id != it->second.segment) continue;
        const uint32_t local = it->second.local;
        d.num_tokens = int(h->seg->doc_len(local));
        d.vectors.resize(size_t(d.num_tokens) * opts_.dim);
        h->seg->DecodeDoc(local, d.vectors.data());
        d.metadata = *h->metadata[local];
      }
    }
    out[i] = std::move(d);
  }
  return out;
}

ShardStats ShardImpl::Stats() const {
  ShardStats s;
  std::shared_lock l(mu_);
  s.documents = locs_.size();
  s.mutable_documents = mutable_.size();
  s.mutable_tokens = mutable_tokens_;
  s.token_vectors = mutable_tokens_;
  s.segments = segments_.size();
  s.compactions = compactions_;
  s.flushes = flushes_;
  s.num_centroids = codec_ ? codec_->num_centroids : 0;
  // RAM: exact vectors of the mutable segment, codecs (centroids + decode table), per
  // document bookkeeping (location map, metadata, tombstones). Segment files are mmapped and
  // counted on disk; the OS pages them in on demand.
  uint64_t ram = mutable_tokens_ * opts_.dim * sizeof(float);
  std::vector<const Codec*> seen;
  for (const auto& h : segments_) {
    s.token_vectors += h->live_tokens.load();
    s.dead_documents += h->seg->num_docs() - h->live_docs.load();
    s.bytes_on_disk += h->seg->file_bytes();
    s.bytes_segments += h->seg->file_bytes();
    s.bytes_centroids += h->seg->codec()->centroids.size() * sizeof(uint16_t);  // fp16 on disk
    ram += h->seg->num_docs() * (sizeof(std::shared_ptr<const Metadata>) + 1) / 1;
    const Codec* c = h->seg->codec().get();
    if (std::find(seen.begin(), seen.end(), c) == seen.end()) {
      seen.push_back(c);
      ram += (c->centroids.size() + c->lut.size() + c->bucket_weights.size() +
              c->bucket_cutoffs.size()) * sizeof(float);
    }
  }
  for (const auto& [id, loc] : locs_) ram += id.size() + sizeof(Loc) + 32;
  s.bytes_in_ram = ram;
  if (store_) {
    s.bytes_on_disk += store_->FileBytes();
    s.wal_commits = store_->commits();
    s.wal_commit_seconds = store_->commit_seconds();
  }
  return s;
}

// ---- background maintenance ----

void ShardImpl::Kick() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_kick_ = true;
  }
  bg_cv_.notify_all();
}

void ShardImpl::BackgroundLoop() {
  std::unique_lock<std::mutex> l(bg_mu_);
  while (!bg_stop_) {
    bg_cv_.wait_for(l, std::chrono::seconds(1), [&] { return bg_stop_ || bg_kick_; });
    if (bg_stop_) break;
    bg_kick_ = false;
    l.unlock();
    bool flush = false;
    {
      std::shared_lock s(mu_);
      flush = mutable_tokens_ >= opts_.flush_threshold_tokens;
    }
    if (flush) {
      absl::Status st = Flush();
      if (!st.ok()) {
        LOG_ERROR << "background flush failed: " << st;
      }
    }
    std::vector<SegmentSize> sizes;
    {
      std::shared_lock s(mu_);
      for (const auto& h : segments_)
        sizes.push_back(SegmentSize{h->id, h->live_tokens.load(), h->seg->num_docs(),
                                    h->seg->num_docs() - h->live_docs.load()});
    }
    CompactionPolicy policy;
    policy.min_merge = opts_.compaction_max_segments;
    policy.dead_fraction = opts_.compaction_dead_fraction;
    if (const std::vector<int64_t> pick = PickCompaction(std::move(sizes), policy); !pick.empty()) {
      absl::Status st = CompactSegments(pick);
      if (!st.ok()) {
        LOG_ERROR << "background compaction failed: " << st;
      }
    }
    l.lock();
  }
}

}  // namespace tartan::index
