// What the service binaries say about themselves, as real processes: --help lists each
// binary's own flags and exits 0; a shard started on --grpc_port=0 names itself by the port it
// bound; Stats shows unflushed writes, the last LSN and whether a flush runs; hit metadata
// comes back; a set centroid_score_threshold is validated and used (0 included).
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

TEST(ServiceHelpTest, EveryBinaryListsItsOwnFlagsAndExitsZero) {
  const std::pair<const char*, std::vector<const char*>> binaries[] = {
      {"tartan-encoder", {"--model", "--max_queue_texts", "--grpc_port", "--metrics_port"}},
      {"tartan-indexer", {"--index_dir", "--threads", "--nbits", "--grpc_port", "--log_level"}},
      {"tartan-router", {"--shards", "--encoder", "--default_timeout_s", "--port_file"}},
  };
  for (const auto& [binary, flags] : binaries) {
    for (const char* help : {"--help", "--helpshort"}) {
      const CommandResult result = RunCommand(BinaryPath(binary) + " " + help);
      EXPECT_EQ(result.exit_code, 0) << binary << " " << help << "\n" << result.output;
      EXPECT_EQ(result.output.find("No flags matched"), std::string::npos)
          << binary << " " << help << "\n"
          << result.output;
      for (const char* flag : flags) {
        EXPECT_NE(result.output.find(flag), std::string::npos)
            << binary << " " << help << " does not list " << flag << "\n"
            << result.output;
      }
      // Library flags stay in --helpfull.
      EXPECT_EQ(result.output.find("--flagfile"), std::string::npos) << binary << " " << help;
    }
  }
}

class ShardEdgesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_dir_ = MakeTempDir("shard-edges");
    // No --shard_name: the shard names itself; --grpc_port=0 (ServiceProcess) picks a port.
    auto shard = ServiceProcess::Start(
        BinaryPath("tartan-indexer"),
        {"--index_dir=" + work_dir_ + "/shard", absl::StrCat("--dim=", kDim), "--threads=1"},
        work_dir_, 60);
    ASSERT_TRUE(shard.ok()) << shard.status();
    shard_ = std::make_unique<ServiceProcess>(std::move(*shard));
    stub_ = tartan::v1::Indexer::NewStub(
        grpc::CreateChannel(shard_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (shard_) EXPECT_EQ(shard_->Stop().value_or(-1), 0) << shard_->ReadLog();
  }

  // Stats, retried while the shard is still recovering (UNAVAILABLE).
  tartan::v1::ShardStats Stats() {
    tartan::v1::ShardStats stats;
    for (int attempt = 0; attempt < 100; ++attempt) {
      grpc::ClientContext context;
      SetDeadline(&context, 10);
      grpc::Status status = stub_->Stats(&context, {}, &stats);
      if (status.ok()) return stats;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "Stats never answered";
    return stats;
  }

  grpc::Status Search(const tartan::v1::ShardSearchRequest& request,
                      tartan::v1::ShardSearchResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    return stub_->Search(&context, request, response);
  }

  static constexpr int kDim = 32;
  std::string work_dir_;
  std::unique_ptr<ServiceProcess> shard_;
  std::unique_ptr<tartan::v1::Indexer::Stub> stub_;
};

// A shard started without OPENBLAS_CORETYPE ends up on OpenBLAS kernels that match this CPU:
// where OpenBLAS 0.3.21 misdetects it (Prescott on newer Xeons, AVX2 kernels on AVX-512), the
// shard re-executes itself with the right OPENBLAS_CORETYPE before serving (--fix_blas_core).
TEST(ServiceBlasTest, AShardServesOnOpenBlasKernelsThatMatchTheCpu) {
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before != nullptr ? before : "";
  unsetenv("OPENBLAS_CORETYPE");  // the child inherits the environment
  const std::string dir = MakeTempDir("blas_core");
  auto shard = ServiceProcess::Start(BinaryPath("tartan-indexer"),
                                     {"--index_dir=" + dir + "/shard", "--dim=32"}, dir);
  if (before != nullptr) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  ASSERT_TRUE(shard.ok()) << shard.status();
  const std::string log = shard->ReadLog();
  EXPECT_NE(log.find("OpenBLAS kernels: "), std::string::npos) << log;
  EXPECT_EQ(log.find("below this CPU; re-executing"), log.rfind("below this CPU; re-executing"))
      << "re-executed more than once: " << log;
  EXPECT_EQ(log.find("kernels on a CPU with"), std::string::npos) << "still slow: " << log;
  ASSERT_TRUE(shard->Stop().ok());
}

// The encoder's OpenMP threads sleep instead of spinning unless the environment chose
// (--omp_wait_policy): the served process has OMP_WAIT_POLICY=passive; an explicit
// GOMP_SPINCOUNT is left alone.
TEST(ServiceOmpTest, TheEncoderRunsWithPassiveOpenMpThreadsUnlessTheEnvironmentChose) {
  const std::string dir = MakeTempDir("omp_policy");
  const std::string model = LexicalTestModel(dir);
  if (model.empty()) GTEST_SKIP() << "needs the shared tokenizer (TARTAN_SHARED_DIR)";
  // The process's environment as "\nNAME=value\n...\n".
  auto environ_of = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string env = "\n" + std::string(std::istreambuf_iterator<char>(in), {}) + "\n";
    std::replace(env.begin(), env.end(), '\0', '\n');
    return env;
  };
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
  for (const bool spin_set : {false, true}) {
    if (spin_set) setenv("GOMP_SPINCOUNT", "10000", 1);
    auto encoder = ServiceProcess::Start(BinaryPath("tartan-encoder"),
                                         {"--model=" + model, "--threads=2"}, dir, 120);
    unsetenv("GOMP_SPINCOUNT");
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    const std::string env = environ_of(encoder->pid());
    EXPECT_EQ(env.find("\nOMP_WAIT_POLICY=passive\n") != std::string::npos, !spin_set) << env;
    ASSERT_TRUE(encoder->Stop().ok());
  }
}

