#include "tests/integration/observability/prometheus_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/process.h"

namespace tartan::testing {
namespace {

// A port free now on 127.0.0.1 (the kernel's pick; released before prometheus binds it).
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("cannot bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string ConfigYaml(const std::vector<PrometheusServer::Job>& jobs,
                       const std::vector<std::string>& rule_files) {
  std::ostringstream out;
  out << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n";
  if (!rule_files.empty()) {
    out << "rule_files:\n";
    for (const auto& file : rule_files) out << "  - " << file << "\n";
  }
  out << "scrape_configs:\n";
  for (const auto& job : jobs) {
    out << "  - job_name: " << job.name << "\n    static_configs:\n      - targets: [";
    for (size_t i = 0; i < job.metrics_ports.size(); ++i) {
      out << (i ? ", " : "") << "'127.0.0.1:" << job.metrics_ports[i] << "'";
    }
    out << "]\n        labels:\n          component: " << job.component << "\n";
  }
  return out.str();
}

}  // namespace

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (const auto dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string UrlEncode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const std::string& work_dir, const std::vector<Job>& jobs,
    const std::vector<std::string>& rule_files) {
  const std::string binary = FindOnPath("prometheus");
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "no `prometheus` on PATH: install Debian's prometheus package (scripts/install-deps.sh)");
  }
  const std::string config = work_dir + "/prometheus.yml";
  std::ofstream(config) << ConfigYaml(jobs, rule_files);
  std::unique_ptr<PrometheusServer> server(new PrometheusServer());
  auto port = FreePort();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  server->log_path_ = work_dir + "/prometheus.log";
  const std::vector<std::string> args = {
      binary, "--config.file=" + config, "--storage.tsdb.path=" + work_dir + "/prometheus-data",
      absl::StrCat("--web.listen-address=127.0.0.1:", server->port_), "--log.level=warn"};
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  server->pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;
      return absl::InternalError("prometheus exited at start:\n" + server->ReadLog());
    }
    if (HttpGet(server->port_, "/-/ready").ok()) return server;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError("prometheus not ready in 30 s:\n" + server->ReadLog());
}

PrometheusServer::~PrometheusServer() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string PrometheusServer::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<nlohmann::json> PrometheusServer::Api(const std::string& path) const {
  auto body = HttpGet(port_, "/api/v1/" + path);
  if (!body.ok()) return body.status();
  nlohmann::json reply = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || reply.value("status", "") != "success") {
    return absl::InternalError(absl::StrCat("prometheus /api/v1/", path, ": ", *body));
  }
  return reply["data"];
}

absl::StatusOr<nlohmann::json> PrometheusServer::Query(const std::string& promql) const {
  auto data = Api("query?query=" + UrlEncode(promql));
  if (!data.ok()) return data.status();
  return (*data)["result"];
}

absl::StatusOr<double> PrometheusServer::Value(const std::string& promql) const {
  auto result = Query(promql);
  if (!result.ok()) return result.status();
  if (!result->is_array() || result->empty()) {
    return absl::NotFoundError("empty result for " + promql);
  }
  return std::stod((*result)[0]["value"][1].get<std::string>());
}

}  // namespace tartan::testing
