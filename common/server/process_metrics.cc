#include "common/server/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace tartan {
namespace {

// The fields of /proc/self/stat this collector reads (proc(5) numbering in comments).
struct ProcStat {
  double utime_ticks = 0;  // (14)
  double stime_ticks = 0;  // (15)
  double threads = 0;      // (20)
  double start_ticks = 0;  // (22) since boot
  double vsize_bytes = 0;  // (23)
  double rss_pages = 0;    // (24)
};

bool ReadProcStat(ProcStat* out) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  // The command name (2) is in parentheses and may hold spaces: fields resume after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  for (int number = 3; fields >> field; ++number) {
    const double value = std::strtod(field.c_str(), nullptr);
    switch (number) {
      case 14:
        out->utime_ticks = value;
        break;
      case 15:
        out->stime_ticks = value;
        break;
      case 20:
        out->threads = value;
        break;
      case 22:
        out->start_ticks = value;
        break;
      case 23:
        out->vsize_bytes = value;
        break;
      case 24:
        out->rss_pages = value;
        return true;
      default:
        break;
    }
  }
  return false;
}

// Boot time in seconds since the epoch (the btime line of /proc/stat), 0 when unreadable.
double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

double OpenFds() {
  std::error_code error;
  double count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++count;
  }
  return count - 1;  // the iterator's own descriptor on /proc/self/fd
}

prometheus::MetricFamily OneValue(const char* name, const char* help, prometheus::MetricType type,
                                  double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  ProcStat stat;
  if (ReadProcStat(&stat)) {
    const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
    families.push_back(
        OneValue("process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
                 MetricType::Counter, (stat.utime_ticks + stat.stime_ticks) / ticks_per_second));
    families.push_back(OneValue("process_resident_memory_bytes", "Resident memory size in bytes",
                                MetricType::Gauge, stat.rss_pages * page_bytes));
    families.push_back(OneValue("process_virtual_memory_bytes", "Virtual memory size in bytes",
                                MetricType::Gauge, stat.vsize_bytes));
    families.push_back(OneValue("process_threads", "Number of OS threads in the process",
                                MetricType::Gauge, stat.threads));
    const double boot = BootTimeSeconds();
    if (boot > 0) {
      families.push_back(OneValue("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds",
                                  MetricType::Gauge, boot + stat.start_ticks / ticks_per_second));
    }
  }
  families.push_back(OneValue("process_open_fds", "Number of open file descriptors",
                              MetricType::Gauge, OpenFds()));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    families.push_back(OneValue("process_max_fds", "Maximum number of open file descriptors",
                                MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace tartan
