// The three services end to end, as real processes on 127.0.0.1: encoder + 3 shards + router
// with the lexical test model. Ingest, search, update, delete, shard restart and kill,
// deadlines, bad inputs, and merged top-k vs one shard holding everything.
#include <signal.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {
namespace {

const char* const kWords[] = {"giraffe",    "volcano",   "saxophone", "glacier",   "pancake",
                              "lighthouse", "cactus",    "meteor",    "walrus",    "origami",
                              "trombone",   "canyon",    "avocado",   "satellite", "penguin",
                              "lantern",    "hurricane", "pyramid",   "octopus",   "marathon",
                              "telescope",  "blizzard",  "carnival",  "dolphin",   "harbor",
                              "jungle",     "kangaroo",  "lemonade",  "mosaic",    "nebula"};
constexpr int kDocs = 30;
const char* const kGroups[] = {"red", "green", "blue"};

std::string DocId(int i) { return "doc-" + std::to_string(i); }
std::string DocText(int i) {
  return std::string("A short story about the ") + kWords[i] + " told in " + kGroups[i % 3] + ".";
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_dir_ = new std::string(MakeTempDir("cluster"));
    const std::string model = LexicalTestModel(*work_dir_);
    if (model.empty()) return;
    auto cluster = LocalCluster::Start(model, *work_dir_, {});
    if (!cluster.ok()) {
      start_error_ = new std::string(cluster.status().ToString());
      return;
    }
    cluster_ = cluster->release();
    model_dir_ = new std::string(model);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ != nullptr) FAIL() << *start_error_;
    if (cluster_ == nullptr) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
  }

  static tartan::v1::SearchResponse SearchText(const std::string& text, int k, bool exact,
                                               grpc::Status* status_out = nullptr) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::SearchRequest request;
    request.set_text(text);
    request.set_k(k);
    request.mutable_params()->set_exact(exact);
    tartan::v1::SearchResponse response;
    grpc::Status status = cluster_->router().Search(&context, request, &response);
    if (status_out) {
      *status_out = status;
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return response;
  }

  static grpc::Status AddTexts(const std::vector<std::pair<std::string, std::string>>& docs,
                               const std::map<std::string, std::string>& metadata = {}) {
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    tartan::v1::AddDocumentsRequest request;
    for (const auto& [id, text] : docs) {
      auto* doc = request.add_documents();
      doc->set_id(id);
      doc->set_text(text);
      doc->mutable_metadata()->insert(metadata.begin(), metadata.end());
    }
    tartan::v1::AddDocumentsResponse response;
    grpc::Status status = cluster_->router().AddDocuments(&context, request, &response);
    if (status.ok()) EXPECT_EQ(response.added(), docs.size());
    return status;
  }

  static void ExpectStillServing() {
    auto response = SearchText(kWords[0], 3, true);
    ASSERT_GT(response.hits_size(), 0);
  }

  static inline std::string* work_dir_ = nullptr;
  static inline std::string* model_dir_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline LocalCluster* cluster_ = nullptr;
};

