#include "services/router/lib/downstream_error.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tartan::router {

DownstreamFault ClassifyDownstreamError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return DownstreamFault::kRetryable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return DownstreamFault::kClient;
    default:
      return DownstreamFault::kInternal;
  }
}

absl::Status DownstreamStatus(absl::string_view downstream, const absl::Status& status) {
  if (status.ok()) return status;
  switch (ClassifyDownstreamError(status.code())) {
    case DownstreamFault::kClient:
      return absl::Status(status.code(), absl::StrCat(downstream, ": ", status.message()));
    case DownstreamFault::kRetryable:
      return absl::Status(status.code() == absl::StatusCode::kCancelled
                              ? absl::StatusCode::kUnavailable
                              : status.code(),
                          absl::StrCat(downstream, ": ", status.message()));
    case DownstreamFault::kInternal:
      break;
  }
  return absl::InternalError(absl::StrCat(downstream, ": ", absl::StatusCodeToString(status.code()),
                                          ": ", status.message()));
}

void DownstreamFailures::Add(absl::string_view downstream, const absl::Status& status) {
  if (status.ok()) return;
  failures_.push_back(
      {ClassifyDownstreamError(status.code()), DownstreamStatus(downstream, status)});
}

bool DownstreamFailures::any_client_fault() const {
  for (const Failure& failure : failures_) {
    if (failure.fault == DownstreamFault::kClient) return true;
  }
  return false;
}

absl::Status DownstreamFailures::ToStatus(absl::string_view summary) const {
  if (failures_.empty()) return absl::OkStatus();
  const Failure* decisive = nullptr;
  for (DownstreamFault fault :
       {DownstreamFault::kClient, DownstreamFault::kInternal, DownstreamFault::kRetryable}) {
    for (const Failure& failure : failures_) {
      if (failure.fault == fault) {
        decisive = &failure;
        break;
      }
    }
    if (decisive != nullptr) break;
  }
  std::string message(summary);
  for (size_t i = 0; i < failures_.size(); ++i) {
    absl::StrAppend(&message, i == 0 ? (summary.empty() ? "" : ": ") : "; ",
                    failures_[i].status.message());
  }
  return absl::Status(decisive->status.code(), message);
}

}  // namespace tartan::router
