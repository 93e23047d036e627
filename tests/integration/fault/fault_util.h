// Helpers of the fault tests: documents with metadata that identifies them, acknowledged
// writes through the router's AddDocumentsStream, and a check, shard by shard, that the
// acknowledged documents are stored exactly once with their metadata.
#pragma once

#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {

// One document: id, metadata {"round", "seq", "sum"}, `tokens` random unit vectors of `dim`.
tartan::v1::NewDocument FaultDocument(const std::string& id, int round, int seq, int tokens,
                                      int dim, std::mt19937* rng);

// Sends `batches` as one AddDocumentsStream. Returns the ids the router acknowledged: every
// id when the stream ends OK; when it fails, the ids of the messages before the one named in
// the error ("message N: ..."), which the router promises are stored.
struct StreamResult {
  grpc::Status status;
  std::vector<std::string> acknowledged;
};
StreamResult StreamDocuments(tartan::v1::Router::Stub& router,
                             const std::vector<tartan::v1::AddDocumentsRequest>& batches,
                             double deadline_s);

// Checks every shard directly: each id of `expected` is stored on exactly one shard with the
// metadata it was written with, and no shard holds more documents than the distinct ids found
// among `all_sent` (a duplicate would show there). Returns "" or a description of the first
// problems found.
std::string VerifyStored(LocalCluster& cluster,
                         const std::map<std::string, tartan::v1::NewDocument>& expected,
                         const std::vector<std::string>& all_sent);

// *.tmp files anywhere under `dir` (litter of interrupted or failed writes).
std::vector<std::string> TmpFiles(const std::string& dir);

// The *.tmp files under `dir` of a shard that is still running: a flush or compaction in
// progress writes one legitimately and renames it when done, so only files present in every
// listing over `seconds` (polled every 100 ms; an empty listing ends the wait) count as litter.
std::vector<std::string> LingeringTmpFiles(const std::string& dir, double seconds);

}  // namespace tartan::testing
