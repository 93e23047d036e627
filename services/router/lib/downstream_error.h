// The router's one rule for failed calls to the services behind it (indexer shards, the
// encoder): whose fault a failure is, and what the router's own client is told.
//
// Every call the router makes downstream is idempotent: searches, stats, model info and encodes
// are reads; Upsert replaces by id and Delete of a missing id is a no-op. So a call that ran out
// of time may be repeated as it is, and DEADLINE_EXCEEDED counts as retryable. (A
// non-idempotent call would need another rule: after a timeout its outcome is unknown.)
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tartan::router {

enum class DownstreamFault {
  // Down, draining, overloaded or too slow (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
  // ABORTED, CANCELLED): the client may retry, with backoff. A search answers without that
  // shard (partial).
  kRetryable,
  // The request itself is wrong (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
  // FAILED_PRECONDITION, OUT_OF_RANGE): every shard would say the same, so the code is passed
  // through as is.
  kClient,
  // Anything else (INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS, PERMISSION_DENIED,
  // UNAUTHENTICATED): a bug or a mismatched deployment; the client sees INTERNAL.
  kInternal,
};

// `code` must not be OK.
DownstreamFault ClassifyDownstreamError(absl::StatusCode code);

// What the router's client sees for one failed downstream call. `downstream` names the callee
// ("shard 10.0.0.7:50061", "encoder") and prefixes the message. Client faults keep their code;
// retryable failures keep theirs, except CANCELLED (the router never cancels its downstream
// calls, so the callee gave up, e.g. while draining), which becomes UNAVAILABLE; internal
// failures become INTERNAL with the original code named in the message.
absl::Status DownstreamStatus(absl::string_view downstream, const absl::Status& status);

// Collects the failures of one fan-out (one call per shard) and reports them as one status.
class DownstreamFailures {
 public:
  // `status` must not be OK.
  void Add(absl::string_view downstream, const absl::Status& status);

  bool empty() const { return failures_.empty(); }
  int size() const { return static_cast<int>(failures_.size()); }
  // True when some failure is the client's fault (the whole request should fail).
  bool any_client_fault() const;

  // OK when nothing failed. Otherwise the most telling failure decides the code: a client
  // fault before an internal failure before a retryable one, the earliest added within a
  // kind. The message is `summary` followed by every failure ("shard a: ...; shard b: ...").
  absl::Status ToStatus(absl::string_view summary) const;

 private:
  struct Failure {
    DownstreamFault fault;
    absl::Status status;  // already rewritten by DownstreamStatus
  };
  std::vector<Failure> failures_;
};

}  // namespace tartan::router
