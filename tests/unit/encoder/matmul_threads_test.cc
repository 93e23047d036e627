// A projection runs on as many threads as it is given. oneDNN fixes a primitive's thread count
// when it creates the primitive, so a cache that reused a primitive built under one thread for a
// 2-thread call ran every later 2-thread call on one core (the bf16 encoder did not scale from 1
// to 2 threads). The check counts CPU time per thread of this process (/proc/self/task), which
// holds on a busy machine too: a thread that did half of the work accrued it whatever the wall
// clock did. ctest runs this binary with OMP_WAIT_POLICY=passive, so an idle worker accrues
// nothing by spinning.
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/compute/dnnl_matmul.h"
#include "gtest/gtest.h"
#include "services/encoder/lib/blas/int8_matmul.h"
#include "services/encoder/lib/blas/packed_matmul.h"

namespace tartan::encoder {
namespace {

// CPU ticks (user + system) of every thread of this process, by thread id.
std::map<int, long> ThreadTicks() {
  std::map<int, long> ticks;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return ticks;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');  // the thread name may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13
    long utime = 0, stime = 0;
    fields >> utime >> stime;  // fields 14 and 15
    ticks[std::stoi(e->d_name)] = utime + stime;
  }
  closedir(dir);
  return ticks;
}

// Runs `product` on 2 threads until this process spent ~0.6 s of CPU in it (at most 20 s), and
// returns the CPU ticks of the busiest thread other than the caller, over the caller's.
template <typename Product>
double HelperShareOfTwoThreadRuns(const Product& product) {
  const int self = static_cast<int>(syscall(SYS_gettid));
  const long hz = sysconf(_SC_CLK_TCK);
  const std::map<int, long> before = ThreadTicks();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::map<int, long> after;
  long total = 0;
  do {
    for (int i = 0; i < 5; ++i) product();
    after = ThreadTicks();
    total = 0;
    for (const auto& [tid, t] : after) {
      auto it = before.find(tid);
      total += t - (it == before.end() ? 0 : it->second);
    }
  } while (total < hz * 6 / 10 && std::chrono::steady_clock::now() < deadline);
  long mine = 0, helper = 0;
  for (const auto& [tid, t] : after) {
    auto it = before.find(tid);
    const long delta = t - (it == before.end() ? 0 : it->second);
    if (tid == self) {
      mine = delta;
    } else {
      helper = std::max(helper, delta);
    }
  }
  return mine > 0 ? static_cast<double>(helper) / mine : 0.0;
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

constexpr int kRows = 512, kOut = 2304, kIn = 768;

// Runs `product` once on one thread, then on two until the CPU-time check has its sample, and
// expects the second thread to have done a fair part of the work. `product` must have been
// created under one oneDNN thread, as a model loaded by a single-threaded caller is.
void ExpectTwoThreadRunsUseTwoThreads(const PackedMatmul& product) {
  const std::vector<float> x = Random(static_cast<size_t>(kRows) * kIn, 2);
  std::vector<float> y(static_cast<size_t>(kRows) * kOut);
  product.Run(x.data(), kRows, y.data(), false, 1);
  const double share =
      HelperShareOfTwoThreadRuns([&] { product.Run(x.data(), kRows, y.data(), false, 2); });
  EXPECT_GT(share, 0.4) << "the second thread did " << share
                        << " of the caller's work: the product ran on one thread";
}

TEST(MatmulThreadsTest, ATwoThreadCallRunsOnTwoThreadsAfterAOneThreadCall) {
  const std::vector<float> w = Random(static_cast<size_t>(kOut) * kIn, 1);
  for (MatmulDataType type : {MatmulDataType::kFloat32, MatmulDataType::kBFloat16}) {
    if (type == MatmulDataType::kBFloat16 && !CpuHasNativeBf16()) continue;
    SCOPED_TRACE(type == MatmulDataType::kBFloat16 ? "bf16" : "f32");
    compute::SetOneDnnThreads(1);
    auto packed = PackedMatmul::Create(w.data(), kOut, kIn, type);
    ASSERT_TRUE(packed.ok()) << packed.status();
    ExpectTwoThreadRunsUseTwoThreads(**packed);
  }
}

TEST(MatmulThreadsTest, Int8ATwoThreadCallRunsOnTwoThreadsAfterAOneThreadCall) {
  const std::vector<float> w = Random(static_cast<size_t>(kOut) * kIn, 3);
  compute::SetOneDnnThreads(1);
  auto packed = CreateInt8Matmul(w.data(), kOut, kIn, Int8ActivationLevels());
  ASSERT_TRUE(packed.ok()) << packed.status();
  ExpectTwoThreadRunsUseTwoThreads(**packed);
}

}  // namespace
}  // namespace tartan::encoder
