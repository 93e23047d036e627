// Issue 12, "Safe to expose", with real processes on 127.0.0.1: client streams never
// acknowledge less than they were sent (a bad message fails the stream, naming the message and
// what was stored), every client-controlled dimension has a limit answered with
// INVALID_ARGUMENT, a hung shard (SIGSTOP) yields a partial reply within the client's deadline,
// and the router splits write batches under the message size limit.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {
namespace {

const std::string kBadUtf8 = std::string("caf\xc3(\xff");

std::string Trailer(const grpc::ClientContext& context, const std::string& key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(key);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

// ---------------------------------------------------------------------------------------------
// One shard on its own, started without --allow_exact_search.

class ShardSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_dir_ = MakeTempDir("shard-safety");
    auto shard = ServiceProcess::Start(
        BinaryPath("tartan-indexer"),
        {"--index_dir=" + work_dir_ + "/shard", absl::StrCat("--dim=", kDim), "--threads=1"},
        work_dir_, 60);
    ASSERT_TRUE(shard.ok()) << shard.status();
    shard_ = std::make_unique<ServiceProcess>(std::move(*shard));
    stub_ = tartan::v1::Indexer::NewStub(
        grpc::CreateChannel(shard_->address(), grpc::InsecureChannelCredentials()));
    for (int attempt = 0; attempt < 100; ++attempt) {
      grpc::ClientContext context;
      SetDeadline(&context, 10);
      tartan::v1::ShardStats stats;
      if (stub_->Stats(&context, {}, &stats).ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the shard never answered Stats";
  }
  void TearDown() override {
    if (shard_) {
      EXPECT_EQ(shard_->Stop().value_or(-1), 0) << shard_->ReadLog();
    }
  }

  tartan::v1::UpsertRequest Batch(const std::string& prefix, int n) {
    tartan::v1::UpsertRequest request;
    for (int i = 0; i < n; ++i) {
      auto* doc = request.add_documents();
      doc->set_id(absl::StrCat(prefix, i));
      *doc->mutable_vectors() = RandomVectors(&rng_, 5, kDim);
    }
    return request;
  }

  grpc::Status Search(const tartan::v1::ShardSearchRequest& request) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::ShardSearchResponse response;
    return stub_->Search(&context, request, &response);
  }

  // Which of `ids` the shard holds.
  std::vector<std::string> Found(const std::vector<std::string>& ids) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::GetRequest request;
    for (const auto& id : ids) request.add_ids(id);
    tartan::v1::GetResponse response;
    EXPECT_TRUE(stub_->Get(&context, request, &response).ok());
    std::vector<std::string> found;
    for (const auto& doc : response.documents()) found.push_back(doc.id());
    return found;
  }

  static constexpr int kDim = 32;
  std::mt19937 rng_{7};
  std::string work_dir_;
  std::unique_ptr<ServiceProcess> shard_;
  std::unique_ptr<tartan::v1::Indexer::Stub> stub_;
};

TEST_F(ShardSafetyTest, UpsertStreamFailsOnTheBadMessageAndStoresWhatItSays) {
  for (const bool unparsable : {true, false}) {
    const std::string tag = unparsable ? "u" : "d";
    tartan::v1::UpsertRequest first = Batch("first-" + tag, 3);
    tartan::v1::UpsertRequest bad = Batch("bad-" + tag, 2);
    if (unparsable) {
      bad.mutable_documents(1)->set_id(kBadUtf8);  // not a valid proto3 string
    } else {
      bad.mutable_documents(1)->set_id(bad.documents(0).id());  // duplicate id
    }
    tartan::v1::UpsertRequest third = Batch("third-" + tag, 3);
    grpc::ClientContext context;
    SetDeadline(&context, 30);
    tartan::v1::UpsertResponse response;
    auto writer = stub_->UpsertStream(&context, &response);
    // The server may fail the stream before the last write; the status says what happened.
    writer->Write(first) && writer->Write(bad) && writer->Write(third);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << tag << ": " << status.error_message();
    EXPECT_EQ(status.error_message().rfind("message 1: ", 0), 0u) << status.error_message();
    EXPECT_NE(status.error_message().find("the 3 documents of messages 0..0"), std::string::npos)
        << status.error_message();
    EXPECT_EQ(Trailer(context, "tartan-stored-documents"), "3");
    std::vector<std::string> all;
    for (const auto* batch : {&first, &bad, &third}) {
      for (const auto& doc : batch->documents()) {
        if (doc.id() != kBadUtf8) all.push_back(doc.id());  // a Get could not carry it
      }
    }
    const std::vector<std::string> expected = {first.documents(0).id(), first.documents(1).id(),
                                               first.documents(2).id()};
    EXPECT_EQ(Found(all), expected) << tag;
  }
}

