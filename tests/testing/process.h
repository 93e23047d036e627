// Test helpers for integration tests: start a real service binary on 127.0.0.1 with ports it
// picks itself (--grpc_port=0, --port_file), wait until it is ready, stop it by PID.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::testing {

// Path of a built executable ($TARTAN_BIN_DIR/<name>).
std::string BinaryPath(const std::string& name);
// $TARTAN_SHARED_DIR, or "" when it is not set or missing.
std::string SharedDir();
// A fresh directory under $TEST_TMPDIR or /tmp.
std::string MakeTempDir(const std::string& prefix);

class ServiceProcess {
 public:
  ServiceProcess() = default;
  ServiceProcess(ServiceProcess&&) noexcept;
  ServiceProcess& operator=(ServiceProcess&&) noexcept;
  ServiceProcess(const ServiceProcess&) = delete;
  ~ServiceProcess();  // SIGKILLs a process still running

  // Starts `binary args... --host=127.0.0.1 --grpc_port=<grpc_port> --metrics_port=0
  // --port_file=...` and waits (up to `timeout_s`) for the port file. Output goes to
  // <log_dir>/<name>.log.
  static absl::StatusOr<ServiceProcess> Start(const std::string& binary,
                                              const std::vector<std::string>& args,
                                              const std::string& log_dir, double timeout_s = 30,
                                              int grpc_port = 0);

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

  // Sends `signo`; with wait, reaps and returns the exit status as from waitpid.
  absl::StatusOr<int> Signal(int signo, bool wait, double timeout_s = 30);
  // SIGTERM and wait; returns the exit code (or 128+signal).
  absl::StatusOr<int> Stop(double timeout_s = 30);
  void Kill();  // SIGKILL and reap

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
};

// Plain HTTP GET on 127.0.0.1:<port><path>; returns the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);
// The value of a Prometheus sample whose line starts with `series` (e.g.
// `tartan_x_rpcs_total{code="OK",method="/a/B"}`), or -1 when absent.
double MetricValue(const std::string& exposition, const std::string& series_prefix,
                   const std::vector<std::string>& must_contain = {});

}  // namespace tartan::testing
