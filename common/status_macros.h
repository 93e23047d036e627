// Status propagation helpers used across every Tartan library.
// RETURN_IF_ERROR(expr): returns the absl::Status of `expr` when it is not OK.
// ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr, returns its status on error,
// otherwise moves the value into `lhs` (which may be a declaration: `auto x`).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TARTAN_CONCAT_INNER_(a, b) a##b
#define TARTAN_CONCAT_(a, b) TARTAN_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status tartan_status_ = (expr);          \
    if (!tartan_status_.ok()) return tartan_status_; \
  } while (0)

#define TARTAN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  TARTAN_ASSIGN_OR_RETURN_IMPL_(TARTAN_CONCAT_(tartan_statusor_, __LINE__), lhs, expr)
