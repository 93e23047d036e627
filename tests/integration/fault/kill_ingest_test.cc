// Issue 12, fault injection with real processes: an indexer shard is killed (SIGKILL) at
// random moments while documents stream in through the router, some rounds while the shard
// runs a background flush (small flush threshold; compactions follow), then restarted on
// the same port and data folder. After every round each acknowledged document must be stored
// exactly once, on one shard, with its metadata, and no *.tmp file may be left behind (a
// flush still running when the round ends writes one legitimately; only one that lingers counts).
// Rounds: $TARTAN_FAULT_ROUNDS (the `integration` registration runs a few, the `slow` one 50).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/fault/fault_util.h"

namespace tartan::testing {
namespace {

constexpr int kTokens = 4;
constexpr int kDocsPerMessage = 10;
constexpr int kMessagesPerStream = 3;

int Rounds() {
  const char* env = std::getenv("TARTAN_FAULT_ROUNDS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 3;
}

bool FlushRunning(LocalCluster& cluster, int shard) {
  grpc::ClientContext context;
  SetDeadline(&context, 2);
  tartan::v1::ShardStats stats;
  return cluster.ShardStub(shard)->Stats(&context, {}, &stats).ok() && stats.flush_running();
}

TEST(KillIngestTest, AcknowledgedDocumentsSurviveKillsDuringStreamingIngest) {
  const std::string work_dir = MakeTempDir("fault-kill");
  const std::string model = LexicalTestModel(work_dir);
  if (model.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
  LocalCluster::Options options;
  options.shards = 2;
  options.allow_exact_search = false;
  // Flushes every ~128 documents per shard, so kills land before, during and after flushes
  // and the compactions they trigger.
  options.indexer_args = {"--flush_threshold_tokens=512"};
  auto cluster_or = LocalCluster::Start(model, work_dir, options);
  ASSERT_TRUE(cluster_or.ok()) << cluster_or.status();
  LocalCluster& cluster = **cluster_or;

  std::mutex mu;
  std::map<std::string, tartan::v1::NewDocument> acknowledged;  // guarded by mu
  std::vector<std::string> sent;                                // guarded by mu
  int streams_ok = 0, streams_failed = 0, flush_kills = 0;
  std::mt19937 rng(20261202);
  const int rounds = Rounds();
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    std::atomic<bool> stop{false};
    std::thread writer([&, round] {
      std::mt19937 doc_rng(round);
      for (int seq = 0; !stop.load(); ++seq) {
        std::vector<tartan::v1::AddDocumentsRequest> batches(kMessagesPerStream);
        std::map<std::string, tartan::v1::NewDocument> docs;
        for (int m = 0; m < kMessagesPerStream; ++m) {
          for (int d = 0; d < kDocsPerMessage; ++d) {
            const int n = (seq * kMessagesPerStream + m) * kDocsPerMessage + d;
            auto doc =
                FaultDocument(absl::StrCat("r", round, "-", n), round, n, kTokens, 128, &doc_rng);
            docs[doc.id()] = doc;
            *batches[m].add_documents() = std::move(doc);
          }
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& [id, doc] : docs) sent.push_back(id);
        }
        const StreamResult result = StreamDocuments(cluster.router(), batches, 20);
        {
          std::lock_guard<std::mutex> lock(mu);
          (result.status.ok() ? streams_ok : streams_failed)++;
          for (const std::string& id : result.acknowledged) acknowledged[id] = docs[id];
        }
        if (!result.status.ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a client's backoff
        }
      }
    });
    const int victim = int(rng() % 2);
    bool killed_in_flush = false;
    if (round % 3 == 2) {
      // Aim at a running background flush: poll the victim's Stats for up to 3 s.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (std::chrono::steady_clock::now() < until && !killed_in_flush) {
        killed_in_flush = FlushRunning(cluster, victim);
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 700));
    }
    cluster.KillShard(victim);
    flush_kills += killed_in_flush;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    ASSERT_TRUE(cluster.RestartShard(victim).ok());
    ASSERT_TRUE(cluster.WaitUntilComplete(60).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // writes after the restart
    stop = true;
    writer.join();
    if (round + 1 == rounds || round % 10 == 9 || rounds <= 10) {
      std::lock_guard<std::mutex> lock(mu);
      const std::string problems = VerifyStored(cluster, acknowledged, sent);
      ASSERT_EQ(problems, "") << cluster.shard(victim).ReadLog();
      for (int s = 0; s < cluster.num_shards(); ++s) {
        EXPECT_EQ(LingeringTmpFiles(absl::StrCat(work_dir, "/shard", s), 10),
                  std::vector<std::string>());
      }
    }
  }
  std::printf(
      "%d rounds: %zu documents acknowledged of %zu sent, %d streams OK, %d failed, "
      "%d kills during a flush\n",
      rounds, acknowledged.size(), sent.size(), streams_ok, streams_failed, flush_kills);
  EXPECT_GT(acknowledged.size(), 0u);
  EXPECT_GT(streams_failed, 0) << "no kill ever interrupted a stream";
}

}  // namespace
}  // namespace tartan::testing
