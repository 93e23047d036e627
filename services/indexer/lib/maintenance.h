// Maintenance: everything that builds a compressed segment — flush (fresh documents → a
// compressed segment, training the codec when there is none), size-tiered compaction
// (compaction_policy.h) and PLAID import — plus two background loops, one that flushes and
// one that compacts, and the retrain of a codec the index has outgrown, on a thread of its
// own. A flush never waits for a compaction (a re-encode after a retrain runs for minutes, and
// writes would be refused meanwhile): one flush or import and one compaction may run at once,
// and SegmentSet::Publish keeps only the documents still where the build found them. Builds
// run without blocking searches or writes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/indexer/lib/segment_set.h"
#include "services/indexer/lib/shard_types.h"
#include "services/indexer/lib/write_log.h"

namespace tartan::index {

class Maintenance {
 public:
  Maintenance(const ShardOptions& options, WriteLog& log, SegmentSet& segments);
  ~Maintenance();

  // Starts the background loops (when options.background_compaction).
  void Start();
  // Stops them, cancels a background retrain, and waits for running builds to end.
  void Stop();
  // Wakes the flush loop (the fresh segment crossed the flush threshold).
  void Kick();

  absl::Status Flush();  // waits behind a running flush or import, never a compaction
  // Waits until a flush completes (true), a flush fails or the deadline passes (false).
  bool WaitForFlush(std::chrono::steady_clock::time_point deadline);
  // The last flush's error while flushes are failing (a full disk); OK once one succeeds.
  absl::Status FlushError() const;
  absl::Status Compact();  // merges every segment into one; waits behind a running compaction
  // Pins `codec` (adopted from the shard that trains the index's codec): every later flush
  // and compaction encodes with it and the shard stops training its own. Then re-encodes the
  // segments written under other codecs, merged into one, so that the shard's scores agree
  // with every other shard's that uses the codec. Flushes go on meanwhile.
  absl::Status AdoptCodec(std::shared_ptr<const Codec> codec);
  // Publishes an imported segment; its codec becomes current if the shard has none.
  absl::Status Import(SegmentBuild build);

  bool flush_running() const { return flush_running_.load(std::memory_order_relaxed); }
  bool compaction_running() const { return compaction_running_.load(std::memory_order_relaxed); }
  bool retrain_running();  // a background retrain's k-means runs
  uint64_t flushes() const { return flushes_.load(std::memory_order_relaxed); }
  uint64_t compactions() const { return compactions_.load(std::memory_order_relaxed); }

 private:
  // Merges the segments with these ids (all when empty) into one, purging deletes.
  absl::Status CompactSegments(const std::vector<int64_t>& ids);
  // The codec a flush of `snap`'s fresh documents encodes with: the pinned one (the options'
  // shared codec, or an adopted one) when there is one; else the current one (starting a
  // retrain when the index has outgrown it), or one trained now when there is none.
  absl::StatusOr<std::shared_ptr<const Codec>> CodecForFlush(const SegmentSnapshot& snap);
  // A codec sized for every live token of `snap`, trained on an even sample of them (16 per
  // centroid by default); the snapshot is released once sampled. cancel: stops the k-means.
  absl::StatusOr<std::shared_ptr<const Codec>> TrainForIndex(SegmentSnapshot snap,
                                                             const std::atomic<bool>* cancel);
  // Runs TrainForIndex on retrainer_ unless a retrain runs or a newer codec than snap's is
  // current; the trained codec becomes current when it ends (SegmentSet::UseCodec).
  void StartRetrain(SegmentSnapshot snap);
  // The segments encoded with a codec other than the current one.
  std::vector<int64_t> StaleSegments() const;
  // Re-encodes the stale segments, merged into one, until none is left.
  absl::Status ReencodeStaleSegments();
  void KickCompaction();  // wakes the compaction loop (a flush or a retrain ended)
  void FlushLoop();
  void CompactionLoop();

  const ShardOptions opts_;
  WriteLog& log_;
  SegmentSet& segments_;

  // Held together only by Stop. A codec may change while builds run: a segment one publishes
  // under the old codec is re-encoded by the compaction loop (StaleSegments).
  std::mutex flush_mu_;    // one flush or import at a time
  std::mutex compact_mu_;  // one compaction at a time
  std::atomic<bool> flush_running_{false}, compaction_running_{false};
  std::atomic<uint64_t> flushes_{0}, compactions_{0};

  mutable std::mutex bg_mu_;  // the loops' wake-ups and flush completions
  std::condition_variable flush_cv_, compact_cv_;
  std::condition_variable flushed_cv_;
  absl::Status flush_error_;     // guarded by bg_mu_
  uint64_t flush_failures_ = 0;  // guarded by bg_mu_
  // Guarded by bg_mu_: Stop asked, and a wake-up waiting for each loop.
  bool bg_stop_ = false, flush_kick_ = false, compact_kick_ = false;
  std::thread flusher_, compactor_;

  std::mutex retrain_mu_;    // the background retrain
  bool retraining_ = false;  // guarded by retrain_mu_
  std::atomic<bool> retrain_cancel_{false};
  std::thread retrainer_;  // joined by StartRetrain and Stop
};

}  // namespace tartan::index
