#include "services/indexer/lib/segment_set.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace tartan::index {

static_assert(kFreshSegmentId == kFreshSegmentRow, "the log and the segments agree on 'fresh'");

namespace fs = std::filesystem;

// A flush running meanwhile finds renumbered documents not where it read them and leaves
// them for the next flush, so renumber only when the dead slots are many.
constexpr uint32_t kMinFreshSlotsToRenumber = 1024;

namespace {

// A written (or recovered) document as the fresh segment holds it; its vectors and metadata
// are moved out of the row.
std::shared_ptr<const FreshDoc> ToFreshDoc(DocRow&& r, uint64_t lsn) {
  auto d = std::make_shared<FreshDoc>();
  d->id = std::move(r.id);
  d->num_tokens = r.num_tokens;
  d->vectors = std::move(r.vectors);
  d->metadata = std::make_shared<const Metadata>(std::move(r.metadata));
  d->lsn = lsn;
  return d;
}

}  // namespace

std::vector<const Segment*> SegmentSnapshot::all() const {
  std::vector<const Segment*> out;
  out.reserve(compressed.size() + 1);
  out.push_back(fresh.get());
  for (const auto& s : compressed) out.push_back(s.get());
  return out;
}

SegmentSet::SegmentSet(std::string dir, int dim, std::shared_ptr<const Codec> pinned)
    : dir_(std::move(dir)),
      dim_(dim),
      fresh_(FreshSegment::Empty(dim)),
      codec_(pinned),
      pinned_(std::move(pinned)) {}

absl::Status SegmentSet::Load(WriteLog& log) {
  // Runs before the set is shared with another thread, so without mu_ (taking it here would
  // invert the lock order: the log's reads take its commit lock).
  ASSIGN_OR_RETURN(std::vector<SegmentRow> rows, log.Segments());
  absl::flat_hash_map<uint64_t, std::shared_ptr<const Codec>> codecs;
  if (pinned_) codecs.emplace(pinned_->id, pinned_);
  for (const SegmentRow& r : rows) {
    ASSIGN_OR_RETURN(std::shared_ptr<SegmentFile> file, SegmentFile::Open(dir_ + "/" + r.file));
    if (file->codec()->dim != dim_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "segment ", r.file, " has dim ", file->codec()->dim, ", shard dim is ", dim_));
    }
    auto [it, fresh] = codecs.emplace(file->codec()->id, file->codec());
    if (!fresh) file->ShareCodec(it->second);
    compressed_.push_back(std::make_shared<CompressedSegment>(r.id, r.file, std::move(file)));
    next_segment_id_ = std::max(next_segment_id_, r.id + 1);
    // Rows are ordered by id: the newest codec wins, unless one is pinned.
    if (!pinned_) codec_ = compressed_.back()->codec();
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name.rfind("seg-", 0) == 0;
    bool listed = false;
    for (const SegmentRow& r : rows) listed |= r.file == name;
    if (ours && !listed) {
      LOG_INFO << "removing unreferenced segment file " << entry.path().string();
      fs::remove(entry.path(), ec);
    }
  }
  std::vector<std::shared_ptr<const FreshDoc>> fresh_docs;
  RETURN_IF_ERROR(log.ForEachDoc([&](DocRow&& r) -> absl::Status {
    if (r.segment == kFreshSegmentRow) {
      if (r.vectors.size() != size_t(r.num_tokens) * dim_)
        return absl::DataLossError(absl::StrCat("document '", r.id, "' has ", r.vectors.size(),
                                                " floats, expected ", r.num_tokens, "x", dim_));
      locations_[r.id] = Location{kFreshSegmentId, uint32_t(fresh_docs.size())};
      fresh_docs.push_back(ToFreshDoc(std::move(r), r.lsn));
      return absl::OkStatus();
    }
    Segment* seg = FindSegmentLocked(r.segment);
    if (seg == nullptr || r.local >= seg->num_docs() || seg->doc_id(r.local) != r.id)
      return absl::DataLossError(absl::StrCat("document '", r.id, "' points at segment ", r.segment,
                                              " row ", r.local, ", which does not hold it"));
    auto* compressed = static_cast<CompressedSegment*>(seg);
    compressed->SetDocInfo(r.local, std::make_shared<const Metadata>(std::move(r.metadata)), r.lsn);
    compressed->MarkAlive(r.local);
    locations_[r.id] = Location{r.segment, r.local};
    return absl::OkStatus();
  }));
  fresh_ = fresh_->Append(std::move(fresh_docs));
  LOG_INFO << "shard " << dir_ << " recovered: " << locations_.size() << " documents, "
           << compressed_.size() << " segments, " << fresh_->live_docs()
           << " in the fresh segment, last LSN " << log.last_lsn();
  return absl::OkStatus();
}

Segment* SegmentSet::FindSegmentLocked(int64_t id) const {
  if (id == kFreshSegmentId) return fresh_.get();
  for (const auto& s : compressed_)
    if (s->id() == id) return s.get();
  return nullptr;
}

