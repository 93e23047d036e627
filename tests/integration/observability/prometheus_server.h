// Debian's real `prometheus` binary for integration tests: started on 127.0.0.1 with a temp
// data dir, a generated prometheus.yml (scrape and rule evaluation every second) and optional
// rule files; queried through its HTTP API; stopped by PID.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace tartan::testing {

// The absolute path of `name` on $PATH, or "" when it is not there.
std::string FindOnPath(const std::string& name);

class PrometheusServer {
 public:
  // One scrape job: targets 127.0.0.1:<port> with labels {job, component}, as the Helm chart's
  // ServiceMonitor labels them.
  struct Job {
    std::string name;
    std::string component;
    std::vector<int> metrics_ports;
  };

  // Writes <work_dir>/prometheus.yml, starts prometheus (log: <work_dir>/prometheus.log) and
  // waits for /-/ready.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::string& work_dir, const std::vector<Job>& jobs,
      const std::vector<std::string>& rule_files);
  ~PrometheusServer();  // SIGTERM, then SIGKILL if it lingers

  int port() const { return port_; }
  // GET /api/v1/<path> (path already URL-encoded); the "data" member of a success reply.
  absl::StatusOr<nlohmann::json> Api(const std::string& path) const;
  // An instant query; the result vector (data.result).
  absl::StatusOr<nlohmann::json> Query(const std::string& promql) const;
  // The value of the first sample of an instant query, NOT_FOUND when the result is empty.
  absl::StatusOr<double> Value(const std::string& promql) const;
  std::string ReadLog() const;

 private:
  PrometheusServer() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEncode(const std::string& text);

}  // namespace tartan::testing
