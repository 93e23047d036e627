#include "common/server/shutdown_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace tartan {
namespace {
int g_pipe[2] = {-1, -1};
std::once_flag g_once;

void OnSignal(int signo) {
  const unsigned char byte = static_cast<unsigned char>(signo);
  // write() is async-signal-safe; a full pipe means a wake-up is already pending.
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &byte, 1);
}
}  // namespace

void InstallShutdownSignalHandlers() {
  std::call_once(g_once, [] {
    if (pipe2(g_pipe, O_CLOEXEC) != 0) return;
    fcntl(g_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction action = {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
  });
}

int WaitForShutdownSignal() {
  InstallShutdownSignalHandlers();
  unsigned char byte = 0;
  while (true) {
    const ssize_t n = read(g_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
}

void RequestShutdown() {
  InstallShutdownSignalHandlers();
  OnSignal(0);
}

}  // namespace tartan
