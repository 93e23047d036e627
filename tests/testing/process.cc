#include "tests/testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tartan::testing {
namespace fs = std::filesystem;

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("TARTAN_BIN_DIR");
  return absl::StrCat(dir ? dir : ".", "/", name);
}

std::string SharedDir() {
  const char* dir = std::getenv("TARTAN_SHARED_DIR");
  if (dir == nullptr || !fs::is_directory(dir)) return "";
  return dir;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = absl::StrCat(base ? base : "/tmp", "/", prefix, "-XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return "";
  return buf.data();
}

ServiceProcess::ServiceProcess(ServiceProcess&& other) noexcept { *this = std::move(other); }

ServiceProcess& ServiceProcess::operator=(ServiceProcess&& other) noexcept {
  if (this != &other) {
    Kill();
    pid_ = other.pid_;
    grpc_port_ = other.grpc_port_;
    metrics_port_ = other.metrics_port_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

ServiceProcess::~ServiceProcess() { Kill(); }

absl::StatusOr<ServiceProcess> ServiceProcess::Start(const std::string& binary,
                                                     const std::vector<std::string>& args,
                                                     const std::string& log_dir, double timeout_s,
                                                     int grpc_port) {
  static int counter = 0;
  const std::string name = absl::StrCat(fs::path(binary).filename().string(), "-", ++counter);
  const std::string port_file = absl::StrCat(log_dir, "/", name, ".ports");
  ServiceProcess process;
  process.log_path_ = absl::StrCat(log_dir, "/", name, ".log");
  std::error_code ec;
  fs::remove(port_file, ec);

  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  argv_strings.push_back("--host=127.0.0.1");
  argv_strings.push_back(absl::StrCat("--grpc_port=", grpc_port));
  argv_strings.push_back("--metrics_port=0");
  argv_strings.push_back("--port_file=" + port_file);
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Die with the test: a crashed or killed test binary must not leave services behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = open(process.log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  process.pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      process.pid_ = -1;
      return absl::InternalError(absl::StrCat(binary, " exited during start-up (status ", status,
                                              "): ", process.ReadLog()));
    }
    std::ifstream in(port_file);
    if (in) {
      try {
        nlohmann::json ports = nlohmann::json::parse(in);
        process.grpc_port_ = ports.at("grpc_port").get<int>();
        process.metrics_port_ = ports.at("metrics_port").get<int>();
        return process;
      } catch (const std::exception&) {
        // Partially visible file: retry.
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(binary, " did not bind within ", timeout_s, " s: ", process.ReadLog()));
}

std::string ServiceProcess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<int> ServiceProcess::Signal(int signo, bool wait, double timeout_s) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process not running");
  if (kill(pid_, signo) != 0) return absl::InternalError("kill failed");
  if (!wait) return 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("process did not exit in time");
}

absl::StatusOr<int> ServiceProcess::Stop(double timeout_s) {
  auto status = Signal(SIGTERM, true, timeout_s);
  if (!status.ok()) return status.status();
  if (WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) return 128 + WTERMSIG(*status);
  return -1;
}

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("write failed");
  }
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::InternalError("malformed HTTP response");
  }
  if (response.find(" 200 ") == std::string::npos || response.find(" 200 ") > body) {
    return absl::InternalError("HTTP status not 200: " + response.substr(0, response.find("\r\n")));
  }
  return response.substr(body + 4);
}

double MetricValue(const std::string& exposition, const std::string& series_prefix,
                   const std::vector<std::string>& must_contain) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series_prefix, 0) != 0) continue;
    bool all = true;
    for (const auto& part : must_contain) all = all && line.find(part) != std::string::npos;
    if (!all) continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    return std::strtod(line.c_str() + space + 1, nullptr);
  }
  return -1;
}

}  // namespace tartan::testing