TEST_F(ShardSafetyTest, ClientControlledDimensionsAreBounded) {
  tartan::v1::UpsertRequest docs = Batch("doc-", 4);
  {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::UpsertResponse response;
    ASSERT_TRUE(stub_->Upsert(&context, docs, &response).ok());
  }
  tartan::v1::ShardSearchRequest base;
  *base.mutable_query() = docs.documents(0).vectors();
  base.set_k(3);
  ASSERT_TRUE(Search(base).ok());

  struct Case {
    std::string name;
    std::function<void(tartan::v1::ShardSearchRequest*)> edit;
    std::string expect;  // in the message
  };
  auto nested = [](int depth) {
    tartan::v1::Filter filter;
    filter.mutable_equals()->set_key("k");
    for (int i = 0; i < depth; ++i) {
      tartan::v1::Filter outer;
      *outer.mutable_and_()->add_clauses() = filter;
      filter = outer;
    }
    return filter;
  };
  const std::vector<Case> cases = {
      {"candidates_approx", [](auto* r) { r->mutable_params()->set_candidates_approx(1u << 30); },
       "params.candidates_approx"},
      {"candidates_exact", [](auto* r) { r->mutable_params()->set_candidates_exact(1u << 30); },
       "params.candidates_exact"},
      {"nprobe", [](auto* r) { r->mutable_params()->set_nprobe(100000); }, "params.nprobe"},
      {"exact without --allow_exact_search", [](auto* r) { r->mutable_params()->set_exact(true); },
       "allow_exact_search"},
      {"+inf threshold",
       [](auto* r) {
         r->mutable_params()->set_centroid_score_threshold(std::numeric_limits<float>::infinity());
       },
       "finite"},
      {"-inf threshold",
       [](auto* r) {
         r->mutable_params()->set_centroid_score_threshold(-std::numeric_limits<float>::infinity());
       },
       "finite"},
      {"k", [](auto* r) { r->set_k(100000); }, "k must be"},
      {"in values",
       [](auto* r) {
         auto* in = r->mutable_filter()->mutable_in();
         in->set_key("k");
         for (int i = 0; i < 5000; ++i) in->add_values("v");
       },
       "filter.in.values"},
      {"and clauses",
       [](auto* r) {
         for (int i = 0; i < 500; ++i) {
           r->mutable_filter()->mutable_and_()->add_clauses()->mutable_equals()->set_key("k");
         }
       },
       "clauses"},
      {"filter depth 20", [&](auto* r) { *r->mutable_filter() = nested(20); }, "nested"},
      {"filter depth 200", [&](auto* r) { *r->mutable_filter() = nested(200); }, "nested"},
      {"id_subset size",
       [](auto* r) {
         for (int i = 0; i < 20000; ++i) r->add_id_subset(absl::StrCat("i", i));
       },
       "id_subset"},
      {"id_subset empty id", [](auto* r) { r->add_id_subset(""); }, "id_subset[0]"},
      {"collection name", [](auto* r) { r->set_collection(std::string(10000, 'c')); },
       "collection"},
  };
  for (const Case& c : cases) {
    tartan::v1::ShardSearchRequest request = base;
    c.edit(&request);
    grpc::Status status = Search(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.expect), std::string::npos)
        << c.name << ": " << status.error_message();
    EXPECT_LT(status.error_message().size(), 400u) << c.name;
  }

  // Get: ids of 0 and 10,000 bytes.
  for (const std::string& id : {std::string(), std::string(10000, 'x')}) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::GetRequest request;
    request.add_ids(id);
    tartan::v1::GetResponse response;
    grpc::Status status = stub_->Get(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id.size();
    EXPECT_LT(status.error_message().size(), 200u);
  }
  // Metadata: too many keys, too many bytes.
  for (const bool many_keys : {true, false}) {
    tartan::v1::UpsertRequest request = Batch("meta-", 1);
    auto& metadata = *request.mutable_documents(0)->mutable_metadata();
    if (many_keys) {
      for (int i = 0; i < 100; ++i) metadata[absl::StrCat("k", i)] = "v";
    } else {
      metadata["k"] = std::string(100000, 'v');
    }
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::UpsertResponse response;
    grpc::Status status = stub_->Upsert(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << many_keys;
    EXPECT_NE(status.error_message().find("metadata"), std::string::npos) << status.error_message();
  }
  ASSERT_TRUE(Search(base).ok());
}

