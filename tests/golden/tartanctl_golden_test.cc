// End to end: the built `tartanctl encode` binary ($TARTAN_BIN_DIR/tartanctl) against the
// golden reference outputs, plus its error handling.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "golden_cases.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tartan::golden {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `tartanctl args...` with `input` on stdin.
RunResult RunTartanctl(const std::vector<std::string>& args, const std::string& input) {
  const char* bin_dir = std::getenv("TARTAN_BIN_DIR");
  const fs::path tmp =
      fs::temp_directory_path() /
      ("tartanctl_golden_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand()));
  fs::create_directories(tmp);
  { std::ofstream(tmp / "in.jsonl", std::ios::binary) << input; }
  std::string cmd = Quote((fs::path(bin_dir ? bin_dir : "bin") / "tartanctl").string());
  for (const std::string& a : args) cmd += " " + Quote(a);
  cmd += " < " + Quote((tmp / "in.jsonl").string()) + " > " + Quote((tmp / "out").string()) +
         " 2> " + Quote((tmp / "err").string());
  RunResult r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadAll(tmp / "out");
  r.err = ReadAll(tmp / "err");
  fs::remove_all(tmp);
  return r;
}

class TartanctlGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = SharedDir();
    if (shared_.empty()) GTEST_SKIP() << "TARTAN_SHARED_DIR (golden outputs) not available";
    const char* bin_dir = std::getenv("TARTAN_BIN_DIR");
    if (bin_dir == nullptr || !fs::exists(fs::path(bin_dir) / "tartanctl")) {
      GTEST_SKIP() << "tartanctl not built ($TARTAN_BIN_DIR)";
    }
  }

  // Runs every case with the given id through one tartanctl invocation (they must share
  // parameters) and compares with the reference.
  void CheckCases(const std::string& model, const std::vector<std::string>& ids) {
    auto cases = LoadCases(shared_ + "/golden/" + model + "/cases.jsonl");
    ASSERT_TRUE(cases.ok()) << cases.status();
    std::vector<const GoldenCase*> selected;
    for (const std::string& id : ids) {
      for (const GoldenCase& c : *cases) {
        if (c.id == id) selected.push_back(&c);
      }
    }
    ASSERT_EQ(selected.size(), ids.size());
    const GoldenCase& first = *selected.front();
    std::vector<std::string> args = {"encode", "--model", shared_ + "/golden/models/" + model,
                                     first.is_query ? "--queries" : "--documents"};
    if (first.prompt_name) args.insert(args.end(), {"--prompt-name", *first.prompt_name});
    if (first.pool_factor > 1) {
      args.insert(args.end(), {"--pool-factor", std::to_string(first.pool_factor)});
    }
    if (first.pool_version == "v1.4.0") args.insert(args.end(), {"--pool-version", "1.4.0"});
    std::string input;
    for (const GoldenCase* c : selected) input += nlohmann::json{{"text", c->text}}.dump() + "\n";

    RunResult r = RunTartanctl(args, input);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    size_t i = 0;
    for (; std::getline(lines, line); ++i) {
      ASSERT_LT(i, selected.size()) << "more output lines than inputs";
      const GoldenCase& c = *selected[i];
      SCOPED_TRACE(model + " " + c.id);
      nlohmann::json j = nlohmann::json::parse(line);
      EXPECT_EQ(j.at("ids").get<std::vector<int32_t>>(), c.ids);
      std::vector<float> flat;
      const auto rows = j.at("embeddings").get<std::vector<std::vector<float>>>();
      for (const auto& row : rows) {
        ASSERT_EQ(static_cast<int>(row.size()), c.dim);
        flat.insert(flat.end(), row.begin(), row.end());
      }
      ASSERT_EQ(static_cast<int>(rows.size()), c.rows);
      EXPECT_LE(MatchedMaxAbsDiff(flat, c.embeddings, c.rows, c.dim), 1e-4);
    }
    EXPECT_EQ(i, selected.size());
  }

  std::string shared_;
};

