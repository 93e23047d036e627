// Service lifecycle driving grpc.health.v1: STARTING → LOADING → SERVING → DRAINING.
// Only SERVING reports SERVING to health checks; every other state reports NOT_SERVING.
#pragma once

namespace tartan {

enum class Lifecycle { kStarting = 0, kLoading = 1, kServing = 2, kDraining = 3 };

inline const char* LifecycleName(Lifecycle state) {
  switch (state) {
    case Lifecycle::kStarting:
      return "STARTING";
    case Lifecycle::kLoading:
      return "LOADING";
    case Lifecycle::kServing:
      return "SERVING";
    case Lifecycle::kDraining:
      return "DRAINING";
  }
  return "UNKNOWN";
}

}  // namespace tartan
