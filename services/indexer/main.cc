// tartan-indexer: serves one index shard (tartan.v1.Indexer) from a data directory.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/compute/blas_core.h"
#include "common/compute/blas_threads.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/server/client_tls_flags.h"
#include "common/server/service_host.h"
#include "common/status_macros.h"
#include "services/indexer/codec_follower.h"
#include "services/indexer/indexer_service.h"
#include "services/indexer/lib/segment_file.h"

ABSL_FLAG(std::string, index_dir, "",
          "Directory holding this shard's files (required; created if missing)");
ABSL_FLAG(std::string, shard_name, "",
          "Name reported in search hits (default: --host and the bound gRPC port)");
ABSL_FLAG(int, dim, 128, "Token vector dimension of the collection (32..1024); fixed at creation");
ABSL_FLAG(int, nbits, 4, "Residual bits per dimension in compressed segments: 1, 2 or 4");
ABSL_FLAG(bool, rerank_store, false,
          "Keep every token vector also as f16 (2 x dim bytes per token) in each new segment, "
          "and score final candidates and exact searches on it: MaxSim on the vectors as "
          "written instead of their nbits approximation. Existing segments keep none");
ABSL_FLAG(std::string, fsync, "group",
          "Durability: 'always' (fsync each write) or 'group' (group commit)");
ABSL_FLAG(int, group_commit_ms, 2, "Group-commit window in milliseconds");
ABSL_FLAG(int64_t, flush_threshold_tokens, 1 << 18, "Token vectors held in memory before a flush");
ABSL_FLAG(std::string, codec_file, "",
          "A Tartan segment file whose codec (centroids and residual buckets) every flush uses: "
          "`tartanctl train-codec` writes one, and any shard's seg-N.tseg holds one. Give all "
          "shards of an index the same file so their scores compare; the shard then never "
          "trains its own and --nbits is ignored. Empty: each shard trains its own");
ABSL_FLAG(std::string, codec_source, "",
          "host:port (or dns:///name:port) of the shard that trains the index's codec: this "
          "shard adopts every codec that one publishes (GetCodec, polled every --codec_poll_s) "
          "and re-encodes its segments with it, so all shards score alike without a "
          "--codec_file. Until the first arrives it trains its own. A shard that reaches itself "
          "through the address is the source, so every shard may get the same value");
ABSL_FLAG(double, codec_poll_s, 10.0, "Seconds between GetCodec polls of --codec_source");
ABSL_FLAG(int, index_delay_ms, 200,
          "Once the shard has a codec, new documents are encoded into a small segment within "
          "about this many milliseconds instead of waiting for --flush_threshold_tokens (until "
          "then searches score them by brute force); 0 = only the threshold flushes, 0..60000");
ABSL_FLAG(int, threads, 2,
          "Threads for building segments (k-means, encoding) in flush and compaction, 0..256; "
          "0 = every core. Each search runs on the thread of its call");
ABSL_FLAG(bool, fix_blas_core, true,
          "When OpenBLAS picked kernels below this CPU's ISA (e.g. Prescott on a new Xeon) and "
          "OPENBLAS_CORETYPE is unset, re-execute once with OPENBLAS_CORETYPE=Haswell/SkylakeX "
          "(search scores centroids and reranks with OpenBLAS GEMMs)");
ABSL_FLAG(bool, background_compaction, true, "Flush and compact in the background");
ABSL_FLAG(bool, allow_exact_search, false,
          "Accept SearchParams.exact (brute-force MaxSim over every stored vector: slow, for "
          "evaluation; exact on segments with the rerank store, else on the decompressed "
          "vectors); off, such a search is INVALID_ARGUMENT");

namespace {

absl::StatusOr<tartan::index::ShardOptions> ShardOptionsFromFlags() {
  tartan::index::ShardOptions options;
  options.data_dir = absl::GetFlag(FLAGS_index_dir);
  options.dim = absl::GetFlag(FLAGS_dim);
  options.nbits = absl::GetFlag(FLAGS_nbits);
  options.rerank_store = absl::GetFlag(FLAGS_rerank_store);
  const std::string fsync = absl::GetFlag(FLAGS_fsync);
  if (fsync == "always") {
    options.fsync = tartan::index::ShardOptions::Fsync::kAlways;
  } else if (fsync == "group") {
    options.fsync = tartan::index::ShardOptions::Fsync::kGroupCommit;
  } else {
    return absl::InvalidArgumentError("--fsync must be 'always' or 'group', got '" + fsync + "'");
  }
  options.group_commit_ms = absl::GetFlag(FLAGS_group_commit_ms);
  options.flush_threshold_tokens = static_cast<size_t>(absl::GetFlag(FLAGS_flush_threshold_tokens));
  options.index_delay_ms = absl::GetFlag(FLAGS_index_delay_ms);
  std::string codec_file = absl::GetFlag(FLAGS_codec_file);
  if (!absl::GetFlag(FLAGS_codec_source).empty()) {
    if (!codec_file.empty())
      return absl::InvalidArgumentError("--codec_file and --codec_source exclude each other");
    // The codec adopted before a restart, until the source says otherwise.
    const std::string adopted = tartan::indexer::CodecFollower::AdoptedCodecPath(options.data_dir);
    if (std::filesystem::exists(adopted)) codec_file = adopted;
  }
  if (!codec_file.empty()) {
    absl::StatusOr<std::shared_ptr<tartan::index::SegmentFile>> file =
        tartan::index::SegmentFile::Open(codec_file);
    if (!file.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("codec file ", codec_file, ": ", file.status().message()));
    }
    options.shared_codec = (*file)->codec();
    options.nbits = options.shared_codec->nbits;
  }
  options.build_threads = absl::GetFlag(FLAGS_threads);
  options.background_compaction = absl::GetFlag(FLAGS_background_compaction);
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--index_dir is required");
  RETURN_IF_ERROR(tartan::CheckRange("dim", options.dim, 32, 1024));
  if (options.nbits != 1 && options.nbits != 2 && options.nbits != 4) {
    return absl::InvalidArgumentError("--nbits must be 1, 2 or 4");
  }
  RETURN_IF_ERROR(tartan::CheckRange("group_commit_ms", options.group_commit_ms, 0, 1000));
  RETURN_IF_ERROR(tartan::CheckPositive("flush_threshold_tokens",
                                        static_cast<long long>(options.flush_threshold_tokens)));
  RETURN_IF_ERROR(tartan::CheckRange("index_delay_ms", options.index_delay_ms, 0, 60000));
  RETURN_IF_ERROR(tartan::CheckRange("threads", options.build_threads, 0, 256));
  RETURN_IF_ERROR(
      tartan::CheckRange("codec_poll_s", absl::GetFlag(FLAGS_codec_poll_s), 0.1, 3600.0));
  return options;
}

