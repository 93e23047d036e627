// Issue 12, a full disk with real processes: one shard's data folder is a small tmpfs, filled
// up with a ballast file while documents are written through the router. Writers must get a
// clear RESOURCE_EXHAUSTED (not a retry-forever UNAVAILABLE), searches keep answering from
// every shard, writes succeed again once the ballast is gone, and after a restart every
// acknowledged document is there exactly once with its metadata and no *.tmp file is left.
// Needs permission to mount tmpfs (root in CI); skipped otherwise.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/fault/fault_util.h"

namespace tartan::testing {
namespace {

constexpr int kDim = 128;
constexpr int kTokens = 8;

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) != 0) return 0;
  return uint64_t(vfs.f_bavail) * vfs.f_frsize;
}

// Fills `path` with zeros until `bytes` are written or the disk is full.
void WriteBallast(const std::string& path, uint64_t bytes) {
  std::ofstream out(path, std::ios::binary);
  const std::string block(1 << 16, '\0');
  for (uint64_t written = 0; written < bytes && out; written += block.size()) {
    out.write(block.data(), std::streamsize(std::min<uint64_t>(block.size(), bytes - written)));
  }
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_dir_ = MakeTempDir("fault-disk");
    disk_ = work_dir_ + "/shard0";  // LocalCluster's data folder of shard 0
    std::filesystem::create_directories(disk_);
    if (mount("tmpfs", disk_.c_str(), "tmpfs", 0, "size=24m,mode=0755") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs for the full-disk test: " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    cluster_.reset();  // stop the processes before the file system goes
    if (mounted_) umount2(disk_.c_str(), MNT_DETACH);
  }

  // One write of `n` new documents through the router.
  grpc::Status Add(int n, std::vector<tartan::v1::NewDocument>* docs) {
    tartan::v1::AddDocumentsRequest request;
    for (int i = 0; i < n; ++i) {
      auto doc = FaultDocument(absl::StrCat("doc-", next_), 0, next_, kTokens, kDim, &rng_);
      ++next_;
      sent_.push_back(doc.id());
      docs->push_back(doc);
      *request.add_documents() = std::move(doc);
    }
    grpc::ClientContext context;
    SetDeadline(&context, 30);
    tartan::v1::AddDocumentsResponse response;
    return cluster_->router().AddDocuments(&context, request, &response);
  }

  void Run(int flush_threshold_tokens);

  grpc::Status Search(bool* partial) {
    tartan::v1::SearchRequest request;
    *request.mutable_vectors() = RandomVectors(&rng_, 4, kDim);
    request.set_k(5);
    grpc::ClientContext context;
    SetDeadline(&context, 20);
    tartan::v1::SearchResponse response;
    const grpc::Status status = cluster_->router().Search(&context, request, &response);
    *partial = response.partial();
    return status;
  }

  std::string work_dir_;
  std::string disk_;
  bool mounted_ = false;
  std::unique_ptr<LocalCluster> cluster_;
  std::mt19937 rng_{7};
  int next_ = 0;
  std::vector<std::string> sent_;
  std::map<std::string, tartan::v1::NewDocument> acknowledged_;
};

// The whole scenario; flush_threshold_tokens decides what meets the full disk first.
void DiskFullTest::Run(int flush_threshold_tokens) {
  const std::string model = LexicalTestModel(work_dir_);
  if (model.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
  LocalCluster::Options options;
  options.shards = 2;
  options.allow_exact_search = false;
  options.indexer_args = {absl::StrCat("--flush_threshold_tokens=", flush_threshold_tokens)};
  auto cluster = LocalCluster::Start(model, work_dir_, options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  cluster_ = std::move(*cluster);

  auto accept = [&](const std::vector<tartan::v1::NewDocument>& docs) {
    for (const auto& doc : docs) acknowledged_[doc.id()] = doc;
  };
  // Some documents while there is room.
  for (int i = 0; i < 5; ++i) {
    std::vector<tartan::v1::NewDocument> docs;
    ASSERT_TRUE(Add(20, &docs).ok());
    accept(docs);
  }
  // Leave ~1 MB, then write until shard 0 refuses.
  const std::string ballast = disk_ + "/ballast";
  WriteBallast(ballast, FreeBytes(disk_) - (1 << 20));
  grpc::Status refused;
  for (int i = 0; i < 400 && refused.ok(); ++i) {
    std::vector<tartan::v1::NewDocument> docs;
    const grpc::Status status = Add(20, &docs);
    if (status.ok()) {
      accept(docs);
    } else {
      refused = status;
    }
  }
  ASSERT_FALSE(refused.ok()) << "shard 0 never ran out of space; free " << FreeBytes(disk_);
  std::printf("full disk: %s: %s\n", std::to_string(refused.error_code()).c_str(),
              refused.error_message().c_str());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "full") ||
              absl::StrContains(refused.error_message(), "space"))
      << refused.error_message();
  EXPECT_FALSE(absl::StrContains(refused.error_message(), "retrying the request is safe"))
      << refused.error_message();

  // Failed background flushes leave no half-written segment behind.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(TmpFiles(disk_), std::vector<std::string>());
  // Searches keep answering, from every shard, while the disk stays full.
  for (int i = 0; i < 10; ++i) {
    bool partial = true;
    const grpc::Status status = Search(&partial);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(partial);
  }
  EXPECT_EQ(cluster_->shard(0).Signal(0, false).status(), absl::OkStatus()) << "shard 0 died";

  // Space returns: writes succeed again (within a few seconds).
  std::filesystem::remove(ballast);
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    std::vector<tartan::v1::NewDocument> docs;
    const grpc::Status status = Add(20, &docs);
    if (status.ok()) {
      accept(docs);
      recovered = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ASSERT_TRUE(recovered) << "writes still fail after the space came back";

  // Nothing acknowledged lost across a restart; no litter.
  ASSERT_TRUE(cluster_->StopShard(0).ok()) << cluster_->shard(0).ReadLog();
  ASSERT_TRUE(cluster_->RestartShard(0).ok());
  ASSERT_TRUE(cluster_->WaitUntilComplete(60).ok());
  EXPECT_EQ(VerifyStored(*cluster_, acknowledged_, sent_), "");
  EXPECT_EQ(TmpFiles(disk_), std::vector<std::string>());
  std::printf("%zu documents acknowledged of %zu sent\n", acknowledged_.size(), sent_.size());
}

// The write-ahead log meets the full disk (no flush is due).
TEST_F(DiskFullTest, LogWritesRefusedClearly) { Run(4096); }

// Background flushes (every ~32 documents per shard) fail on the full disk while writes go on.
TEST_F(DiskFullTest, FlushesFailWhileWritesContinue) { Run(256); }

}  // namespace
}  // namespace tartan::testing