// ---------------------------------------------------------------------------------------------
// A cluster (encoder, 2 shards, router) whose router sends messages of at most 1 MiB.

class ClusterSafetyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_dir_ = new std::string(MakeTempDir("cluster-safety"));
    const std::string model = LexicalTestModel(*work_dir_);
    if (model.empty()) return;
    LocalCluster::Options options;
    options.shards = 2;
    options.router_args = {"--max_message_mb=1", "--encode_batch_texts=4"};
    auto cluster = LocalCluster::Start(model, *work_dir_, options);
    if (!cluster.ok()) {
      start_error_ = new std::string(cluster.status().ToString());
      return;
    }
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ != nullptr) FAIL() << *start_error_;
    if (cluster_ == nullptr) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
  }

  static uint64_t Documents() {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::ClusterStatusResponse response;
    EXPECT_TRUE(cluster_->router().ClusterStatus(&context, {}, &response).ok());
    return response.documents();
  }

  static tartan::v1::AddDocumentsRequest TextBatch(const std::string& prefix, int n) {
    tartan::v1::AddDocumentsRequest request;
    for (int i = 0; i < n; ++i) {
      auto* doc = request.add_documents();
      doc->set_id(absl::StrCat(prefix, i));
      doc->set_text(absl::StrCat("a note about ", prefix, " number ", i));
    }
    return request;
  }

  static inline std::string* work_dir_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline LocalCluster* cluster_ = nullptr;
};

