// tartan-encoder: serves tartan.v1.Encoder for one PyLate / sentence-transformers model folder.
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "common/compute/blas_core.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/server/service_host.h"
#include "common/status_macros.h"
#include "services/encoder/encoder_info.h"
#include "services/encoder/encoder_service.h"
#include "services/encoder/lib/blas/precision.h"

ABSL_FLAG(std::string, model, "",
          "PyLate model folder (config.json, model.safetensors, tokenizer.json, 1_Dense/...)");
ABSL_FLAG(std::string, precision, "auto",
          "auto (bf16 where the CPU has AVX512-BF16 or AMX, else fp32), fp32 (PyLate-exact), "
          "bf16, or int8 (dynamic int8 projections, lossy: opt-in only; fast with VNNI/AMX)");
ABSL_FLAG(bool, fix_blas_core, true,
          "When OpenBLAS picked kernels below this CPU's ISA (e.g. Prescott on a new Xeon) and "
          "OPENBLAS_CORETYPE is unset, re-execute once with OPENBLAS_CORETYPE=Haswell/SkylakeX");
ABSL_FLAG(std::string, omp_wait_policy, "passive",
          "OMP_WAIT_POLICY for oneDNN's OpenMP threads when the environment sets neither it nor "
          "GOMP_SPINCOUNT: 'passive' (idle threads sleep: with another busy process on the cores "
          "a 2-thread query stays near its own cost instead of 20-40x it, at 6-13 % on an idle "
          "machine), 'active', or '' for libgomp's default (spin)");
ABSL_FLAG(int, threads, 2, "Threads per model forward");
ABSL_FLAG(int, workers, 1, "Batches encoded concurrently");
ABSL_FLAG(int, max_batch_tokens, 8192, "Estimated tokens merged into one batch");
ABSL_FLAG(double, max_queue_delay_ms, 2.0, "Longest a request waits for batch-mates");
ABSL_FLAG(int, max_queue_texts, 4096, "Texts allowed to wait; beyond that RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_texts_per_request, 256, "Texts per Encode request");
ABSL_FLAG(int, max_chars_per_text, 200000, "Bytes per text");

namespace {

// libgomp, whose threads oneDNN runs on, spin-waits for its partner at every parallel region by
// default: with another busy process on the cores each of a forward's ~100 regions then waits
// out a scheduler slice (bench/RESULTS.md, issue 10: 20 ms -> 0.7-1.4 s). It reads
// OMP_WAIT_POLICY only when it loads, so the process sets it and re-executes once, unless the
// environment already chose.
absl::Status SetOmpWaitPolicy(char** argv) {
  const std::string policy = absl::GetFlag(FLAGS_omp_wait_policy);
  if (policy != "passive" && policy != "active" && !policy.empty())
    return absl::InvalidArgumentError("--omp_wait_policy must be passive, active or empty");
  if (policy.empty() || std::getenv("OMP_WAIT_POLICY") != nullptr ||
      std::getenv("GOMP_SPINCOUNT") != nullptr)
    return absl::OkStatus();
  setenv("OMP_WAIT_POLICY", policy.c_str(), 1);
  execv("/proc/self/exe", argv);
  LOG_WARNING << "re-exec with OMP_WAIT_POLICY=" << policy << " failed; threads spin-wait";
  return absl::OkStatus();
}

absl::Status Run() {
  RETURN_IF_ERROR(tartan::ApplyLogLevelFlag());
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty())
    return absl::InvalidArgumentError("--model is required (a PyLate model folder)");
  tartan::encoder::EncoderOptions encoder_options;
  ASSIGN_OR_RETURN(encoder_options.precision,
                   tartan::encoder::ParsePrecision(absl::GetFlag(FLAGS_precision)));
  encoder_options.num_threads = absl::GetFlag(FLAGS_threads);
  encoder_options.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  tartan::encoder::BatcherOptions batcher_options;
  batcher_options.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  batcher_options.max_queue_delay =
      absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_ms) * 1000);
  batcher_options.max_queue_texts = absl::GetFlag(FLAGS_max_queue_texts);
  batcher_options.num_workers = absl::GetFlag(FLAGS_workers);
  tartan::encoder::EncoderServiceLimits limits;
  limits.max_texts_per_request = absl::GetFlag(FLAGS_max_texts_per_request);
  limits.max_chars_per_text = absl::GetFlag(FLAGS_max_chars_per_text);
  RETURN_IF_ERROR(tartan::CheckRange("threads", encoder_options.num_threads, 1, 256));
  RETURN_IF_ERROR(tartan::CheckRange("workers", batcher_options.num_workers, 1, 64));
  RETURN_IF_ERROR(
      tartan::CheckRange("max_batch_tokens", batcher_options.max_batch_tokens, 32, 1 << 20));
  RETURN_IF_ERROR(
      tartan::CheckRange("max_queue_delay_ms", absl::GetFlag(FLAGS_max_queue_delay_ms), 0, 1000));
  RETURN_IF_ERROR(tartan::CheckPositive("max_queue_texts", batcher_options.max_queue_texts));
  RETURN_IF_ERROR(
      tartan::CheckRange("max_texts_per_request", limits.max_texts_per_request, 1, 100000));
  RETURN_IF_ERROR(tartan::CheckPositive("max_chars_per_text", limits.max_chars_per_text));

  auto registry = std::make_shared<prometheus::Registry>();
  tartan::encoder::EncoderService service(limits, *registry);
  ASSIGN_OR_RETURN(
      auto host,
      tartan::ServiceHost::Start(tartan::ServerOptionsFromFlags("encoder"),
                                 {{tartan::v1::Encoder::service_full_name(), &service}}, registry));
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<tartan::encoder::ColbertEncoder> encoder,
                   tartan::encoder::ColbertEncoder::Load(model_dir, encoder_options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  service.SetModelLoadSeconds(seconds);
  const auto& info = encoder->info();
  LOG_INFO << "loaded " << info.name << " (" << info.architecture << ", dim " << info.dim << ", "
           << tartan::encoder::PrecisionName(info.precision)
           << " for --precision=" << tartan::encoder::PrecisionName(info.requested_precision)
           << ", oneDNN " << info.onednn_isa << ": projections " << info.matmul_impl
           << ", attention " << info.attention_impl << " [" << info.matmul_verdict << "]"
           << ", OpenBLAS " << info.blas_core << " [" << info.blas_core_verdict << "]) in "
           << seconds << " s";
  if (!info.kernel_warning.empty()) LOG_WARNING << info.kernel_warning;
  tartan::encoder::ExportEncoderInfoMetric(*registry, info);
  service.SetModel(std::move(encoder), batcher_options);
  host->SetLifecycle(tartan::Lifecycle::kServing);
  host->WaitForShutdown();
  service.Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  tartan::SetDefaultPorts(50051, 9101);
  tartan::ParseFlagsWithEnv(argc, argv, "tartan-encoder: ColBERT token embeddings over gRPC");
  if (absl::Status st = SetOmpWaitPolicy(argv); !st.ok()) {
    LOG_ERROR << "tartan-encoder: " << st;
    return 1;
  }
  tartan::compute::FixBlasCoreOrWarn(argv, absl::GetFlag(FLAGS_fix_blas_core));
  absl::Status status = Run();
  if (!status.ok()) {
    LOG_ERROR << "tartan-encoder: " << status;
    return 1;
  }
  return 0;
}
