#include "services/cli/ir_metrics.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "services/cli/beir.h"

namespace tartan::cli {
namespace {

TEST(IrMetricsTest, NdcgMatchesHandComputedValue) {
  // Relevant: a (2), b (1). Ranked: x a b → DCG = 2/log2(3) + 1/log2(4); IDCG = 2 + 1/log2(3).
  const std::map<std::string, int> rel = {{"a", 2}, {"b", 1}};
  const double expected = (2 / std::log2(3.0) + 1 / std::log2(4.0)) / (2 + 1 / std::log2(3.0));
  EXPECT_NEAR(NdcgAtK({"x", "a", "b"}, rel, 10), expected, 1e-12);
  EXPECT_NEAR(NdcgAtK({"a", "b"}, rel, 10), 1.0, 1e-12);
  EXPECT_EQ(NdcgAtK({"x", "y"}, rel, 10), 0.0);
  // Cut-off: b at rank 2 is outside k=1.
  EXPECT_NEAR(NdcgAtK({"a", "b"}, rel, 1), 1.0, 1e-12);
}

TEST(IrMetricsTest, RecallAndReciprocalRank) {
  const std::map<std::string, int> rel = {{"a", 1}, {"b", 1}, {"z", 0}};
  EXPECT_DOUBLE_EQ(RecallAtK({"a", "x", "b"}, rel, 2), 0.5);
  EXPECT_DOUBLE_EQ(RecallAtK({"a", "x", "b"}, rel, 3), 1.0);
  EXPECT_DOUBLE_EQ(ReciprocalRankAtK({"z", "x", "b"}, rel, 10), 1.0 / 3);
  EXPECT_DOUBLE_EQ(ReciprocalRankAtK({"z", "x", "b"}, rel, 2), 0.0);
}

TEST(IrMetricsTest, Quantile) {
  EXPECT_DOUBLE_EQ(Quantile({3, 1, 2}, 0.5), 2);
  EXPECT_DOUBLE_EQ(Quantile({1, 2}, 0.5), 1.5);
  EXPECT_DOUBLE_EQ(Quantile({}, 0.5), 0);
}

TEST(BeirTest, ReadsCorpusPartsQueriesAndQrels) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("beir-test-" + std::to_string(::getpid()));
  fs::create_directories(dir / "qrels");
  std::ofstream(dir / "corpus.part2-of-2.jsonl")
      << R"({"_id": "d2", "title": "", "text": "second"})"
         "\n";
  std::ofstream(dir / "corpus.part1-of-2.jsonl")
      << R"({"_id": "d1", "title": "Title", "text": "body", "metadata": {"lang": "en"}})"
         "\n\n";
  std::ofstream(dir / "queries.jsonl") << R"({"_id": "q1", "text": "what"})"
                                          "\n";
  std::ofstream(dir / "qrels" / "test.tsv") << "query-id\tcorpus-id\tscore\nq1\td2\t1\n";
  auto files = CorpusFiles(dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  std::vector<TextRecord> records;
  ASSERT_TRUE(ForEachRecord(*files, [&](const TextRecord& r) {
                records.push_back(r);
                return true;
              }).ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].id, "d1");
  EXPECT_EQ(records[0].text, "Title body");
  EXPECT_EQ(records[0].metadata.at("lang"), "en");
  EXPECT_EQ(records[1].text, "second");
  EXPECT_EQ(*CountRecords(*files), 2u);
  auto queries = ReadQueries(dir.string());
  ASSERT_TRUE(queries.ok());
  EXPECT_EQ(queries->at("q1"), "what");
  auto qrels = ReadQrels(dir.string(), "test");
  ASSERT_TRUE(qrels.ok());
  EXPECT_EQ(qrels->at("q1").at("d2"), 1);
  EXPECT_FALSE(ReadQrels(dir.string(), "dev").ok());

  std::ofstream(dir / "bad.jsonl") << "{not json\n";
  auto status =
      ForEachRecord({(dir / "bad.jsonl").string()}, [](const TextRecord&) { return true; });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("bad.jsonl:1"), absl::string_view::npos) << status;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tartan::cli