TEST_F(ClusterTest, IngestSearchUpdateDelete) {
  std::vector<std::pair<std::string, std::string>> docs;
  for (int i = 0; i < kDocs; ++i) docs.emplace_back(DocId(i), DocText(i));
  ASSERT_TRUE(AddTexts(docs, {{"set", "main"}}).ok());

  // Documents spread over all three shards.
  std::set<std::string> shards_seen;
  for (int i = 0; i < kDocs; ++i) {
    for (bool exact : {true, false}) {
      auto response = SearchText(std::string("the ") + kWords[i], 5, exact);
      ASSERT_GT(response.hits_size(), 0) << kWords[i];
      EXPECT_EQ(response.hits(0).id(), DocId(i)) << kWords[i] << (exact ? " exact" : " index");
      EXPECT_FALSE(response.partial());
      shards_seen.insert(response.hits(0).shard());
    }
  }
  EXPECT_EQ(shards_seen.size(), 3u);

  // Update: same id, new text. The old word no longer leads to it.
  ASSERT_TRUE(
      AddTexts({{DocId(3), "A short story about the xylophone told in blue."}}, {{"set", "main"}})
          .ok());
  EXPECT_EQ(SearchText("the xylophone", 3, false).hits(0).id(), DocId(3));
  auto old_word = SearchText(std::string("the ") + kWords[3], 3, true);
  for (const auto& hit : old_word.hits()) {
    if (hit.id() == DocId(3))
      EXPECT_LT(hit.score(), SearchText("the xylophone", 1, true).hits(0).score());
  }
  EXPECT_NE(old_word.hits(0).id(), DocId(3));

  // Delete: gone from every search; a second delete finds nothing.
  grpc::ClientContext context;
  SetDeadline(&context, 20);
  tartan::v1::DeleteDocumentsRequest del;
  del.add_ids(DocId(5));
  tartan::v1::DeleteDocumentsResponse deleted;
  ASSERT_TRUE(cluster_->router().DeleteDocuments(&context, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 1u);
  const auto after_delete = SearchText(std::string("the ") + kWords[5], 50, true);
  ASSERT_GT(after_delete.hits_size(), 0);
  for (const auto& hit : after_delete.hits()) EXPECT_NE(hit.id(), DocId(5));
  grpc::ClientContext again_context;
  SetDeadline(&again_context, 20);
  ASSERT_TRUE(cluster_->router().DeleteDocuments(&again_context, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 0u);

  // Metadata filters apply inside the search.
  grpc::ClientContext filter_context;
  SetDeadline(&filter_context, 20);
  tartan::v1::SearchRequest filtered;
  filtered.set_text("story");
  filtered.set_k(100);
  auto* clause = filtered.mutable_filter()->mutable_equals();
  clause->set_key("set");
  clause->set_value("main");
  filtered.set_include_metadata(true);
  tartan::v1::SearchResponse response;
  ASSERT_TRUE(cluster_->router().Search(&filter_context, filtered, &response).ok());
  EXPECT_EQ(response.hits_size(), kDocs - 1);
  for (const auto& hit : response.hits()) EXPECT_EQ(hit.metadata().at("set"), "main");
}

// The merged top-k of the 3 shards equals the top-k of one shard holding every document.
TEST_F(ClusterTest, MergedTopKEqualsSingleShardExact) {
  std::vector<std::pair<std::string, std::string>> docs;
  for (int i = 0; i < kDocs; ++i) {
    docs.emplace_back("m-" + std::to_string(i), std::string(kWords[i]) + " " +
                                                    kWords[(i * 7) % kDocs] + " " + kGroups[i % 3] +
                                                    " merge test");
  }
  ASSERT_TRUE(AddTexts(docs, {{"set", "merge"}}).ok());

  // One more shard, fed the same encoder vectors directly.
  auto single = ServiceProcess::Start(
      BinaryPath("tartan-indexer"),
      {"--index_dir=" + *work_dir_ + "/single", "--dim=128", "--allow_exact_search"}, *work_dir_,
      60);
  ASSERT_TRUE(single.ok()) << single.status();
  auto single_stub = tartan::v1::Indexer::NewStub(
      grpc::CreateChannel(single->address(), grpc::InsecureChannelCredentials()));
  tartan::v1::EncodeRequest encode;
  encode.set_kind(tartan::v1::DOCUMENT);
  for (const auto& [id, text] : docs) encode.add_texts(text);
  tartan::v1::EncodeResponse encoded;
  {
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    ASSERT_TRUE(cluster_->encoder().Encode(&context, encode, &encoded).ok());
  }
  tartan::v1::UpsertRequest upsert;
  for (size_t i = 0; i < docs.size(); ++i) {
    auto* doc = upsert.add_documents();
    doc->set_id(docs[i].first);
    *doc->mutable_vectors() = encoded.results(i).vectors();
  }
  tartan::v1::UpsertResponse upserted;
  {
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    grpc::Status status = grpc::Status::CANCELLED;
    for (int attempt = 0; attempt < 50 && !status.ok(); ++attempt) {  // shard may still recover
      grpc::ClientContext retry_context;
      SetDeadline(&retry_context, 10);
      status = single_stub->Upsert(&retry_context, upsert, &upserted);
      if (!status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  for (const char* query : {"giraffe volcano", "red merge", "penguin nebula dolphin", "test"}) {
    tartan::v1::EncodeRequest encode_query;
    encode_query.set_kind(tartan::v1::QUERY);
    encode_query.add_texts(query);
    tartan::v1::EncodeResponse query_vectors;
    grpc::ClientContext encode_context;
    SetDeadline(&encode_context, 20);
    ASSERT_TRUE(cluster_->encoder().Encode(&encode_context, encode_query, &query_vectors).ok());

    tartan::v1::SearchRequest routed;
    *routed.mutable_vectors() = query_vectors.results(0).vectors();
    routed.set_k(10);
    routed.mutable_params()->set_exact(true);
    routed.mutable_filter()->mutable_equals()->set_key("set");
    routed.mutable_filter()->mutable_equals()->set_value("merge");
    tartan::v1::SearchResponse merged;
    grpc::ClientContext router_context;
    SetDeadline(&router_context, 20);
    ASSERT_TRUE(cluster_->router().Search(&router_context, routed, &merged).ok());

    tartan::v1::ShardSearchRequest direct;
    *direct.mutable_query() = query_vectors.results(0).vectors();
    direct.set_k(10);
    direct.mutable_params()->set_exact(true);
    tartan::v1::ShardSearchResponse one;
    grpc::ClientContext single_context;
    SetDeadline(&single_context, 20);
    ASSERT_TRUE(single_stub->Search(&single_context, direct, &one).ok());

    ASSERT_EQ(merged.hits_size(), one.hits_size()) << query;
    for (int i = 0; i < one.hits_size(); ++i) {
      EXPECT_EQ(merged.hits(i).id(), one.hits(i).id()) << query << " rank " << i;
      // Same vectors, same MaxSim kernel: equal up to float summation order in BLAS.
      EXPECT_NEAR(merged.hits(i).score(), one.hits(i).score(), 1e-5) << query << " rank " << i;
    }
  }
  EXPECT_EQ(single->Stop().value_or(-1), 0);
}

TEST_F(ClusterTest, RestartedShardKeepsItsData) {
  auto stub = cluster_->ShardStub(1);
  tartan::v1::ShardStats before;
  {
    grpc::ClientContext context;
    SetDeadline(&context, 10);
    ASSERT_TRUE(stub->Stats(&context, {}, &before).ok());
  }
  ASSERT_GT(before.documents(), 0u);
  ASSERT_TRUE(cluster_->StopShard(1).ok());  // SIGTERM: drains and exits 0
  ASSERT_TRUE(cluster_->RestartShard(1).ok());
  ASSERT_TRUE(cluster_->WaitUntilComplete().ok());
  tartan::v1::ShardStats after;
  grpc::ClientContext context;
  SetDeadline(&context, 10);
  ASSERT_TRUE(cluster_->ShardStub(1)->Stats(&context, {}, &after).ok());
  EXPECT_EQ(after.documents(), before.documents());
  EXPECT_EQ(after.token_vectors(), before.token_vectors());
  for (int i = 0; i < kDocs; ++i) {
    if (i == 3 || i == 5) continue;  // updated / deleted above
    auto response = SearchText(std::string("the ") + kWords[i], 1, false);
    ASSERT_GT(response.hits_size(), 0);
    EXPECT_EQ(response.hits(0).id(), DocId(i));
  }
}

TEST_F(ClusterTest, KilledShardGivesPartialResultsThenRecovers) {
  tartan::v1::ShardStats before;
  {
    grpc::ClientContext context;
    SetDeadline(&context, 10);
    ASSERT_TRUE(cluster_->ShardStub(2)->Stats(&context, {}, &before).ok());
  }
  cluster_->KillShard(2);  // SIGKILL: no drain, no flush
  auto response = SearchText("story", 10, false);
  EXPECT_TRUE(response.partial());
  EXPECT_THAT(
      std::vector<std::string>(response.failed_shards().begin(), response.failed_shards().end()),
      ::testing::ElementsAre(cluster_->shard_address(2)));
  EXPECT_GT(response.hits_size(), 0);  // the other shards still answer

  ASSERT_TRUE(cluster_->RestartShard(2).ok());
  ASSERT_TRUE(cluster_->WaitUntilComplete().ok());
  tartan::v1::ShardStats after;
  grpc::ClientContext context;
  SetDeadline(&context, 10);
  ASSERT_TRUE(cluster_->ShardStub(2)->Stats(&context, {}, &after).ok());
  EXPECT_EQ(after.documents(), before.documents());  // acknowledged writes survive kill -9
}

TEST_F(ClusterTest, DeadlineExceeded) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds(300));
  tartan::v1::SearchRequest request;
  request.set_text(std::string(2000, 'a') + " giraffe");
  request.set_k(10);
  tartan::v1::SearchResponse response;
  EXPECT_EQ(cluster_->router().Search(&context, request, &response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  ExpectStillServing();
}

struct BadInput {
  const char* name;
  grpc::StatusCode code;
  std::function<grpc::Status(tartan::v1::Router::Stub&, grpc::ClientContext*)> call;
};

tartan::v1::TokenVectors Vectors(int rows, int dim, float fill) {
  std::vector<float> data(static_cast<size_t>(rows) * dim, fill);
  tartan::v1::TokenVectors v;
  v.set_rows(rows);
  v.set_dim(dim);
  v.set_dtype(tartan::v1::FLOAT32);
  v.set_data(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  return v;
}

grpc::Status Search(tartan::v1::Router::Stub& stub, grpc::ClientContext* context,
                    const tartan::v1::SearchRequest& request) {
  tartan::v1::SearchResponse response;
  return stub.Search(context, request, &response);
}

grpc::Status Add(tartan::v1::Router::Stub& stub, grpc::ClientContext* context,
                 const tartan::v1::AddDocumentsRequest& request) {
  tartan::v1::AddDocumentsResponse response;
  return stub.AddDocuments(context, request, &response);
}

TEST_F(ClusterTest, BadInputsGetTheRightCodeAndTheClusterKeepsServing) {
  auto text_search = [](std::string text, uint32_t k, std::string collection = "") {
    tartan::v1::SearchRequest r;
    r.set_text(std::move(text));
    r.set_k(k);
    r.set_collection(std::move(collection));
    return r;
  };
  auto text_doc = [](std::string id, std::string text) {
    tartan::v1::AddDocumentsRequest r;
    auto* d = r.add_documents();
    d->set_id(std::move(id));
    d->set_text(std::move(text));
    return r;
  };
  auto vector_doc = [](tartan::v1::TokenVectors v) {
    tartan::v1::AddDocumentsRequest r;
    auto* d = r.add_documents();
    d->set_id("vec-doc");
    *d->mutable_vectors() = std::move(v);
    return r;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<BadInput> cases = {
      {"empty query text", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Search(s, c, text_search("   ", 10)); }},
      {"empty document text", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, text_doc("empty", "")); }},
      {"huge document text", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, text_doc("huge", std::string(300000, 'x'))); }},
      {"k = 0", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Search(s, c, text_search("giraffe", 0)); }},
      {"k too large", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Search(s, c, text_search("giraffe", 100000)); }},
      {"unknown collection", grpc::StatusCode::NOT_FOUND,
       [&](auto& s, auto* c) { return Search(s, c, text_search("giraffe", 10, "nope")); }},
      {"empty id", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, text_doc("", "text")); }},
      {"id too long", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, text_doc(std::string(300, 'i'), "text")); }},
      {"wrong vector dim", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, vector_doc(Vectors(4, 64, 0.1f))); }},
      {"NaN in vectors", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) { return Add(s, c, vector_doc(Vectors(4, 128, nan))); }},
      {"NaN in query vectors", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) {
         tartan::v1::SearchRequest r;
         *r.mutable_vectors() = Vectors(2, 128, nan);
         r.set_k(5);
         return Search(s, c, r);
       }},
      {"truncated vector bytes", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) {
         auto v = Vectors(2, 128, 0.1f);
         v.mutable_data()->resize(100);
         return Add(s, c, vector_doc(v));
       }},
      {"no query", grpc::StatusCode::INVALID_ARGUMENT,
       [&](auto& s, auto* c) {
         tartan::v1::SearchRequest r;
         r.set_k(5);
         return Search(s, c, r);
       }},
  };
  for (const BadInput& bad : cases) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    grpc::Status status = bad.call(cluster_->router(), &context);
    EXPECT_EQ(status.error_code(), bad.code) << bad.name << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty()) << bad.name;
  }
  ExpectStillServing();
}

