// The one conversion between absl::Status (core libraries) and grpc::Status (the wire).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tartan {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace tartan
