// `tartanctl import-plaid` through the built binary on the real pylate-rs PLAID index
// ($TARTAN_SHARED_DIR/data/pylate-rs-plaid-index), then the shard directory it wrote opened
// with the index library: the documents it reports are the ones the shard holds.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "services/indexer/lib/npy.h"
#include "services/indexer/lib/shard.h"
#include "tests/testing/process.h"

namespace tartan {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `tartanctl args` (already shell-quoted where needed) with output to <dir>/out.
RunResult RunTartanctl(const std::string& args, const std::string& dir) {
  const std::string out = dir + "/out";
  const std::string cmd = testing::BinaryPath("tartanctl") + " " + args + " > " + out + " 2>&1";
  RunResult r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  std::ostringstream s;
  s << in.rdbuf();
  r.output = s.str();
  return r;
}

// The count in "imported N documents ...", or -1.
int ImportedCount(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("imported ([0-9]+) documents"))) return -1;
  return std::stoi(m[1]);
}

class ImportPlaidTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::BinaryPath("tartanctl"))) GTEST_SKIP() << "tartanctl not built";
    const std::string shared = testing::SharedDir();
    plaid_ = shared + "/data/pylate-rs-plaid-index";
    if (shared.empty() || !fs::exists(plaid_ + "/metadata.json")) {
      GTEST_SKIP() << "PLAID example index not found at " << plaid_;
    }
    work_ = testing::MakeTempDir("import-plaid");
    ASSERT_FALSE(work_.empty());
  }
  void TearDown() override {
    if (!work_.empty()) fs::remove_all(work_);
  }

  // Opens the shard offline, as tartanctl does.
  absl::StatusOr<std::unique_ptr<index::Shard>> OpenShard(const std::string& dir, int dim) {
    index::ShardOptions options;
    options.data_dir = dir;
    options.dim = dim;
    options.background_compaction = false;
    return index::Shard::Open(options);
  }

  std::string plaid_;
  std::string work_;
};

TEST_F(ImportPlaidTest, ImportedDocumentsAreInTheShard) {
  const std::string shard_dir = work_ + "/shard";
  RunResult r = RunTartanctl(
      "import-plaid --index-dir " + shard_dir + " --plaid-dir " + plaid_ + " --id-prefix p", work_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int imported = ImportedCount(r.output);
  EXPECT_EQ(imported, 20) << r.output;  // the example index holds 20 passages

  // The shard took the PLAID index's dimension (centroids.npy [centroids, dim]).
  auto centroids = index::ReadNpy(plaid_ + "/centroids.npy");
  ASSERT_TRUE(centroids.ok()) << centroids.status();
  const int dim = static_cast<int>(centroids->shape[1]);
  EXPECT_FALSE(OpenShard(shard_dir, dim + 1).ok());
  {
    auto shard = OpenShard(shard_dir, dim);
    ASSERT_TRUE(shard.ok()) << shard.status();
    const index::ShardStats stats = (*shard)->Stats();
    EXPECT_EQ(stats.documents, static_cast<uint64_t>(imported));
    EXPECT_EQ(stats.token_vectors, 560u);
    auto docs = (*shard)->Get({"p0", "p19", "p20", "0"});
    ASSERT_TRUE(docs.ok()) << docs.status();
    EXPECT_TRUE((*docs)[0].has_value());
    EXPECT_TRUE((*docs)[1].has_value());
    EXPECT_FALSE((*docs)[2].has_value());  // passages are numbered 0..19
    EXPECT_FALSE((*docs)[3].has_value());  // every id carries the prefix
    ASSERT_TRUE((*shard)->Close().ok());
  }

  // A second import with the underscore spellings (tartan-indexer's) replaces the same ids.
  r = RunTartanctl("import-plaid --index_dir " + shard_dir + " --plaid_dir " + plaid_ +
                       " --id_prefix p --dim " + std::to_string(dim),
                   work_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ImportedCount(r.output), 20);
  EXPECT_NE(r.output.find("the shard now holds 20 documents"), std::string::npos) << r.output;
}

TEST_F(ImportPlaidTest, WrongDimensionFailsBeforeCreatingTheShard) {
  const std::string shard_dir = work_ + "/shard";
  RunResult r = RunTartanctl(
      "import-plaid --index-dir " + shard_dir + " --plaid-dir " + plaid_ + " --dim 7", work_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--dim 7"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(shard_dir));

  r = RunTartanctl("import-plaid --index-dir " + shard_dir + " --plaid-dir " + work_ + "/none",
                   work_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(work_ + "/none"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tartan