TEST_F(ClusterTest, InvalidUtf8IsInvalidArgument) {
  // proto3 strings must be UTF-8. A client that sends raw bytes anyway (C++ only logs an error)
  // gets INVALID_ARGUMENT with a message, not an opaque INTERNAL.
  tartan::v1::SearchRequest request;
  request.set_text(
      std::string("gir\xff\xfe"
                  "affe \xc3("));
  request.set_k(3);
  grpc::ClientContext context;
  SetDeadline(&context, 20);
  tartan::v1::SearchResponse response;
  grpc::Status status = cluster_->router().Search(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("UTF-8"), std::string::npos) << status.error_message();
  ExpectStillServing();
}

TEST_F(ClusterTest, RerankSortsCandidatesByExactMaxSim) {
  tartan::v1::RerankRequest request;
  request.set_text("walrus canyon");
  const std::vector<std::pair<std::string, std::string>> candidates = {
      {"a", "nothing relevant here"}, {"b", "the walrus in the canyon"}, {"c", "a walrus alone"}};
  for (const auto& [id, text] : candidates) {
    auto* c = request.add_candidates();
    c->set_id(id);
    c->set_text(text);
  }
  grpc::ClientContext context;
  SetDeadline(&context, 20);
  tartan::v1::RerankResponse response;
  ASSERT_TRUE(cluster_->router().Rerank(&context, request, &response).ok());
  ASSERT_EQ(response.hits_size(), 3);
  EXPECT_EQ(response.hits(0).id(), "b");
  EXPECT_EQ(response.hits(1).id(), "c");
  EXPECT_EQ(response.hits(2).id(), "a");
  EXPECT_GT(response.hits(0).score(), response.hits(1).score());
}

