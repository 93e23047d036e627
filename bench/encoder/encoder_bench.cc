// Backbone throughput: tokens/s for queries and documents on ModernBERT-base and Ettin-32M
// shapes (random weights written with WriteSyntheticBackbone), 1 and 2 threads, fp32, bf16 and
// int8, plus the GEMM GFLOP/s (int8: GOP/s) the backbone issued as a fraction of an independent
// anchor measured in the same run: oneDNN's own matmul (raw oneDNN API, not Tartan's wrappers)
// of the same precision on a ModernBERT-base projection shape (1024 x 2304 x 768; int8: u8 x s8
// -> s32, no quantisation work).
//
//   encoder_bench [--models=base,ettin32m] [--threads=1,2] [--precisions=fp32,bf16,int8]
//                 [--long_docs] [--min_length=N] [--max_length=N] [--min_seconds=1.5]
//                 [--max_reps=3] [--workloads=1x32,8x180]
#include <time.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/encoder/lib/arch/backbone.h"
#include "services/encoder/lib/arch/synthetic_backbone.h"
#include "services/encoder/lib/blas/gemm.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/kernel_info.h"
#include "services/encoder/lib/blas/packed_matmul.h"

ABSL_FLAG(std::string, models, "base,ettin32m", "shapes: base (ModernBERT-base), ettin32m");
ABSL_FLAG(std::string, threads, "1,2", "thread counts");
ABSL_FLAG(std::string, precisions, "fp32,bf16", "fp32, bf16 and/or int8");
ABSL_FLAG(bool, long_docs, false, "also run 8192-token documents on ModernBERT-base (slow)");
ABSL_FLAG(int, min_length, 0, "skip workloads with shorter sequences");
ABSL_FLAG(int, max_length, 8192, "skip workloads with longer sequences");
ABSL_FLAG(double, min_seconds, 1.5, "time budget per configuration (after one warm-up)");
ABSL_FLAG(int, max_reps, 3, "repetitions per configuration (median reported)");
ABSL_FLAG(std::string, workloads, "",
          "these workloads instead of the default ones, as BATCHxLENGTH (e.g. 1x32,4x32,8x180)");
ABSL_FLAG(std::string, keep_models, "",
          "write the random checkpoints to DIR/<model> and keep them, with the float32 output "
          "of one 32-token query (check_ids.i32, check_hidden.f32) for peers to verify against "
          "(bench/encoder/peers.sh)");

namespace tartan::encoder {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Process CPU seconds (all threads). The build machine is shared, so wall time includes time
// spent descheduled; efficiency figures use CPU time on both sides of the ratio.
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Workload {
  std::string name;
  int length;
  int batch;
};

PackedBatch MakeBatch(const Workload& w, int vocab) {
  std::mt19937 rng(42);
  PackedBatch b;
  b.offsets.push_back(0);
  for (int s = 0; s < w.batch; ++s) {
    for (int i = 0; i < w.length; ++i) {
      b.ids.push_back(static_cast<int32_t>(rng() % vocab));
      b.key_mask.push_back(1);
    }
    b.offsets.push_back(static_cast<int32_t>(b.ids.size()));
  }
  return b;
}

extern "C" void omp_set_num_threads(int);

// The anchors: 0 = f32, 1 = bf16, 2 = int8.
constexpr const char* kAnchorName[] = {"f32", "bf16", "int8 (u8 x s8 -> s32)"};
int AnchorOf(const std::string& precision) {
  return precision == "bf16" ? 1 : precision == "int8" ? 2 : 0;
}

// Best-of GFLOP/s (per CPU-second x threads) of oneDNN's matmul alone: weights in the layout
// the primitive asks for, no padding, no conversion. The anchor for "% of peak".
double OneDnnPeak(int anchor, int threads, std::string* impl) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const int64_t m = 1024, n = 2304, k = 768;
  const dt src_type = anchor == 1 ? dt::bf16 : anchor == 2 ? dt::u8 : dt::f32;
  const dt wei_type = anchor == 1 ? dt::bf16 : anchor == 2 ? dt::s8 : dt::f32;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  // Before the primitive is created: oneDNN fixes its thread count then.
  omp_set_num_threads(threads);
  const dnnl::memory::desc src({m, k}, src_type, tag::ab), wei({k, n}, wei_type, tag::any),
      dst({m, n}, anchor == 2 ? dt::s32 : dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), eng);
  *impl = pd.impl_info_str();
  dnnl::matmul prim(pd);
  dnnl::memory a(src, eng), b(pd.weights_desc(), eng), c(dst, eng);
  const auto run = [&] {
    prim.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    s.wait();
  };
  run();
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = CpuSeconds();
    run();
    best = std::max(best, 2.0 * m * n * k / (CpuSeconds() - t0) / 1e9 * threads);
  }
  return best;
}