TEST_F(TartanctlGoldenTest, ModernBertQueries) {
  CheckCases("modernbert-colbert-tiny", {"q_00", "q_03", "q_07", "q_17"});
}

TEST_F(TartanctlGoldenTest, ModernBertDocumentsWithPromptAndPooling) {
  CheckCases("modernbert-colbert-tiny", {"d_02", "d_04", "d_21", "d_08"});
  CheckCases("modernbert-colbert-tiny", {"dp_00", "dp_07"});
  CheckCases("modernbert-colbert-tiny", {"dpool2_02", "dpool2_11"});
  CheckCases("modernbert-colbert-tiny", {"dpool3v140_02"});
}

TEST_F(TartanctlGoldenTest, BertQueriesAndDocuments) {
  CheckCases("bert-colbert-tiny", {"q_05", "q_11"});
  CheckCases("bert-colbert-tiny", {"d_03", "d_15", "d_21"});
  CheckCases("bert-colbert-tiny", {"dpool2_12"});
}

TEST_F(TartanctlGoldenTest, BadInputNamesTheLine) {
  const std::string model = shared_ + "/golden/models/bert-colbert-tiny";
  RunResult r = RunTartanctl({"encode", "--model", model, "--documents"},
                             "{\"text\": \"fine\"}\n{\"text\": 3}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;

  r = RunTartanctl({"encode", "--model", model, "--queries"}, "not json\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
}

TEST_F(TartanctlGoldenTest, BadFlagsAreRejected) {
  const std::string model = shared_ + "/golden/models/modernbert-colbert-tiny";
  RunResult r = RunTartanctl({"encode", "--model", model, "--queries", "--documents"}, "");
  EXPECT_NE(r.exit_code, 0);
  r = RunTartanctl({"encode", "--model", model, "--queries", "--prompt-name", "nope"},
                   "{\"text\": \"x\"}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = RunTartanctl({"encode", "--model", "/nonexistent/model", "--queries"}, "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tartan::golden

namespace tartan::golden {
namespace {

// make-test-model through the binary, then encode with the written model.
TEST_F(TartanctlGoldenTest, MakeTestModelThenEncode) {
  const fs::path out = fs::temp_directory_path() / ("tartanctl_tm_" + std::to_string(::getpid()));
  fs::remove_all(out);
  struct Variant {
    std::vector<std::string> args;
    int dim;
    size_t query_ids;
  };
  const Variant variants[] = {
      // Default tokenizer folder found through $TARTAN_SHARED_DIR/data.
      {{"--arch", "modernbert", "--shape", "tiny", "--dim", "16"}, 16, 32},
      {{"--arch", "bert", "--shape", "tiny", "--query-length", "24", "--vocab-from",
        shared_ + "/data/answerai-colbert-small-v1"},
       24,
       24},
      {{"--lexical", "--hidden", "64", "--heads", "2"}, 128, 32},
  };
  int n = 0;
  for (const Variant& v : variants) {
    const std::string dir = (out / std::to_string(n++)).string();
    std::vector<std::string> args = {"make-test-model", "--out", dir};
    args.insert(args.end(), v.args.begin(), v.args.end());
    RunResult made = RunTartanctl(args, "");
    ASSERT_EQ(made.exit_code, 0) << made.err;
    RunResult enc = RunTartanctl({"encode", "--model", dir, "--queries"},
                                 "{\"text\": \"late interaction\"}\n{\"text\": \"\"}\n");
    ASSERT_EQ(enc.exit_code, 0) << enc.err;
    std::istringstream lines(enc.out);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      EXPECT_EQ(j["ids"].size(), v.query_ids);
      ASSERT_EQ(j["embeddings"].size(), v.query_ids);
      EXPECT_EQ(j["embeddings"][0].size(), static_cast<size_t>(v.dim));
      ++count;
    }
    EXPECT_EQ(count, 2);
  }
  RunResult bad =
      RunTartanctl({"make-test-model", "--out", (out / "x").string(), "--shape", "enormous"}, "");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("enormous"), std::string::npos) << bad.err;
  fs::remove_all(out);
}

}  // namespace
}  // namespace tartan::golden