TEST_F(ClusterTest, ServicesExportMetrics) {
  auto metrics = HttpGet(cluster_->router_process().metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_GT(MetricValue(*metrics, "tartan_router_rpcs_total",
                        {"method=\"/tartan.v1.Router/Search\"", "code=\"OK\""}),
            0);
  EXPECT_NE(metrics->find("tartan_router_fanout_latency_seconds_bucket"), std::string::npos);
  auto shard_metrics = HttpGet(cluster_->shard(0).metrics_port(), "/metrics");
  ASSERT_TRUE(shard_metrics.ok());
  EXPECT_GT(MetricValue(*shard_metrics, "tartan_indexer_documents"), 0);
  for (const char* stage : {"total", "exact_segment", "candidates", "approx", "rerank"}) {
    EXPECT_GT(MetricValue(*shard_metrics, "tartan_indexer_search_latency_seconds_count",
                          {std::string("stage=\"") + stage + "\""}),
              0)
        << stage;
  }
  EXPECT_GT(MetricValue(*shard_metrics, "tartan_indexer_search_exact_scored_total"), 0);
  EXPECT_GT(MetricValue(*shard_metrics, "tartan_indexer_wal_commits_total"), 0);
  EXPECT_GT(MetricValue(*shard_metrics, "tartan_indexer_wal_commit_seconds_total"), 0);
}

}  // namespace
}  // namespace tartan::testing