absl::Status Run() {
  RETURN_IF_ERROR(tartan::ApplyLogLevelFlag());
  ASSIGN_OR_RETURN(tartan::index::ShardOptions shard_options, ShardOptionsFromFlags());
  tartan::ServerOptions server_options = tartan::ServerOptionsFromFlags("indexer");

  // Each search runs on its call's thread and searches run side by side: OpenBLAS's own
  // threads would make one query occupy every core for its small GEMMs. Segment builds
  // parallelise over their own threads (--threads).
  tartan::compute::SetBlasThreads(1);
  auto registry = std::make_shared<prometheus::Registry>();
  tartan::indexer::IndexerService service(
      *registry, {.allow_exact_search = absl::GetFlag(FLAGS_allow_exact_search),
                  .streams = server_options.streams});
  // The port opens first (health NOT_SERVING, calls UNAVAILABLE) while the shard recovers.
  ASSIGN_OR_RETURN(
      auto host,
      tartan::ServiceHost::Start(server_options,
                                 {{tartan::v1::Indexer::service_full_name(), &service}}, registry));
  // The bound port, not the configured one: --grpc_port=0 picks a free port.
  std::string shard_name = absl::GetFlag(FLAGS_shard_name);
  if (shard_name.empty()) {
    shard_name = server_options.host + ":" + std::to_string(host->grpc_port());
  }
  const auto load_start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<tartan::index::Shard> shard,
                   tartan::index::Shard::Open(shard_options));
  std::shared_ptr<tartan::index::Shard> shared_shard = std::move(shard);
  service.SetShard({.shard = shared_shard,
                    .name = shard_name,
                    .dim = shard_options.dim,
                    .nbits = shard_options.nbits,
                    .data_dir = shard_options.data_dir});
  LOG_INFO << "shard " << shard_name << " recovered from " << shard_options.data_dir << " in "
           << std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count()
           << " s: " << shared_shard->Stats().documents << " documents";
  host->SetLifecycle(tartan::Lifecycle::kServing);

  std::unique_ptr<tartan::indexer::CodecFollower> codec_follower;
  if (const std::string source = absl::GetFlag(FLAGS_codec_source); !source.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                     tartan::MakeChannelCredentials(tartan::ClientTlsOptionsFromFlags()));
    codec_follower = std::make_unique<tartan::indexer::CodecFollower>(
        tartan::indexer::CodecFollowerOptions{
            .source = source,
            .poll_interval = std::chrono::milliseconds(
                static_cast<int64_t>(absl::GetFlag(FLAGS_codec_poll_s) * 1000)),
            .data_dir = shard_options.data_dir,
            .instance_id = service.instance_id(),
            .max_message_bytes = server_options.max_message_bytes,
            .credentials = std::move(credentials)},
        shared_shard);
    codec_follower->Start();
  }

  // Size gauges follow the shard (background flushes and compactions change them).
  std::atomic<bool> stop{false};
  std::thread gauges([&] {
    while (!stop.load()) {
      service.RefreshGauges();
      for (int i = 0; i < 20 && !stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  host->WaitForShutdown();
  stop = true;
  gauges.join();
  codec_follower.reset();
  return shared_shard->Close();
}

}  // namespace

int main(int argc, char** argv) {
  tartan::SetDefaultPorts(50061, 9102);
  tartan::ParseFlagsWithEnv(argc, argv, "tartan-indexer: one index shard over gRPC");
  tartan::compute::FixBlasCoreOrWarn(argv, absl::GetFlag(FLAGS_fix_blas_core));
  absl::Status status = Run();
  if (!status.ok()) {
    LOG_ERROR << "tartan-indexer: " << status;
    return 1;
  }
  return 0;
}
