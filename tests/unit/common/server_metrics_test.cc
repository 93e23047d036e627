// The shared metric helpers: gRPC code names as label values, the replaceable info series,
// and the process collector read from /proc/self.
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/server/process_metrics.h"
#include "common/server/rpc_metrics.h"
#include "gtest/gtest.h"

namespace tartan {
namespace {

double ValueOf(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& family : families) {
    if (family.name != name) continue;
    return family.type == prometheus::MetricType::Counter ? family.metric.at(0).counter.value
                                                          : family.metric.at(0).gauge.value;
  }
  return -1;
}

TEST(GrpcCodeName, NamesEveryCode) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(17), "UNKNOWN");
  EXPECT_EQ(GrpcCodeName(-1), "UNKNOWN");
}

TEST(SetServiceInfo, ReplacesTheEarlierSeries) {
  prometheus::Registry registry;
  SetServiceInfo(registry, "x", "", "");
  SetServiceInfo(registry, "x", "m", "128", {{"extra", "e"}});
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(text.find("tartan_x_info{dim=\"128\",extra=\"e\",model=\"m\",version=\""),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("model=\"\""), std::string::npos) << text;
}

TEST(RpcMetrics, CodeLabelIsTheName) {
  prometheus::Registry registry;
  RpcMetrics metrics(registry, "x");
  metrics.Started("/a/B");
  metrics.Finished("/a/B", 14, 0.01);
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(text.find("tartan_x_rpcs_total{code=\"UNAVAILABLE\",method=\"/a/B\"} 1"),
            std::string::npos)
      << text;
}

TEST(ProcessMetrics, ReadsThisProcess) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      while (!stop) std::this_thread::yield();
    });
  }
  // 50 ms of CPU (the kernel counts in 10 ms ticks).
  while (std::clock() < CLOCKS_PER_SEC / 20) {
  }
  const int fd = dup(0);
  const auto before = ProcessMetrics().Collect();
  close(fd);
  const auto after = ProcessMetrics().Collect();
  stop = true;
  for (auto& thread : threads) thread.join();

  EXPECT_GE(ValueOf(before, "process_threads"), 4);
  EXPECT_EQ(ValueOf(before, "process_open_fds"), ValueOf(after, "process_open_fds") + 1);
  EXPECT_GT(ValueOf(before, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(ValueOf(before, "process_virtual_memory_bytes"),
            ValueOf(before, "process_resident_memory_bytes"));
  EXPECT_GE(ValueOf(after, "process_cpu_seconds_total"), 0.04);
  EXPECT_GT(ValueOf(before, "process_max_fds"), 0);
  const double start = ValueOf(before, "process_start_time_seconds");
  EXPECT_LE(start, static_cast<double>(time(nullptr)) + 1);
  EXPECT_GT(start, static_cast<double>(time(nullptr)) - 3600);
}

}  // namespace
}  // namespace tartan