// Shards started with --codec_source share the codec the source trains: a shard that trained
// its own first adopts the source's (GetCodec), re-encodes its segments, keeps it across a
// restart, and then scores a document exactly as the source does. The source, given its own
// address like every shard of a StatefulSet, finds out that it is the source.
TEST(ShardCodecSourceTest, ShardsFollowingTheSourceAdoptItsCodecAndScoreAlike) {
  constexpr int kDim = 32;
  const std::string dir = MakeTempDir("codec_source");
  auto start = [&](const std::string& name, const std::string& source, int port) {
    std::vector<std::string> args = {"--index_dir=" + dir + "/" + name,
                                     absl::StrCat("--dim=", kDim), "--threads=1",
                                     "--codec_poll_s=0.2"};
    if (!source.empty()) args.push_back("--codec_source=" + source);
    if (name == "b") args.push_back("--nbits=2");  // the source's codec brings its own 4
    return ServiceProcess::Start(BinaryPath("tartan-indexer"), args, dir, 60, port);
  };
  // The source learns its port first, then restarts on it naming itself.
  auto first = start("a", "", 0);
  ASSERT_TRUE(first.ok()) << first.status();
  const int port = first->grpc_port();
  ASSERT_EQ(first->Stop().value_or(-1), 0);
  auto a = start("a", absl::StrCat("127.0.0.1:", port), port);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = start("b", a->address(), 0);
  ASSERT_TRUE(b.ok()) << b.status();
  auto stub = [](const ServiceProcess& p) {
    return tartan::v1::Indexer::NewStub(
        grpc::CreateChannel(p.address(), grpc::InsecureChannelCredentials()));
  };
  auto stub_a = stub(*a), stub_b = stub(*b);
  auto stats = [](tartan::v1::Indexer::Stub& s) {
    tartan::v1::ShardStats st;
    for (int attempt = 0; attempt < 100; ++attempt) {
      grpc::ClientContext context;
      SetDeadline(&context, 10);
      if (s.Stats(&context, {}, &st).ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return st;
  };
  auto write_and_flush = [](tartan::v1::Indexer::Stub& s, const tartan::v1::UpsertRequest& r) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::UpsertResponse upserted;
    grpc::Status status = s.Upsert(&context, r, &upserted);
    if (!status.ok()) return status;
    grpc::ClientContext flush_context;
    SetDeadline(&flush_context, 60);
    tartan::v1::FlushResponse flushed;
    return s.Flush(&flush_context, {}, &flushed);
  };
  std::mt19937 rng(21);
  auto docs = [&](const std::string& prefix, int n) {
    tartan::v1::UpsertRequest r;
    for (int i = 0; i < n; ++i) {
      auto* doc = r.add_documents();
      doc->set_id(prefix + std::to_string(i));
      *doc->mutable_vectors() = RandomVectors(&rng, 5 + i % 7, kDim);
    }
    return r;
  };
  // b flushes before the source has a codec: it trains its own.
  stats(*stub_b);
  grpc::Status status = write_and_flush(*stub_b, docs("b-", 80));
  ASSERT_TRUE(status.ok()) << status.error_message();
  const uint64_t own = stats(*stub_b).codec_id();
  EXPECT_NE(own, 0u);
  const tartan::v1::UpsertRequest common = docs("common-", 40);
  status = write_and_flush(*stub_a, docs("a-", 150));
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = write_and_flush(*stub_a, common);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const uint64_t shared = stats(*stub_a).codec_id();
  ASSERT_NE(shared, 0u);
  ASSERT_NE(shared, own);

  // b adopts the source's codec and re-encodes its segment with it.
  tartan::v1::ShardStats b_stats;
  for (int i = 0; i < 150 && b_stats.codec_id() != shared; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    b_stats = stats(*stub_b);
  }
  ASSERT_EQ(b_stats.codec_id(), shared) << b->ReadLog();
  EXPECT_EQ(b_stats.documents(), 80u);
  EXPECT_EQ(b_stats.nbits(), 4u);
  EXPECT_NE(b->ReadLog().find("adopted codec"), std::string::npos) << b->ReadLog();
  EXPECT_NE(a->ReadLog().find("is this shard"), std::string::npos) << a->ReadLog();
  EXPECT_EQ(stats(*stub_a).codec_id(), shared);  // the source kept its own

  // A restart keeps the adopted codec (before any poll), and what b flushes next uses it.
  const int b_port = b->grpc_port();
  ASSERT_EQ(b->Stop().value_or(-1), 0);
  b = start("b", a->address(), b_port);
  ASSERT_TRUE(b.ok()) << b.status();
  stub_b = stub(*b);
  EXPECT_EQ(stats(*stub_b).codec_id(), shared);
  status = write_and_flush(*stub_b, common);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // Same codec, same vectors: both shards give the common documents the same scores.
  tartan::v1::ShardSearchRequest request;
  *request.mutable_query() = RandomVectors(&rng, 8, kDim);
  request.set_k(10);
  for (int i = 0; i < 40; ++i) request.add_id_subset("common-" + std::to_string(i));
  std::map<std::string, float> scores_a;
  for (auto* s : {stub_a.get(), stub_b.get()}) {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::ShardSearchResponse response;
    status = s->Search(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.hits_size(), 10);
    int compared = 0;
    for (const auto& hit : response.hits()) {
      if (s == stub_a.get()) {
        scores_a[hit.id()] = hit.score();
      } else if (scores_a.count(hit.id())) {
        EXPECT_NEAR(hit.score(), scores_a[hit.id()], 1e-5) << hit.id();
        ++compared;
      }
    }
    if (s == stub_b.get()) EXPECT_GE(compared, 8);
  }
  EXPECT_EQ(b->Stop().value_or(-1), 0);
  EXPECT_EQ(a->Stop().value_or(-1), 0);
}

TEST_F(ShardEdgesTest, NamesBoundPortShowsUnflushedWritesAndReturnsMetadata) {
  const tartan::v1::ShardStats empty = Stats();
  EXPECT_EQ(empty.unflushed_documents(), 0u);
  EXPECT_FALSE(empty.flush_running());

  std::mt19937 rng(11);
  tartan::v1::UpsertRequest upsert;
  uint64_t tokens = 0;
  for (int i = 0; i < 3; ++i) {
    auto* doc = upsert.add_documents();
    doc->set_id("doc-" + std::to_string(i));
    *doc->mutable_vectors() = RandomVectors(&rng, 4 + i, kDim);
    (*doc->mutable_metadata())["n"] = std::to_string(i);
    tokens += 4 + i;
  }
  {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::UpsertResponse response;
    grpc::Status status = stub_->Upsert(&context, upsert, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const tartan::v1::ShardStats written = Stats();
  EXPECT_EQ(written.documents(), 3u);
  EXPECT_EQ(written.unflushed_documents(), 3u);
  EXPECT_EQ(written.unflushed_tokens(), tokens);
  EXPECT_GT(written.last_lsn(), empty.last_lsn());

  // The hit names the shard by the port it bound, not the configured 0.
  tartan::v1::ShardSearchRequest request;
  *request.mutable_query() = upsert.documents(1).vectors();
  request.set_k(3);
  request.set_include_metadata(true);
  tartan::v1::ShardSearchResponse response;
  grpc::Status status = Search(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.hits_size(), 3);
  EXPECT_EQ(response.hits(0).id(), "doc-1");
  for (const auto& hit : response.hits()) {
    EXPECT_EQ(hit.shard(), shard_->address());
    EXPECT_EQ(hit.metadata().at("n"), hit.id().substr(4));
  }

  {
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    tartan::v1::FlushResponse flushed;
    status = stub_->Flush(&context, {}, &flushed);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const tartan::v1::ShardStats after = Stats();
  EXPECT_EQ(after.documents(), 3u);
  EXPECT_EQ(after.unflushed_documents(), 0u);
  EXPECT_EQ(after.unflushed_tokens(), 0u);
  EXPECT_GE(after.last_lsn(), written.last_lsn());
  EXPECT_FALSE(after.flush_running());

  // After the flush the hits come from a compressed segment, metadata included.
  response.Clear();
  status = Search(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.hits_size(), 3);
  EXPECT_EQ(response.hits(0).id(), "doc-1");
  for (const auto& hit : response.hits()) EXPECT_EQ(hit.metadata().at("n"), hit.id().substr(4));
}

TEST_F(ShardEdgesTest, CentroidScoreThresholdIsUsedWhenSet) {
  Stats();  // recovered
  std::mt19937 rng(5);
  tartan::v1::UpsertRequest upsert;
  for (int i = 0; i < 20; ++i) {
    auto* doc = upsert.add_documents();
    doc->set_id("t-" + std::to_string(i));
    *doc->mutable_vectors() = RandomVectors(&rng, 6, kDim);
  }
  {
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::UpsertResponse upserted;
    ASSERT_TRUE(stub_->Upsert(&context, upsert, &upserted).ok());
    grpc::ClientContext flush_context;
    SetDeadline(&flush_context, 60);
    tartan::v1::FlushResponse flushed;
    ASSERT_TRUE(stub_->Flush(&flush_context, {}, &flushed).ok());
  }
  tartan::v1::ShardSearchRequest request;
  *request.mutable_query() = upsert.documents(7).vectors();
  request.set_k(5);
  // A set value is read as given: NaN is refused, which an unset field never is.
  request.mutable_params()->set_centroid_score_threshold(std::numeric_limits<float>::quiet_NaN());
  tartan::v1::ShardSearchResponse response;
  EXPECT_EQ(Search(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (float threshold : {0.0f, -1.0f, 0.35f}) {
    request.mutable_params()->set_centroid_score_threshold(threshold);
    response.Clear();
    grpc::Status status = Search(request, &response);
    ASSERT_TRUE(status.ok()) << threshold << ": " << status.error_message();
    ASSERT_GT(response.hits_size(), 0) << threshold;
    EXPECT_EQ(response.hits(0).id(), "t-7") << threshold;
  }
  request.mutable_params()->clear_centroid_score_threshold();
  EXPECT_FALSE(request.params().has_centroid_score_threshold());
  response.Clear();
  ASSERT_TRUE(Search(request, &response).ok());
  EXPECT_EQ(response.hits(0).id(), "t-7");
}

}  // namespace
}  // namespace tartan::testing