SegmentSnapshot SegmentSet::Snapshot() const {
  SegmentSnapshot s;
  std::shared_lock l(mu_);
  s.fresh = fresh_;
  s.compressed.assign(compressed_.begin(), compressed_.end());
  s.codec = codec_;
  return s;
}

void SegmentSet::Pin(std::shared_ptr<const Codec> codec) {
  std::unique_lock l(mu_);
  pinned_ = codec;
  codec_ = std::move(codec);
}

void SegmentSet::UseCodec(std::shared_ptr<const Codec> codec) {
  std::unique_lock l(mu_);
  if (!pinned_) codec_ = std::move(codec);
}

std::shared_ptr<const Codec> SegmentSet::pinned() const {
  std::shared_lock l(mu_);
  return pinned_;
}

std::vector<std::optional<DocRef>> SegmentSet::Find(const std::vector<std::string>& ids) const {
  std::vector<std::optional<DocRef>> out(ids.size());
  std::shared_lock l(mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = locations_.find(ids[i]);
    if (it == locations_.end()) continue;
    std::shared_ptr<const Segment> seg = fresh_;
    if (it->second.segment != kFreshSegmentId) {
      for (const auto& s : compressed_)
        if (s->id() == it->second.segment) seg = s;
    }
    out[i] = DocRef{std::move(seg), it->second.local};
  }
  return out;
}

uint64_t SegmentSet::num_documents() const {
  std::shared_lock l(mu_);
  return locations_.size();
}

uint64_t SegmentSet::fresh_tokens() const {
  std::shared_lock l(mu_);
  return fresh_->live_tokens();
}

void SegmentSet::ApplyWrites(std::span<const AppliedWrite> applied, const std::vector<WriteOp>& ops,
                             std::vector<DocRow>& rows) {
  std::unique_lock l(mu_);
  // Documents of this batch go into the next fresh version, after the current one's slots;
  // a later write in the same batch to the same id drops the earlier one.
  const uint32_t base = fresh_->num_docs();
  std::vector<std::shared_ptr<const FreshDoc>> added;
  for (const AppliedWrite& w : applied) {
    const WriteOp& op = ops[w.op];
    if (auto it = locations_.find(op.id); it != locations_.end()) {
      const Location loc = it->second;
      if (loc.segment == kFreshSegmentId && loc.local >= base) {
        added[loc.local - base] = nullptr;
      } else {
        FindSegmentLocked(loc.segment)->Kill(loc.local);
      }
      locations_.erase(it);
    }
    if (op.is_delete) continue;
    locations_[op.id] = Location{kFreshSegmentId, base + uint32_t(added.size())};
    added.push_back(ToFreshDoc(std::move(rows[w.op]), w.lsn));
  }
  if (!added.empty()) fresh_ = fresh_->Append(std::move(added));
  // Replaced and deleted documents leave dead slots behind; renumber once they dominate, so
  // a workload that rewrites the same documents does not grow the slot array without bound.
  if (fresh_->num_docs() > kMinFreshSlotsToRenumber && fresh_->num_docs() > 2 * fresh_->live_docs())
    SetFreshLocked(fresh_->Without({}));
}

void SegmentSet::SetFreshLocked(std::shared_ptr<FreshSegment> fresh) {
  fresh_ = std::move(fresh);
  for (uint32_t i = 0; i < fresh_->num_docs(); ++i)
    locations_[std::string(fresh_->doc_id(i))] = Location{kFreshSegmentId, i};
}

