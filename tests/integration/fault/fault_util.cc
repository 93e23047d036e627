#include "tests/integration/fault/fault_util.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tartan::testing {

tartan::v1::NewDocument FaultDocument(const std::string& id, int round, int seq, int tokens,
                                      int dim, std::mt19937* rng) {
  tartan::v1::NewDocument doc;
  doc.set_id(id);
  *doc.mutable_vectors() = RandomVectors(rng, tokens, dim);
  auto& metadata = *doc.mutable_metadata();
  metadata["round"] = absl::StrCat(round);
  metadata["seq"] = absl::StrCat(seq);
  metadata["sum"] = absl::StrCat(std::hash<std::string>()(id) % 1000003);
  return doc;
}

StreamResult StreamDocuments(tartan::v1::Router::Stub& router,
                             const std::vector<tartan::v1::AddDocumentsRequest>& batches,
                             double deadline_s) {
  grpc::ClientContext context;
  SetDeadline(&context, deadline_s);
  tartan::v1::AddDocumentsResponse response;
  auto writer = router.AddDocumentsStream(&context, &response);
  for (const auto& batch : batches) {
    if (!writer->Write(batch)) break;  // the stream already failed; Finish says why
  }
  writer->WritesDone();
  StreamResult result;
  result.status = writer->Finish();
  size_t acknowledged_messages = 0;
  if (result.status.ok()) {
    acknowledged_messages = batches.size();
  } else {
    // "message N: ..." names the first message not (fully) stored.
    const std::string& message = result.status.error_message();
    int n = 0;
    if (message.rfind("message ", 0) == 0 &&
        absl::SimpleAtoi(message.substr(8, message.find(':') - 8), &n) && n >= 0) {
      acknowledged_messages = std::min(batches.size(), size_t(n));
    }
  }
  for (size_t m = 0; m < acknowledged_messages; ++m) {
    for (const auto& doc : batches[m].documents()) result.acknowledged.push_back(doc.id());
  }
  return result;
}

std::string VerifyStored(LocalCluster& cluster,
                         const std::map<std::string, tartan::v1::NewDocument>& expected,
                         const std::vector<std::string>& all_sent) {
  std::string problems;
  auto note = [&](const std::string& problem) {
    if (problems.size() < 4000) problems += problem + "\n";
  };
  const std::set<std::string> sent(all_sent.begin(), all_sent.end());
  std::map<std::string, int> copies;
  for (int s = 0; s < cluster.num_shards(); ++s) {
    auto stub = cluster.ShardStub(s);
    std::vector<std::string> ids(sent.begin(), sent.end());
    for (size_t begin = 0; begin < ids.size(); begin += 1000) {
      tartan::v1::GetRequest request;
      for (size_t i = begin; i < std::min(ids.size(), begin + 1000); ++i) request.add_ids(ids[i]);
      grpc::ClientContext context;
      SetDeadline(&context, 30);
      tartan::v1::GetResponse response;
      const grpc::Status status = stub->Get(&context, request, &response);
      if (!status.ok()) {
        note(absl::StrCat("shard ", s, " Get: ", status.error_message()));
        return problems;
      }
      for (const auto& doc : response.documents()) {
        ++copies[doc.id()];
        auto it = expected.find(doc.id());
        if (it == expected.end()) continue;  // not acknowledged: may or may not be stored
        std::map<std::string, std::string> want(it->second.metadata().begin(),
                                                it->second.metadata().end());
        std::map<std::string, std::string> got(doc.metadata().begin(), doc.metadata().end());
        if (want != got) note(absl::StrCat(doc.id(), ": metadata differs on shard ", s));
      }
    }
  }
  uint64_t stored = 0;
  for (int s = 0; s < cluster.num_shards(); ++s) {
    grpc::ClientContext context;
    SetDeadline(&context, 30);
    tartan::v1::ShardStats stats;
    const grpc::Status status = cluster.ShardStub(s)->Stats(&context, {}, &stats);
    if (!status.ok()) note(absl::StrCat("shard ", s, " Stats: ", status.error_message()));
    stored += stats.documents();
  }
  for (const auto& [id, doc] : expected) {
    const int n = copies.count(id) ? copies[id] : 0;
    if (n != 1) note(absl::StrCat("acknowledged ", id, " stored ", n, " times"));
  }
  for (const auto& [id, n] : copies) {
    if (n > 1) note(absl::StrCat(id, " stored on ", n, " shards"));
  }
  if (stored != copies.size()) {
    note(absl::StrCat("shards count ", stored, " documents, ", copies.size(),
                      " distinct ids found"));
  }
  return problems;
}

std::vector<std::string> TmpFiles(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, error);
       it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (error) break;
    if (it->path().extension() == ".tmp") found.push_back(it->path().string());
  }
  return found;
}

std::vector<std::string> LingeringTmpFiles(const std::string& dir, double seconds) {
  std::vector<std::string> lingering = TmpFiles(dir);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!lingering.empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::vector<std::string> now = TmpFiles(dir);
    std::erase_if(lingering, [&](const std::string& f) {
      return std::find(now.begin(), now.end(), f) == now.end();
    });
  }
  return lingering;
}

}  // namespace tartan::testing
