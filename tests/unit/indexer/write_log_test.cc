// Log sequence numbers: durable, monotonic across flush, compaction and restart; the
// operations after an LSN read back in order while retained; format 1 databases upgraded.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "services/indexer/lib/shard.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

using testing::RandomDoc;
using testing::TempDir;

constexpr int kDim = 16;

ShardOptions Opts(const std::string& dir) {
  ShardOptions o;
  o.data_dir = dir;
  o.dim = kDim;
  o.background_compaction = false;
  o.flush_threshold_tokens = 1u << 30;
  o.fsync = ShardOptions::Fsync::kAlways;
  return o;
}

Document Doc(const std::string& id, uint64_t seed, const std::string& tag) {
  Document d = RandomDoc(id, 2 + int(seed % 4), kDim, seed);
  d.metadata["tag"] = tag;
  return d;
}

using Kind = LoggedOperation::Kind;

TEST(WriteLogTest, LsnsAreMonotonicAndSurviveFlushCompactionAndRestart) {
  const std::string dir = TempDir("lsn");
  auto shard = Shard::Open(Opts(dir));
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ((*shard)->Stats().last_lsn, 0u);
  ASSERT_TRUE((*shard)->Upsert({Doc("a", 1, "x"), Doc("b", 2, "x")}).ok());
  EXPECT_EQ((*shard)->Stats().last_lsn, 2u);
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Delete({"a", "missing"}).ok());  // two operations, one effective
  EXPECT_EQ((*shard)->Stats().last_lsn, 4u);
  ASSERT_TRUE((*shard)->Upsert({Doc("c", 3, "y")}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Compact().ok());
  EXPECT_EQ((*shard)->Stats().last_lsn, 5u) << "flush and compaction are not writes";
  ASSERT_TRUE((*shard)->Close().ok());
  shard->reset();

  auto reopened = Shard::Open(Opts(dir));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->Stats().last_lsn, 5u);
  ASSERT_TRUE((*reopened)->Upsert({Doc("d", 4, "z")}).ok());
  EXPECT_EQ((*reopened)->Stats().last_lsn, 6u) << "numbering continues after a restart";
}

TEST(WriteLogTest, ReadsTheOperationsAfterAnLsnInOrder) {
  auto shard = Shard::Open(Opts(TempDir("readlog")));
  ASSERT_TRUE(shard.ok()) << shard.status();
  const Document a1 = Doc("a", 1, "first"), b = Doc("b", 2, "b"), a2 = Doc("a", 3, "second");
  ASSERT_TRUE((*shard)->Upsert({a1, b}).ok());  // LSN 1, 2
  ASSERT_TRUE((*shard)->Flush().ok());          // b is read back from a compressed segment
  ASSERT_TRUE((*shard)->Upsert({a2}).ok());     // LSN 3 replaces LSN 1
  ASSERT_TRUE((*shard)->Delete({"b"}).ok());    // LSN 4
  const Document c = Doc("c", 5, "c");
  ASSERT_TRUE((*shard)->Upsert({c}).ok());  // LSN 5, in the fresh segment

  auto ops = (*shard)->ReadLog(0, 100);
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_EQ(ops->size(), 5u);
  for (size_t i = 0; i < ops->size(); ++i) EXPECT_EQ((*ops)[i].lsn, i + 1);
  EXPECT_EQ((*ops)[0].id, "a");
  EXPECT_EQ((*ops)[0].kind, Kind::kUpsert);
  EXPECT_FALSE((*ops)[0].document) << "replaced by LSN 3: only the last version is shipped";
  EXPECT_FALSE((*ops)[1].document) << "deleted by LSN 4";
  EXPECT_EQ((*ops)[3].kind, Kind::kDelete);
  EXPECT_EQ((*ops)[3].id, "b");
  ASSERT_TRUE((*ops)[2].document);
  EXPECT_EQ((*ops)[2].document->metadata.at("tag"), "second");
  EXPECT_EQ((*ops)[2].document->vectors, a2.vectors) << "fresh vectors are exact";
  ASSERT_TRUE((*ops)[4].document);
  EXPECT_EQ((*ops)[4].document->id, "c");

  auto tail = (*shard)->ReadLog(3, 1);
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].lsn, 4u);
  auto none = (*shard)->ReadLog(5, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(WriteLogTest, TrimmedOperationsAreOutOfRange) {
  ShardOptions o = Opts(TempDir("trim"));
  o.log_retention_ops = 3;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status();
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE((*shard)->Upsert({Doc("d" + std::to_string(i), i, "t")}).ok());
  auto old = (*shard)->ReadLog(1, 10);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kOutOfRange) << old.status();
  auto kept = (*shard)->ReadLog(3, 10);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 3u);
  EXPECT_EQ(kept->front().lsn, 4u);
  EXPECT_EQ(kept->back().lsn, 6u);
}