// The float32 backbone's output for one 32-token query, for peers to check their
// re-implementation of the same checkpoint against.
absl::Status WriteCheck(const std::string& dir, int vocab) {
  auto bb = LoadBackbone(dir, BackboneOptions{});
  if (!bb.ok()) return bb.status();
  const PackedBatch batch = MakeBatch({"query", 32, 1}, vocab);
  auto out = (*bb)->Forward(batch);
  if (!out.ok()) return out.status();
  std::ofstream ids(dir + "/check_ids.i32", std::ios::binary);
  ids.write(reinterpret_cast<const char*>(batch.ids.data()), batch.ids.size() * sizeof(int32_t));
  std::ofstream hidden(dir + "/check_hidden.f32", std::ios::binary);
  hidden.write(reinterpret_cast<const char*>(out->data()), out->size() * sizeof(float));
  return ids && hidden ? absl::OkStatus() : absl::InternalError("cannot write check files");
}

// The smallest cosine between corresponding rows of a and b ([rows, dim] row-major).
double WorstCosine(const std::vector<float>& a, const std::vector<float>& b, int dim) {
  double worst = 1.0;
  for (size_t r = 0; r * dim < a.size(); ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int d = 0; d < dim; ++d) {
      const double x = a[r * dim + d], y = b[r * dim + d];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

int Main() {
  namespace fs = std::filesystem;
  const std::string keep = absl::GetFlag(FLAGS_keep_models);
  const fs::path tmp = !keep.empty() ? fs::path(keep)
                                     : fs::temp_directory_path() /
                                           ("tartan_encoder_bench_" + std::to_string(::getpid()));
  std::vector<int> thread_counts;
  for (auto s : absl::StrSplit(absl::GetFlag(FLAGS_threads), ',')) {
    thread_counts.push_back(std::stoi(std::string(s)));
    if (thread_counts.back() < 1 || thread_counts.back() > 63) {
      std::fprintf(stderr, "--threads values must be in [1, 63]\n");
      return 2;
    }
  }
  const std::vector<std::string> models = absl::StrSplit(absl::GetFlag(FLAGS_models), ',');
  const std::vector<std::string> precisions = absl::StrSplit(absl::GetFlag(FLAGS_precisions), ',');
  // --workloads: these shapes instead of the default list (up to 64 tokens: a query).
  std::vector<Workload> listed;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty())) {
    const std::vector<std::string> bl = absl::StrSplit(s, 'x');
    Workload w;
    if (bl.size() != 2 || !absl::SimpleAtoi(bl[0], &w.batch) ||
        !absl::SimpleAtoi(bl[1], &w.length) || w.batch < 1 || w.length < 1) {
      std::fprintf(stderr, "--workloads: '%s' is not BATCHxLENGTH\n", std::string(s).c_str());
      return 2;
    }
    w.name = w.length <= 64 ? "query" : "doc";
    listed.push_back(w);
  }

  std::printf("machine: %s, %u hardware threads; native bf16 (AVX512-BF16/AMX): %s\n",
              CpuModel().c_str(), std::thread::hardware_concurrency(),
              CpuHasNativeBf16() ? "yes" : "no");
  // Which kernels serve the products (brgemm vs jit gemm, AMX vs AVX-512) decides the speed.
  for (Precision p : {Precision::kFloat32, Precision::kBFloat16, Precision::kInt8}) {
    if (p == Precision::kBFloat16 && !CpuHasNativeBf16()) continue;
    const MatmulReport r = InspectMatmulKernels(p);
    std::printf("%s products: oneDNN ISA %s, projections %s, attention %s [%s]\n",
                p == Precision::kFloat32    ? "fp32"
                : p == Precision::kBFloat16 ? "bf16"
                                            : "int8",
                r.isa.c_str(), r.projection.c_str(), r.attention.c_str(),
                r.verdict == MatmulVerdict::kOk ? "ok" : r.warning.c_str());
  }
  std::printf("int8 activation levels: %d (%s)\n", Int8ActivationLevels(),
              CpuHasInt8Dot() ? "VNNI" : "no VNNI: 7-bit activations");
  // The anchors are re-measured between configurations and the best value seen is the
  // denominator (conservative on a machine shared with other jobs); rows print at the end.
  std::vector<double> peak[3] = {std::vector<double>(64, 0.0), std::vector<double>(64, 0.0),
                                 std::vector<double>(64, 0.0)};
  std::string peak_impl[3];
  bool anchor_used[3] = {false, false, false};
  for (const std::string& prec : precisions) anchor_used[AnchorOf(prec)] = true;
  if (!CpuHasNativeBf16()) anchor_used[1] = false;
  const auto measure_peaks = [&] {
    for (int t : thread_counts) {
      for (int a = 0; a < 3; ++a) {
        if (anchor_used[a]) peak[a][t] = std::max(peak[a][t], OneDnnPeak(a, t, &peak_impl[a]));
      }
    }
  };
  struct Row {
    std::string text;  // everything up to the GFLOP/s column
    double gflops;
    int threads;
    int anchor;
    bool skipped;
  };
  std::vector<Row> rows;
  measure_peaks();

  for (const std::string& model : models) {
    SyntheticBackboneShape shape;
    shape.vocab_size = 1024;  // vocabulary size does not change compute; keeps the file small
    shape.max_position = 8192;
    shape.local_attention = 128;
    shape.global_every = 3;
    if (model == "base") {
      shape.hidden = 768, shape.layers = 22, shape.heads = 12, shape.intermediate = 1152;
    } else if (model == "ettin32m") {
      shape.hidden = 384, shape.layers = 10, shape.heads = 6, shape.intermediate = 576;
    } else {
      std::fprintf(stderr, "unknown model %s\n", model.c_str());
      return 2;
    }
    const std::string dir = (tmp / model).string();
    if (auto st = WriteSyntheticBackbone(dir, shape, 1, false); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    if (!keep.empty()) {
      if (auto st = WriteCheck(dir, shape.vocab_size); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 1;
      }
    }
    std::vector<Workload> workloads = {
        {"query", 32, 1}, {"query", 32, 32}, {"doc", 180, 8}, {"doc", 512, 2}, {"doc", 2048, 1}};
    if (model != "base" || absl::GetFlag(FLAGS_long_docs)) workloads.push_back({"doc", 8192, 1});
    if (!listed.empty()) workloads = listed;
    // The lossy precisions' accuracy on this checkpoint: worst per-token cosine of one 32-token
    // query's last hidden state against float32 (the figure peers_ort.js prints for ONNX
    // Runtime's int8 graph).
    const PackedBatch check = MakeBatch({"query", 32, 1}, shape.vocab_size);
    auto reference = LoadBackbone(dir, BackboneOptions{});
    if (!reference.ok()) {
      std::fprintf(stderr, "%s\n", reference.status().ToString().c_str());
      return 1;
    }
    const absl::StatusOr<std::vector<float>> check_fp32 = (*reference)->Forward(check);
    if (!check_fp32.ok()) return 1;
    for (const std::string& prec : precisions) {
      for (int threads : thread_counts) {
        BackboneOptions opts;
        opts.num_threads = threads;
        opts.precision = prec == "bf16"   ? Precision::kBFloat16
                         : prec == "int8" ? Precision::kInt8
                                          : Precision::kFloat32;
        auto bb = LoadBackbone(dir, opts);
        if (!bb.ok()) {
          std::fprintf(stderr, "%s\n", bb.status().ToString().c_str());
          return 1;
        }
        if (opts.precision == Precision::kBFloat16 && (*bb)->precision() != Precision::kBFloat16) {
          rows.push_back({absl::StrFormat("| %s | (all) | | %d | bf16 | skipped: no native bf16 "
                                          "(AVX512-BF16/AMX) on this CPU | | |",
                                          model, threads),
                          0, threads, 1, true});
          continue;
        }
        if (prec != "fp32" && threads == thread_counts.front()) {
          auto out = (*bb)->Forward(check);
          if (!out.ok()) return 1;
          std::printf("%s %s: worst per-token cosine vs fp32 on one 32-token query %.6f\n",
                      model.c_str(), prec.c_str(), WorstCosine(*out, *check_fp32, shape.hidden));
        }
        measure_peaks();
        for (const Workload& w : workloads) {
          if (w.length < absl::GetFlag(FLAGS_min_length) ||
              w.length > absl::GetFlag(FLAGS_max_length)) {
            continue;
          }
          const PackedBatch batch = MakeBatch(w, shape.vocab_size);
          // Warm-up (page-faults the buffers, spins up BLAS threads); long batches amortise
          // that themselves and would double the run time.
          if (batch.ids.size() < 1024 && !(*bb)->Forward(batch).ok()) return 1;
          std::vector<double> times;
          const uint64_t flops0 = GemmFlopCount();
          double total = 0;
          const double cpu0 = CpuSeconds();
          while (static_cast<int>(times.size()) < absl::GetFlag(FLAGS_max_reps) &&
                 (times.empty() || total < absl::GetFlag(FLAGS_min_seconds))) {
            const auto t0 = Clock::now();
            auto out = (*bb)->Forward(batch);
            const double s = Seconds(t0, Clock::now());
            if (!out.ok()) return 1;
            times.push_back(s);
            total += s;
          }
          // CPU seconds divided by threads approximates the time with the cores to ourselves.
          const double cpu = (CpuSeconds() - cpu0) / threads;
          const double gflops = (GemmFlopCount() - flops0) / cpu / 1e9;
          std::sort(times.begin(), times.end());
          const double median = times[times.size() / 2];
          const double tokens = static_cast<double>(batch.ids.size());
          rows.push_back(
              {absl::StrFormat("| %s | %s %dx%d | %.0f | %d | %s | %.1f | %.0f | %.0f", model,
                               w.name, w.batch, w.length, tokens, threads, prec, median * 1e3,
                               tokens / median, tokens * times.size() / cpu),
               gflops, threads, AnchorOf(prec), false});
          std::fprintf(stderr, "%s\n", rows.back().text.c_str());  // progress
        }
      }
    }
  }
  measure_peaks();
  if (keep.empty()) fs::remove_all(tmp);
  for (int t : thread_counts) {
    for (int a = 0; a < 3; ++a) {
      if (!anchor_used[a]) continue;
      std::printf(
          "anchor: oneDNN %s matmul alone (%s, 1024x2304x768, best of all re-measurements, per "
          "CPU-second x threads), %d thread(s): %.1f GFLOP/s\n",
          kAnchorName[a], peak_impl[a].c_str(), t, peak[a][t]);
    }
  }
  std::printf(
      "\n| model | workload | tokens | threads | precision | ms/batch (median wall) | "
      "tokens/s (wall) | tokens/s (CPU time) | GEMM GFLOP/s (CPU time) | of oneDNN anchor |\n");
  std::printf("|---|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    if (r.skipped) {
      std::printf("%s\n", r.text.c_str());
    } else {
      // Each precision against oneDNN's own matmul of that precision.
      std::printf("%s | %.1f | %.0f%% |\n", r.text.c_str(), r.gflops,
                  100.0 * r.gflops / peak[r.anchor][r.threads]);
    }
  }
  return 0;
}

}  // namespace
}  // namespace tartan::encoder

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tartan::encoder::Main();
}
