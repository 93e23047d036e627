// Issue 12, a hostile client against real processes (encoder, 2 shards, router on 127.0.0.1):
// requests past every client-controlled limit, sent to the router and straight to a shard,
// plus 5,000 idle client streams held open against each, while a well-behaved search probe
// keeps running. Every hostile request must get INVALID_ARGUMENT or RESOURCE_EXHAUSTED, no
// process may die, each process's RSS must stay under kRssBoundMb, and every probe search
// must succeed (a client retrying a search shed with RESOURCE_EXHAUSTED, as gRPC's retry
// policy does). Bounded to well under a minute.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {
namespace {

namespace v1 = tartan::v1;

constexpr int kDim = 128;
constexpr int kIdleStreams = 5000;
constexpr int kIdleChannels = 50;  // 100 streams per connection (under max_concurrent_streams)
constexpr double kRssBoundMb = 1024;
constexpr int kMaxStreams = 16;      // --max_streams of every service here
constexpr double kIdleTimeoutS = 4;  // --stream_idle_timeout_s

double RssMb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return -1;
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

bool Refused(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
         status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// A well-behaved client's policy: a search shed with RESOURCE_EXHAUSTED (every handler thread
// taken, for a moment, by a burst of streams being refused) is tried again.
constexpr char kRetryShedSearch[] = R"({"methodConfig": [{
  "name": [{"service": "tartan.v1.Indexer", "method": "Search"},
           {"service": "tartan.v1.Router", "method": "Search"}],
  "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.02s", "maxBackoff": "0.2s",
                  "backoffMultiplier": 3, "retryableStatusCodes": ["RESOURCE_EXHAUSTED"]}}]})";

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address, int n,
                                          const char* service_config = nullptr) {
  grpc::ChannelArguments args;
  if (service_config != nullptr) args.SetServiceConfigJSON(service_config);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  args.SetInt("tartan.test.channel", n);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Client streams opened and never written to (the async API: nothing blocks).
class IdleStreams {
 public:
  template <typename Start>
  IdleStreams(const std::string& address, int streams, Start start) {
    for (int c = 0; c < kIdleChannels; ++c) channels_.push_back(OwnChannel(address, 1000 + c));
    for (int i = 0; i < streams; ++i) {
      auto call = std::make_unique<Call>();
      start(channels_[i % kIdleChannels], call.get(), &cq_);
      calls_.push_back(std::move(call));
    }
  }
  ~IdleStreams() {
    for (auto& call : calls_) call->context.TryCancel();
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  // Started calls whose stream has opened (StartCall completed OK) so far.
  int Opened() {
    void* tag;
    bool ok;
    while (cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now()) ==
           grpc::CompletionQueue::GOT_EVENT) {
      opened_ += ok;
    }
    return opened_;
  }

  struct Call {
    grpc::ClientContext context;
    v1::AddDocumentsResponse router_response;
    v1::UpsertResponse shard_response;
    std::unique_ptr<grpc::ClientAsyncWriter<v1::AddDocumentsRequest>> router_writer;
    std::unique_ptr<grpc::ClientAsyncWriter<v1::UpsertRequest>> shard_writer;
  };

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Call>> calls_;
  int opened_ = 0;
};

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_dir_ = MakeTempDir("hostile");
    const std::string model = LexicalTestModel(work_dir_);
    if (model.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
    LocalCluster::Options options;
    options.shards = 2;
    options.allow_exact_search = false;  // exact mode is a hostile request here
    for (auto* args : {&options.indexer_args, &options.router_args}) {
      args->push_back(absl::StrCat("--max_streams=", kMaxStreams));
      args->push_back(absl::StrCat("--stream_idle_timeout_s=", kIdleTimeoutS));
    }
    auto cluster = LocalCluster::Start(model, work_dir_, options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    v1::AddDocumentsRequest add;
    for (int i = 0; i < 200; ++i) {
      auto* doc = add.add_documents();
      doc->set_id(absl::StrCat("doc-", i));
      doc->set_text(absl::StrCat("document ", i, " about ", i % 2 ? "rivers" : "mountains"));
      (*doc->mutable_metadata())["lang"] = i % 3 ? "en" : "fr";
    }
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    v1::AddDocumentsResponse response;
    const grpc::Status status = cluster_->router().AddDocuments(&context, add, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::string work_dir_;
  std::mt19937 rng_{3};
};

// A search probe on its own connection, every 50 ms until stopped: counts failures and the
// slowest answer.
class Probe {
 public:
  explicit Probe(const std::string& router_address)
      : stub_(v1::Router::NewStub(OwnChannel(router_address, 1, kRetryShedSearch))),
        thread_([this] { Run(); }) {}
  ~Probe() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  const std::string& first_error() const { return first_error_; }
  double slowest_s() const { return slowest_s_; }

 private:
  void Run() {
    while (!stop_) {
      v1::SearchRequest request;
      request.set_text("rivers");
      request.set_k(5);
      grpc::ClientContext context;
      SetDeadline(&context, 5);
      v1::SearchResponse response;
      const auto start = std::chrono::steady_clock::now();
      const grpc::Status status = stub_->Search(&context, request, &response);
      slowest_s_ =
          std::max(slowest_s_,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (status.ok() && response.hits_size() > 0 && !response.partial()) {
        ++ok_;
      } else {
        ++failed_;
        if (first_error_.empty()) {
          first_error_ = status.ok() ? "partial or empty reply" : status.error_message();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::unique_ptr<v1::Router::Stub> stub_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::string first_error_;
  double slowest_s_ = 0;
  std::thread thread_;
};

// Checks after a hostile phase: every process alive and under the RSS bound, every probe
// search answered.
void ExpectHealthy(Probe& probe, const pid_t (&pids)[3], const double (&rss_before)[3]) {
  const char* names[] = {"router", "shard0", "shard1"};
  std::this_thread::sleep_for(std::chrono::seconds(1));
  probe.Stop();

  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Alive(pids[i])) << names[i] << " died";
    const double after = RssMb(pids[i]);
    std::printf("%s RSS: %.0f MB before, %.0f MB after (bound %.0f MB)\n", names[i], rss_before[i],
                after, kRssBoundMb);
    EXPECT_LT(after, kRssBoundMb) << names[i];
  }
  std::printf("probe: %d OK, %d failed, slowest %.3f s\n", probe.ok(), probe.failed(),
              probe.slowest_s());
  EXPECT_EQ(probe.failed(), 0) << probe.first_error();
  EXPECT_GT(probe.ok(), 10);
  EXPECT_LT(probe.slowest_s(), 5.0);
}

TEST_F(HostileTest, OversizedRequestsAreRefused) {
  const pid_t pids[] = {cluster_->router_process().pid(), cluster_->shard(0).pid(),
                        cluster_->shard(1).pid()};
  double rss_before[3];
  for (int i = 0; i < 3; ++i) rss_before[i] = RssMb(pids[i]);

  Probe probe(cluster_->router_process().address());
  auto router = v1::Router::NewStub(OwnChannel(cluster_->router_process().address(), 2));
  auto shard = v1::Indexer::NewStub(OwnChannel(cluster_->shard_address(0), 3));
  const auto start = std::chrono::steady_clock::now();

  // --- Oversized requests, to the router.
  auto router_search = [&](const std::function<void(v1::SearchRequest*)>& edit) {
    v1::SearchRequest request;
    request.set_text("rivers");
    request.set_k(10);
    edit(&request);
    return [&router, request] {
      grpc::ClientContext context;
      SetDeadline(&context, 20);
      v1::SearchResponse response;
      return router->Search(&context, request, &response);
    };
  };
  auto deep_filter = [](v1::Filter* filter, int depth) {
    for (int d = 0; d < depth; ++d) filter = filter->mutable_and_()->add_clauses();
    filter->mutable_equals()->set_key("lang");
  };
  std::vector<std::pair<std::string, std::function<grpc::Status()>>> hostile = {
      {"router k=1001", router_search([](auto* r) { r->set_k(1001); })},
      {"router nprobe", router_search([](auto* r) { r->mutable_params()->set_nprobe(1u << 30); })},
      {"router candidates_approx",
       router_search([](auto* r) { r->mutable_params()->set_candidates_approx(1u << 31); })},
      {"router candidates_exact",
       router_search([](auto* r) { r->mutable_params()->set_candidates_exact(1u << 31); })},
      {"router NaN threshold", router_search([](auto* r) {
         r->mutable_params()->set_centroid_score_threshold(std::numeric_limits<float>::quiet_NaN());
       })},
      {"router exact", router_search([](auto* r) { r->mutable_params()->set_exact(true); })},
      {"router filter depth",
       router_search([&](auto* r) { deep_filter(r->mutable_filter(), 40); })},
      {"router filter breadth", router_search([](auto* r) {
         for (int i = 0; i < 5000; ++i) {
           r->mutable_filter()->mutable_or_()->add_clauses()->mutable_equals()->set_key("k");
         }
       })},
      {"router In values", router_search([](auto* r) {
         auto* in = r->mutable_filter()->mutable_in();
         in->set_key("lang");
         for (int i = 0; i < 200000; ++i) in->add_values(absl::StrCat(i));
       })},
      {"router id_subset", router_search([](auto* r) {
         for (int i = 0; i < 100000; ++i) r->add_id_subset(absl::StrCat("doc-", i));
       })},
      {"router query text", router_search([](auto* r) { r->set_text(std::string(4 << 20, 'a')); })},
      {"router collection",
       router_search([](auto* r) { r->set_collection(std::string(10000, 'c')); })},
      {"router SearchBatch",
       [&] {
         v1::SearchBatchRequest batch;
         for (int i = 0; i < 5000; ++i) {
           auto* r = batch.add_requests();
           r->set_text("rivers");
           r->set_k(10);
         }
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::SearchBatchResponse response;
         return router->SearchBatch(&context, batch, &response);
       }},
      {"router metadata bytes",
       [&] {
         v1::AddDocumentsRequest add;
         auto* doc = add.add_documents();
         doc->set_id("big-metadata");
         doc->set_text("text");
         (*doc->mutable_metadata())["blob"] = std::string(8 << 20, 'm');
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::AddDocumentsResponse response;
         return router->AddDocuments(&context, add, &response);
       }},
      {"router metadata keys",
       [&] {
         v1::AddDocumentsRequest add;
         auto* doc = add.add_documents();
         doc->set_id("many-keys");
         doc->set_text("text");
         for (int i = 0; i < 100000; ++i) (*doc->mutable_metadata())[absl::StrCat("k", i)] = "v";
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::AddDocumentsResponse response;
         return router->AddDocuments(&context, add, &response);
       }},
      {"router documents per request",
       [&] {
         v1::AddDocumentsRequest add;
         for (int i = 0; i < 20000; ++i) {
           auto* doc = add.add_documents();
           doc->set_id(absl::StrCat("many-", i));
           doc->set_text("t");
         }
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::AddDocumentsResponse response;
         return router->AddDocuments(&context, add, &response);
       }},
      {"router delete ids",
       [&] {
         v1::DeleteDocumentsRequest del;
         for (int i = 0; i < 100000; ++i) del.add_ids(absl::StrCat("doc-", i));
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::DeleteDocumentsResponse response;
         return router->DeleteDocuments(&context, del, &response);
       }},
      {"router rerank candidates",
       [&] {
         v1::RerankRequest rerank;
         rerank.set_text("rivers");
         for (int i = 0; i < 20000; ++i) {
           auto* c = rerank.add_candidates();
           c->set_id(absl::StrCat("c", i));
           c->set_text("candidate");
         }
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::RerankResponse response;
         return router->Rerank(&context, rerank, &response);
       }},
      {"router query vectors",
       router_search([&](auto* r) { *r->mutable_vectors() = RandomVectors(&rng_, 20000, kDim); })},
  };

  // --- Oversized requests, straight to a shard.
  auto shard_search = [&](const std::function<void(v1::ShardSearchRequest*)>& edit) {
    v1::ShardSearchRequest request;
    *request.mutable_query() = RandomVectors(&rng_, 4, kDim);
    request.set_k(10);
    edit(&request);
    return [&shard, request] {
      grpc::ClientContext context;
      SetDeadline(&context, 20);
      v1::ShardSearchResponse response;
      return shard->Search(&context, request, &response);
    };
  };
  const std::vector<std::pair<std::string, std::function<grpc::Status()>>> shard_hostile = {
      {"shard k", shard_search([](auto* r) { r->set_k(1u << 31); })},
      {"shard nprobe", shard_search([](auto* r) { r->mutable_params()->set_nprobe(1u << 30); })},
      {"shard candidates_approx",
       shard_search([](auto* r) { r->mutable_params()->set_candidates_approx(1u << 31); })},
      {"shard candidates_exact",
       shard_search([](auto* r) { r->mutable_params()->set_candidates_exact(1u << 31); })},
      {"shard exact", shard_search([](auto* r) { r->mutable_params()->set_exact(true); })},
      {"shard -Inf threshold", shard_search([](auto* r) {
         r->mutable_params()->set_centroid_score_threshold(-std::numeric_limits<float>::infinity());
       })},
      {"shard filter depth", shard_search([&](auto* r) { deep_filter(r->mutable_filter(), 40); })},
      {"shard In values", shard_search([](auto* r) {
         auto* in = r->mutable_filter()->mutable_in();
         in->set_key("lang");
         for (int i = 0; i < 200000; ++i) in->add_values(absl::StrCat(i));
       })},
      {"shard id_subset", shard_search([](auto* r) {
         for (int i = 0; i < 100000; ++i) r->add_id_subset(absl::StrCat("doc-", i));
       })},
      {"shard query tokens",
       shard_search([&](auto* r) { *r->mutable_query() = RandomVectors(&rng_, 20000, kDim); })},
      {"shard upsert documents",
       [&] {
         v1::UpsertRequest upsert;
         for (int i = 0; i < 5000; ++i) {
           auto* doc = upsert.add_documents();
           doc->set_id(absl::StrCat("u", i));
           *doc->mutable_vectors() = RandomVectors(&rng_, 1, kDim);
         }
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::UpsertResponse response;
         return shard->Upsert(&context, upsert, &response);
       }},
      {"shard upsert tokens",
       [&] {
         v1::UpsertRequest upsert;
         auto* doc = upsert.add_documents();
         doc->set_id("long");
         *doc->mutable_vectors() = RandomVectors(&rng_, 40000, kDim);
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::UpsertResponse response;
         return shard->Upsert(&context, upsert, &response);
       }},
      {"shard get ids",
       [&] {
         v1::GetRequest get;
         for (int i = 0; i < 100000; ++i) get.add_ids(absl::StrCat("doc-", i));
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::GetResponse response;
         return shard->Get(&context, get, &response);
       }},
      {"shard long id",
       [&] {
         v1::GetRequest get;
         get.add_ids(std::string(10000, 'x'));
         grpc::ClientContext context;
         SetDeadline(&context, 20);
         v1::GetResponse response;
         return shard->Get(&context, get, &response);
       }},
  };
  hostile.insert(hostile.end(), shard_hostile.begin(), shard_hostile.end());
  for (const auto& [what, call] : hostile) {
    const grpc::Status status = call();
    EXPECT_TRUE(Refused(status)) << what << ": code " << status.error_code() << ": "
                                 << status.error_message().substr(0, 300);
  }
  const double hostile_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("hostile requests: %zu in %.1f s\n", hostile.size(), hostile_s);
  ExpectHealthy(probe, pids, rss_before);
}

// A client stream with one small message, written and closed at once (a legitimate writer).
grpc::Status OneMessageRouterStream(const std::string& address, int n) {
  grpc::ClientContext context;
  SetDeadline(&context, 10);
  v1::AddDocumentsResponse response;
  auto writer =
      v1::Router::NewStub(OwnChannel(address, n))->AddDocumentsStream(&context, &response);
  v1::AddDocumentsRequest request;
  auto* doc = request.add_documents();
  doc->set_id(absl::StrCat("streamed-", n));
  doc->set_text("a document about rivers, streamed");
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status OneMessageShardStream(const std::string& address, int n, std::mt19937* rng) {
  grpc::ClientContext context;
  SetDeadline(&context, 10);
  v1::UpsertResponse response;
  auto writer = v1::Indexer::NewStub(OwnChannel(address, n))->UpsertStream(&context, &response);
  v1::UpsertRequest request;
  auto* doc = request.add_documents();
  doc->set_id(absl::StrCat("streamed-", n));
  *doc->mutable_vectors() = RandomVectors(rng, 3, kDim);
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

// Retries `call` every 200 ms until it returns `code` or `seconds` pass; the last status.
grpc::Status Until(grpc::StatusCode code, double seconds,
                   const std::function<grpc::Status()>& call) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  grpc::Status status = call();
  while (status.error_code() != code && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = call();
  }
  return status;
}

// Idle streams hold a handler thread each on the synchronous servers; they must not starve
// the searches beside them. Each service admits --max_streams (kMaxStreams) streams and
// refuses the rest at once; the admitted idle ones are cancelled after
// --stream_idle_timeout_s (kIdleTimeoutS), so a real writer gets in again.
TEST_F(HostileTest, IdleStreamsDoNotStarveSearches) {
  const pid_t pids[] = {cluster_->router_process().pid(), cluster_->shard(0).pid(),
                        cluster_->shard(1).pid()};
  const char* names[] = {"router", "shard0", "shard1"};
  double rss_before[3];
  for (int i = 0; i < 3; ++i) rss_before[i] = RssMb(pids[i]);

  Probe probe(cluster_->router_process().address());
  const std::string router = cluster_->router_process().address();
  const std::string shard = cluster_->shard_address(0);

  // --- 5,000 idle streams against the router and against the shard.
  {
    const auto opened_at = std::chrono::steady_clock::now();
    IdleStreams router_streams(router, kIdleStreams,
                               [](const std::shared_ptr<grpc::Channel>& channel,
                                  IdleStreams::Call* call, grpc::CompletionQueue* cq) {
                                 call->router_writer =
                                     v1::Router::NewStub(channel)->PrepareAsyncAddDocumentsStream(
                                         &call->context, &call->router_response, cq);
                                 call->router_writer->StartCall(call);
                               });
    IdleStreams shard_streams(shard, kIdleStreams,
                              [](const std::shared_ptr<grpc::Channel>& channel,
                                 IdleStreams::Call* call, grpc::CompletionQueue* cq) {
                                call->shard_writer =
                                    v1::Indexer::NewStub(channel)->PrepareAsyncUpsertStream(
                                        &call->context, &call->shard_response, cq);
                                call->shard_writer->StartCall(call);
                              });
    // While the idle streams hold every slot, one more is refused at once, naming the limit.
    const grpc::Status refused_router = Until(grpc::StatusCode::RESOURCE_EXHAUSTED, 2,
                                              [&] { return OneMessageRouterStream(router, 2); });
    const grpc::Status refused_shard = Until(grpc::StatusCode::RESOURCE_EXHAUSTED, 2, [&] {
      return OneMessageShardStream(shard, 3, &rng_);
    });
    const double refused_after_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_at).count();
    if (refused_after_s < kIdleTimeoutS) {  // else the machine was too slow to tell
      EXPECT_EQ(refused_router.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << refused_router.error_message();
      EXPECT_NE(refused_router.error_message().find("--max_streams"), std::string::npos);
      EXPECT_EQ(refused_shard.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << refused_shard.error_message();
    }
    // A direct search on the shard under the same pressure.
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    v1::ShardSearchRequest request;
    *request.mutable_query() = RandomVectors(&rng_, 4, kDim);
    request.set_k(5);
    v1::ShardSearchResponse response;
    // Retried when shed, as the router does for its shard calls (kRetryShedSearch).
    const grpc::Status status = v1::Indexer::NewStub(OwnChannel(shard, 4, kRetryShedSearch))
                                    ->Search(&context, request, &response);
    EXPECT_TRUE(status.ok()) << "shard search beside idle streams: " << status.error_message();
    for (int i = 0; i < 3; ++i) {
      std::printf("%s RSS with idle streams: %.0f MB\n", names[i], RssMb(pids[i]));
      EXPECT_LT(RssMb(pids[i]), kRssBoundMb) << names[i];
    }
    // Past the idle timeout the admitted idle streams are cancelled: real writers get in.
    std::this_thread::sleep_until(opened_at + std::chrono::duration<double>(kIdleTimeoutS));
    const grpc::Status admitted_router =
        Until(grpc::StatusCode::OK, 5, [&] { return OneMessageRouterStream(router, 5); });
    EXPECT_TRUE(admitted_router.ok()) << admitted_router.error_message();
    const grpc::Status admitted_shard =
        Until(grpc::StatusCode::OK, 5, [&] { return OneMessageShardStream(shard, 6, &rng_); });
    EXPECT_TRUE(admitted_shard.ok()) << admitted_shard.error_message();
    std::printf("idle streams opened: router %d, shard %d; refused after %.1f s\n",
                router_streams.Opened(), shard_streams.Opened(), refused_after_s);
  }
  ExpectHealthy(probe, pids, rss_before);
}

}  // namespace
}  // namespace tartan::testing