TEST_F(ClusterSafetyTest, AddDocumentsStreamFailsOnInvalidUtf8AndStoresWhatItSays) {
  const uint64_t before = Documents();
  tartan::v1::AddDocumentsRequest bad = TextBatch("stream-bad-", 2);
  bad.mutable_documents(1)->set_text("text with " + kBadUtf8);
  grpc::ClientContext context;
  SetDeadline(&context, 60);
  tartan::v1::AddDocumentsResponse response;
  auto writer = cluster_->router().AddDocumentsStream(&context, &response);
  writer->Write(TextBatch("stream-first-", 5)) && writer->Write(bad) &&
      writer->Write(TextBatch("stream-third-", 5));
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(status.error_message().rfind("message 1: ", 0), 0u) << status.error_message();
  EXPECT_NE(status.error_message().find("stored: 5 documents"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(Trailer(context, "tartan-stored-documents"), "5");
  EXPECT_EQ(Documents(), before + 5);
}

TEST_F(ClusterSafetyTest, EncoderRejectsAnUnknownDtype) {
  tartan::v1::EncodeRequest request;
  request.add_texts("hello");
  request.set_kind(tartan::v1::QUERY);
  request.set_dtype(static_cast<tartan::v1::DType>(99));
  grpc::ClientContext context;
  SetDeadline(&context, 20);
  tartan::v1::EncodeResponse response;
  grpc::Status status = cluster_->encoder().Encode(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("dtype"), std::string::npos) << status.error_message();
}

TEST_F(ClusterSafetyTest, RouterEnforcesTheSameLimitsAsTheShards) {
  tartan::v1::SearchRequest base;
  base.set_text("note");
  base.set_k(3);
  std::vector<std::pair<std::string, tartan::v1::SearchRequest>> cases;
  cases.emplace_back("params.candidates_exact", base);
  cases.back().second.mutable_params()->set_candidates_exact(1u << 30);
  cases.emplace_back("params.candidates_approx", base);
  cases.back().second.mutable_params()->set_candidates_approx(1u << 30);
  cases.emplace_back("id_subset", base);
  for (int i = 0; i < 20000; ++i) cases.back().second.add_id_subset(absl::StrCat("i", i));
  cases.emplace_back("finite", base);
  cases.back().second.mutable_params()->set_centroid_score_threshold(
      std::numeric_limits<float>::infinity());
  cases.emplace_back("collection", base);
  cases.back().second.set_collection(std::string(10000, 'c'));
  for (const auto& [expect, request] : cases) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::SearchResponse response;
    grpc::Status status = cluster_->router().Search(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << expect << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(expect), std::string::npos) << status.error_message();
    EXPECT_LT(status.error_message().size(), 400u) << expect;
  }
  tartan::v1::SearchBatchRequest batch;
  for (int i = 0; i < 300; ++i) *batch.add_requests() = base;
  grpc::ClientContext context;
  SetDeadline(&context, 20);
  tartan::v1::SearchBatchResponse response;
  EXPECT_EQ(cluster_->router().SearchBatch(&context, batch, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClusterSafetyTest, WriteBatchesAreSplitUnderTheMessageLimit) {
  // ~60 tokens x 128 dims x 4 B = ~30 KB per document; 80 documents over 2 shards are ~1.2 MB
  // per shard: over the router's 1 MiB, so each shard's share needs two messages.
  const uint64_t before = Documents();
  tartan::v1::AddDocumentsRequest request;
  for (int i = 0; i < 80; ++i) {
    auto* doc = request.add_documents();
    doc->set_id(absl::StrCat("big-", i));
    std::string text;
    for (int w = 0; w < 60; ++w) absl::StrAppend(&text, "w", (i * 61 + w) % 997, " ");
    doc->set_text(text);
  }
  grpc::ClientContext context;
  SetDeadline(&context, 120);
  tartan::v1::AddDocumentsResponse response;
  grpc::Status status = cluster_->router().AddDocuments(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.added(), 80u);
  EXPECT_GT(response.tokens() * 128 * 4, 2u << 20);  // more than one message's worth
  EXPECT_EQ(Documents(), before + 80);
}

// Last: it stops a shard.
TEST_F(ClusterSafetyTest, ZHungShardGivesAPartialReplyWithinTheDeadline) {
  ASSERT_TRUE(cluster_->shard(1).Signal(SIGSTOP, false).ok());
  for (int attempt = 0; attempt < 2; ++attempt) {
    tartan::v1::SearchRequest request;
    request.set_text("a note about stream");
    request.set_k(3);
    grpc::ClientContext context;
    SetDeadline(&context, 1.0);
    tartan::v1::SearchResponse response;
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = cluster_->router().Search(&context, request, &response);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_TRUE(response.partial());
    ASSERT_EQ(response.failed_shards_size(), 1);
    EXPECT_EQ(response.failed_shards(0), cluster_->shard_address(1));
    EXPECT_LT(seconds, 1.0);
  }
  ASSERT_TRUE(cluster_->shard(1).Signal(SIGCONT, false).ok());
  EXPECT_TRUE(cluster_->WaitUntilComplete().ok());
}

}  // namespace
}  // namespace tartan::testing
