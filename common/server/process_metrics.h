// The standard process_* families Prometheus client libraries export, which prometheus-cpp
// lacks, read from /proc/self at each scrape (Linux only):
//   process_cpu_seconds_total        counter  user + system CPU time
//   process_resident_memory_bytes    gauge
//   process_virtual_memory_bytes     gauge
//   process_open_fds                 gauge
//   process_max_fds                  gauge    soft RLIMIT_NOFILE
//   process_threads                  gauge
//   process_start_time_seconds       gauge    since the Unix epoch
// Register it on the exposer next to the registry (Exposer::RegisterCollectable).
#pragma once

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace tartan {

class ProcessMetrics final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace tartan