TEST(WriteLogTest, GetWithoutVectorsReturnsMetadataOnly) {
  auto shard = Shard::Open(Opts(TempDir("getmeta")));
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_TRUE((*shard)->Upsert({Doc("a", 1, "flushed")}).ok());
  ASSERT_TRUE((*shard)->Flush().ok());
  ASSERT_TRUE((*shard)->Upsert({Doc("b", 2, "fresh")}).ok());
  auto got = (*shard)->Get({"a", "b", "nope"}, {.vectors = false});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE((*got)[0] && (*got)[1]);
  EXPECT_FALSE((*got)[2]);
  EXPECT_EQ((*got)[0]->metadata.at("tag"), "flushed");
  EXPECT_EQ((*got)[1]->metadata.at("tag"), "fresh");
  EXPECT_TRUE((*got)[0]->vectors.empty());
  EXPECT_TRUE((*got)[1]->vectors.empty());
  EXPECT_GT((*got)[0]->num_tokens, 0);
}

// A database written before LSNs existed (format 1): no lsn column, no ops table.
void DowngradeToFormat1(const std::string& dir) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/shard.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db,
                              "ALTER TABLE docs DROP COLUMN row_checksum;"
                              "ALTER TABLE docs DROP COLUMN lsn; DROP TABLE ops;"
                              "DELETE FROM meta WHERE key IN ('last_lsn','log_trimmed_through');"
                              "UPDATE meta SET value='1' WHERE key='format';",
                              nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(WriteLogTest, Format1DatabasesAreUpgradedWithAnLsnPerDocument) {
  const std::string dir = TempDir("upgrade");
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert({Doc("a", 1, "x"), Doc("b", 2, "y")}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
    ASSERT_TRUE((*shard)->Upsert({Doc("c", 3, "z")}).ok());
  }
  DowngradeToFormat1(dir);
  auto shard = Shard::Open(Opts(dir));
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ((*shard)->Stats().documents, 3u);
  EXPECT_EQ((*shard)->Stats().last_lsn, 3u);
  auto ops = (*shard)->ReadLog(0, 10);
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_EQ(ops->size(), 3u);
  std::vector<std::string> ids;
  for (const auto& op : *ops) {
    ASSERT_TRUE(op.document) << op.id;
    ids.push_back(op.id);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE((*shard)->Delete({"a"}).ok());
  EXPECT_EQ((*shard)->Stats().last_lsn, 4u);
}

// Runs one SQL statement on a closed shard's database.
void Sql(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/shard.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(WriteLogTest, AChangedByteInStoredMetadataIsDetectedOnOpen) {
  const std::string dir = TempDir("rowsum");
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert({Doc("a", 1, "flushed")}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());  // a segment row: its vectors are in the segment file
  }
  // One letter of the tag value changes, still well-formed metadata ("flushed" -> "flusHed").
  Sql(dir,
      "UPDATE docs SET metadata = CAST(REPLACE(CAST(metadata AS TEXT), 'flushed', "
      "'flusHed') AS BLOB) WHERE id = CAST('a' AS BLOB)");
  auto reopened = Shard::Open(Opts(dir));
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  EXPECT_NE(reopened.status().message().find("'a'"), std::string_view::npos);
}

TEST(WriteLogTest, Format2DatabasesGainRowChecksums) {
  const std::string dir = TempDir("format2");
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE((*shard)->Upsert({Doc("a", 1, "x"), Doc("b", 2, "y")}).ok());
    ASSERT_TRUE((*shard)->Flush().ok());
  }
  Sql(dir,
      "ALTER TABLE docs DROP COLUMN row_checksum; UPDATE meta SET value='2' WHERE "
      "key='format'");
  {
    auto shard = Shard::Open(Opts(dir));
    ASSERT_TRUE(shard.ok()) << shard.status();
    EXPECT_EQ((*shard)->Stats().documents, 2u);
  }
  Sql(dir, "UPDATE docs SET metadata = CAST(REPLACE(CAST(metadata AS TEXT), 'y', 'z') AS BLOB)");
  EXPECT_EQ(Shard::Open(Opts(dir)).status().code(), absl::StatusCode::kDataLoss)
      << "the upgrade computed checksums that now catch a change";
}

TEST(WriteLogTest, ALostWriteAheadLogIsRefusedInsteadOfDroppingAcknowledgedWrites) {
  const std::string dir = TempDir("lostwal");
  // A writer killed without closing leaves its last commits in shard.db-wal only.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto shard = Shard::Open(Opts(dir));
    if (!shard.ok()) _exit(2);
    for (int i = 0; i < 10; ++i)
      if (!(*shard)->Upsert({Doc("d" + std::to_string(i), i, "t")}).ok()) _exit(3);
    _exit(0);  // no Close: as after kill -9
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(std::filesystem::exists(dir + "/shard.db-wal"));
  std::filesystem::remove(dir + "/shard.db-wal");
  std::filesystem::remove(dir + "/shard.db-shm");
  auto reopened = Shard::Open(Opts(dir));
  ASSERT_FALSE(reopened.ok()) << "opened without the 10 acknowledged writes";
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  EXPECT_NE(reopened.status().message().find("up to LSN 10"), std::string_view::npos)
      << reopened.status();
}

}  // namespace
}  // namespace tartan::index