absl::Status SegmentSet::Publish(WriteLog& log, SegmentBuild build) {
  int64_t seg_id;
  {
    std::unique_lock l(mu_);
    seg_id = next_segment_id_++;
  }
  const size_t ndocs = build.data.ids.size();
  const std::string file = absl::StrCat("seg-", seg_id, ".tseg");
  const std::string path = dir_ + "/" + file;
  std::shared_ptr<CompressedSegment> seg;
  ManifestChange change;
  change.removed = build.replaces;
  if (ndocs > 0) {
    RETURN_IF_ERROR(WriteSegment(path, *build.codec, build.data));
    // Written: only ids and offsets are needed from here, free the rest before the new
    // segment builds its token index.
    build.data.codes = {};
    build.data.residuals = {};
    build.data.residual_source = nullptr;
    ASSIGN_OR_RETURN(std::shared_ptr<SegmentFile> opened, SegmentFile::Open(path));
    if (opened->codec()->id == build.codec->id) opened->ShareCodec(build.codec);
    seg = std::make_shared<CompressedSegment>(seg_id, file, std::move(opened));
    change.added = SegmentRow{seg_id, file, ndocs, build.data.doc_offsets.back()};
  }
  if (build.import) {
    change.imported_ids = build.data.ids;
    change.imported_metadata = build.import_metadata;
  }
  std::vector<uint32_t> moved;  // rows of the new segment whose documents move there
  std::vector<std::string> old_files;
  absl::Status st = log.CommitManifest(
      [&]() -> absl::StatusOr<ManifestChange> {
        // Writes are excluded by the log's commit lock: locations cannot change until the
        // change is applied.
        std::shared_lock l(mu_);
        for (size_t i = 0; i < ndocs && !build.import; ++i) {
          auto it = locations_.find(build.data.ids[i]);
          if (it == locations_.end()) continue;
          const SegmentBuild::Source& src = build.sources[i];
          if (it->second.segment != src.segment || it->second.local != src.local) continue;
          if (FindSegmentLocked(src.segment)->lsn(src.local) != src.lsn) continue;
          change.moves.emplace_back(build.data.ids[i], uint32_t(i));
          moved.push_back(uint32_t(i));
        }
        return change;
      },
      [&](const ManifestChange& committed, uint64_t first_lsn) {
        std::unique_lock l(mu_);
        std::vector<uint32_t> moved_fresh;
        if (build.import) {
          const auto metadata = std::make_shared<const Metadata>(build.import_metadata);
          for (uint32_t i = 0; i < ndocs; ++i) {
            RemoveLocked(build.data.ids[i]);
            seg->SetDocInfo(i, metadata, first_lsn + i);
            moved.push_back(i);
          }
        } else {
          for (uint32_t i : moved) {
            const SegmentBuild::Source& src = build.sources[i];
            // The sources are not killed: a reader holding an older snapshot still finds the
            // document there. Replaced compressed segments leave the list; the fresh version
            // is replaced by one without the moved documents.
            if (src.segment == kFreshSegmentId) moved_fresh.push_back(src.local);
            seg->SetDocInfo(i, build.metadata[i], src.lsn);
          }
        }
        for (uint32_t i : moved) {
          seg->MarkAlive(i);
          locations_[build.data.ids[i]] = Location{seg_id, i};
        }
        if (!moved_fresh.empty()) {
          std::sort(moved_fresh.begin(), moved_fresh.end());
          SetFreshLocked(fresh_->Without(moved_fresh));
        }
        std::vector<std::shared_ptr<CompressedSegment>> next;
        for (auto& s : compressed_) {
          if (std::find(committed.removed.begin(), committed.removed.end(), s->id()) !=
              committed.removed.end()) {
            old_files.push_back(dir_ + "/" + s->file_name());
          } else {
            next.push_back(s);
          }
        }
        if (seg) next.push_back(seg);
        compressed_ = std::move(next);
        if (build.make_codec_current && !pinned_) codec_ = build.codec;  // pinned outranks
      });
  if (!st.ok()) {
    std::remove(path.c_str());
    return st;
  }
  // Readers still holding the old segments keep their mappings; the files can go.
  for (const std::string& f : old_files) std::remove(f.c_str());
  return absl::OkStatus();
}

void SegmentSet::RemoveLocked(const std::string& id) {
  auto it = locations_.find(id);
  if (it == locations_.end()) return;
  FindSegmentLocked(it->second.segment)->Kill(it->second.local);
  locations_.erase(it);
}

void SegmentSet::AddStats(ShardStats* s) const {
  std::shared_lock l(mu_);
  s->documents = locations_.size();
  s->mutable_documents = fresh_->live_docs();
  s->mutable_tokens = fresh_->live_tokens();
  s->segments = compressed_.size();
  s->num_centroids = codec_ ? codec_->num_centroids : 0;
  s->codec_id = codec_ ? codec_->id : 0;
  s->codec_nbits = codec_ ? codec_->nbits : 0;
  // RAM: the fresh segment's exact vectors, codecs (centroids + decode table), per document
  // bookkeeping (locations, metadata, LSNs, tombstones). Segment files are mmapped and
  // counted on disk; the OS pages them in on demand.
  uint64_t ram = fresh_->ram_bytes();
  s->token_vectors = fresh_->live_tokens();
  std::vector<const Codec*> seen;
  for (const auto& c : compressed_) {
    s->token_vectors += c->live_tokens();
    s->dead_documents += c->num_docs() - c->live_docs();
    s->bytes_on_disk += c->file_bytes();
    s->bytes_segments += c->file_bytes();
    s->bytes_centroids += c->codec()->centroids.size() * sizeof(uint16_t);  // fp16 on disk
    if (c->file().has_exact())
      s->bytes_rerank_store += c->file().num_tokens() * uint64_t(c->codec()->dim) * 2;
    ram += c->ram_bytes();
    const Codec* codec = c->codec().get();
    if (std::find(seen.begin(), seen.end(), codec) == seen.end()) {
      seen.push_back(codec);
      ram += (codec->centroids.size() + 2 * codec->lut.size() + codec->bucket_weights.size() +
              codec->bucket_cutoffs.size()) *
             sizeof(float);
    }
  }
  for (const auto& [id, loc] : locations_) ram += id.size() + sizeof(Location) + 32;
  s->bytes_in_ram = ram;
}

}  // namespace tartan::index
