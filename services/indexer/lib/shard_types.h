// The shard engine's value types: documents, options, search parameters and results, stats.
// Shared by the front door (shard.h) and the engine's parts, which do not include shard.h.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/filter.h"

namespace tartan::index {

struct Document {
  std::string id;  // 1..256 bytes
  int num_tokens = 0;
  std::vector<float> vectors;  // [num_tokens, dim], row-major
  std::map<std::string, std::string> metadata;
};

struct ShardOptions {
  std::string data_dir;
  int dim = 128;
  // Residual bits per dimension for new segments (1, 2 or 4). 4 keeps recall@10 >= 0.95
  // against the original vectors on our synthetic benchmark; 2 halves the bytes.
  int nbits = 4;
  enum class Fsync { kAlways, kGroupCommit } fsync = Fsync::kGroupCommit;
  int group_commit_ms = 2;
  // The mutable segment is flushed once it holds this many token vectors.
  size_t flush_threshold_tokens = 1 << 16;
  // Once the shard has a codec, a document waits at most about this long in the fresh segment
  // (searched by brute force) before the flush loop encodes the fresh documents with the
  // current codec into a small segment, which compaction later merges; 0 = only
  // flush_threshold_tokens triggers a flush. Needs background_compaction.
  int index_delay_ms = 200;
  // Backpressure: once a flush is due, a write that would take the fresh segment past this
  // many token vectors waits for it, up to max_write_stall_ms, then fails RESOURCE_EXHAUSTED.
  // 0 = 4 x flush_threshold_tokens; otherwise at least 2 x flush_threshold_tokens.
  size_t max_unflushed_tokens = 0;
  int max_write_stall_ms = 10000;
  // Threads for building segments (k-means training, encoding) in flush and compaction;
  // 0 = every core. Each search runs on its caller's thread.
  int build_threads = 0;
  // Operations the write log keeps readable by LSN (ReadLog) after they are applied.
  uint64_t log_retention_ops = 100000;
  bool background_compaction = true;  // background flush + compaction thread
  // Background compaction is size-tiered (compaction_policy.h): it merges this many
  // segments of similar size, and rewrites any segment with this fraction of its documents
  // dead. Compact() merges every segment.
  int compaction_max_segments = 4;
  double compaction_dead_fraction = 0.2;
  // k-means: at most this many training vectors per centroid, this many Lloyd iterations.
  int kmeans_sample_per_centroid = 16;
  int kmeans_iterations = 6;
  // Retrain the codec when the index holds this many times the tokens it was trained on.
  double retrain_growth_factor = 4.0;
  // The rerank store: every segment also keeps its token vectors as f16 (2 * dim bytes per
  // token, mmapped like the rest), and stage 4 and exact search score on them instead of the
  // decompressed vectors, so final scores are MaxSim on the vectors as written (to f16
  // rounding) rather than on their nbits approximation. Segments written without it (before
  // it was enabled, or imported) keep none; compaction keeps it only if every merged segment
  // has it.
  bool rerank_store = false;
  // When set, every flush and compaction encodes with this codec and the shard never trains
  // its own (nbits comes from it). Give every shard of an index the same one (trained once,
  // e.g. by `tartanctl train-codec`): then their scores for a document agree and merged
  // results rank as one index would. Segments written under another codec are re-encoded
  // with it when compacted.
  std::shared_ptr<const Codec> shared_codec;
};

// Where one search spent its time and how many documents each stage scored (optional output
// of SearchParams::trace; for metrics and debugging).
struct SearchTrace {
  double exact_segment_seconds = 0;  // mutable segment (exact MaxSim)
  double candidates_seconds = 0;     // stage 1: centroid scores + inverted lists (+ filters)
  double approx_seconds = 0;         // stages 2-3: pruned centroid scores, then refined with
                                     // the probed tokens' residuals
  double rerank_seconds = 0;         // stage 4: decompress + exact MaxSim (or brute force)
  uint64_t candidates = 0;           // documents from the inverted lists
  uint64_t exact_scored = 0;         // documents scored by exact MaxSim (all stages)
};

struct SearchParams {
  int k = 10;
  // Defaults: the fastest setting that keeps >= 0.98 of the compression ceiling's recall@10
  // at 100k documents (bench/RESULTS.md, "Index").
  int nprobe = 4;                          // centroids probed per query token (stage 1)
  float centroid_score_threshold = 0.35f;  // stage 2 skips tokens whose centroid scores
                                           // below this for every query token
  int n_candidates_approx = 128;           // kept after pruned centroid scores (stage 2)
  int n_rerank_exact = 0;                  // kept after centroid scores refined with the
                                           // probed tokens' residuals (stage 3), then
                                           // decoded and scored exactly (>= k is used); 0:
                                           // every stage-2 survivor when every segment
                                           // decodes exactly (the rerank store), else 32
  bool exact = false;                      // brute force over every stored vector: exact
                                           // MaxSim on segments with the rerank store, on
                                           // the decompressed vectors elsewhere
  const Filter* filter = nullptr;          // metadata filter, applied to candidates
  std::vector<std::string> id_subset;      // when non-empty, only these ids are eligible
  SearchTrace* trace = nullptr;            // filled when set
  // Polled between stages and every few thousand documents; a non-OK status ends the search
  // with that status (the service stops work for a cancelled call or a passed deadline).
  std::function<absl::Status()> interrupt;
};

struct Hit {
  std::string id;
  float score = 0;
  bool operator==(const Hit&) const = default;
};

struct ShardStats {
  uint64_t documents = 0, token_vectors = 0, segments = 0, bytes_on_disk = 0, bytes_in_ram = 0,
           compactions = 0;
  uint64_t mutable_documents = 0, mutable_tokens = 0, dead_documents = 0, flushes = 0;
  uint64_t wal_commits = 0;         // durable commits of the write-ahead log
  double wal_commit_seconds = 0;    // time spent in them (append + fsync)
  uint64_t bytes_segments = 0;      // compressed segment files (part of bytes_on_disk)
  uint64_t bytes_centroids = 0;     // centroids stored in those files (part of bytes_segments)
  uint64_t bytes_rerank_store = 0;  // rerank stores in those files (part of bytes_segments)
  int num_centroids = 0;
  uint64_t codec_id = 0;            // id of the codec new segments are encoded with (0: none yet)
  int codec_nbits = 0;              // its residual bits per dimension (0: no codec yet)
  uint64_t last_lsn = 0;            // LSN of the last applied write (0: none yet)
  bool flush_running = false;       // a flush is building a segment
  bool compaction_running = false;  // a compaction is merging segments (flushes go on beside it)
  bool retrain_running = false;     // the codec is being retrained (a k-means on its own thread)
};

struct GetOptions {
  bool vectors = true;  // false: ids and metadata only (no decompression)
};

// One applied write, read back from the write log by LSN (for replication).
struct LoggedOperation {
  enum class Kind { kUpsert, kDelete } kind = Kind::kUpsert;
  uint64_t lsn = 0;
  std::string id;
  // Upserts: the document as written, with vectors as stored. Absent when a later operation
  // in the log replaced or deleted it (applying the operations in order needs only the last).
  std::optional<Document> document;
};

}  // namespace tartan::index
