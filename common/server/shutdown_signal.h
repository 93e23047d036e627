// SIGTERM / SIGINT → a wake-up that one thread waits for. A handler writes to a self-pipe, so
// it works whichever thread the kernel delivers the signal to (BLAS and gRPC start their own
// threads before main can mask signals).
#pragma once

namespace tartan {

// Installs the handlers (idempotent).
void InstallShutdownSignalHandlers();
// Blocks until SIGTERM/SIGINT arrives or RequestShutdown() is called; returns the signal
// number (0 for a programmatic request).
int WaitForShutdownSignal();
// Wakes WaitForShutdownSignal from inside the process.
void RequestShutdown();

}  // namespace tartan
