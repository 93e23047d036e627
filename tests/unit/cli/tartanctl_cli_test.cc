// The tartanctl command line through the built binary ($TARTAN_BIN_DIR/tartanctl): generated
// help for every command (exit 0, no side effects), usage errors (exit 2) for unknown commands,
// unknown options, missing required options and bad values. No cluster is started: the router
// address points at a closed port, so a command that did reach the network would fail (exit 1)
// instead of printing help.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace tartan::cli {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class TartanctlCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = testing::BinaryPath("tartanctl");
    if (!fs::exists(binary_)) GTEST_SKIP() << "tartanctl not built (" << binary_ << ")";
    dir_ = testing::MakeTempDir("tartanctl-cli");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs `tartanctl args...` with empty stdin and a router address nothing listens on.
  RunResult Run(const std::vector<std::string>& args) const {
    std::string cmd = "TARTAN_ROUTER=127.0.0.1:1 " + Quote(binary_);
    for (const std::string& a : args) cmd += " " + Quote(a);
    cmd += " < /dev/null > " + Quote(dir_ + "/out") + " 2> " + Quote(dir_ + "/err");
    RunResult r;
    const int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(dir_ + "/out");
    r.err = ReadAll(dir_ + "/err");
    return r;
  }

  std::string binary_;
  std::string dir_;
};

const std::vector<std::string> kCommands = {"encode", "make-test-model", "ingest", "search",
                                            "delete", "status",          "eval",   "import-plaid"};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(TartanctlCliTest, TopLevelHelpListsEveryCommand) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}}) {
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << "\n" << r.err;
    for (const std::string& command : kCommands) {
      EXPECT_TRUE(Contains(r.out, "  " + command + " ")) << command << " missing:\n" << r.out;
    }
  }
  RunResult none = Run({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(Contains(none.err, "import-plaid")) << none.err;
}

TEST_F(TartanctlCliTest, EveryCommandHasItsOwnHelp) {
  const std::vector<std::pair<std::string, std::string>> option_of = {
      {"encode", "--model"}, {"make-test-model", "--out"},
      {"ingest", "--input"}, {"search", "--query"},
      {"delete", "--ids"},   {"status", "--router"},
      {"eval", "--beir"},    {"import-plaid", "--plaid-dir"}};
  for (const auto& [command, option] : option_of) {
    SCOPED_TRACE(command);
    RunResult r = Run({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Contains(r.out, "Usage: tartanctl " + command + " ")) << r.out;
    EXPECT_TRUE(Contains(r.out, option)) << r.out;
    EXPECT_EQ(r.err, "");
    RunResult via_help = Run({"help", command});
    EXPECT_EQ(via_help.exit_code, 0);
    EXPECT_EQ(via_help.out, r.out);
  }
}

// --help wins over everything else on the line, and nothing runs: these commands would call the
// (absent) router and exit 1 otherwise.
TEST_F(TartanctlCliTest, HelpHasNoSideEffects) {
  RunResult deleted = Run({"delete", "--ids", "a,b", "--help"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(Contains(deleted.out, "--ids")) << deleted.out;
  EXPECT_FALSE(Contains(deleted.out, "deleted")) << deleted.out;

  RunResult status = Run({"status", "--help"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(Contains(status.out, "--json")) << status.out;

  // The same command lines without --help do reach for the router (and find nothing).
  EXPECT_EQ(Run({"delete", "--ids", "a,b"}).exit_code, 1);
  RunResult down = Run({"status"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_TRUE(Contains(down.err, "UNAVAILABLE")) << down.err;

  // import-plaid --help creates no shard directory.
  const std::string index_dir = dir_ + "/shard";
  EXPECT_EQ(
      Run({"import-plaid", "--index-dir", index_dir, "--plaid-dir", dir_, "--help"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(index_dir));
}

TEST_F(TartanctlCliTest, UsageErrorsExitTwoAndNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string message;  // expected in stderr
  };
  const std::vector<Case> cases = {
      {{"nope"}, "unknown command \"nope\""},
      {{"status", "--bogus"}, "--bogus"},
      {{"status", "stray"}, "stray"},
      {{"delete"}, "--ids is required"},
      {{"search"}, "--query is required"},
      {{"search", "--query", "q", "--k", "0"}, "--k"},
      {{"search", "--query", "q", "--k", "ten"}, "--k"},
      {{"search", "--query"}, "--query"},
      {{"ingest"}, "--input is required"},
      {{"eval", "--beir", "x", "--k", "5"}, "--k"},
      {{"encode", "--queries"}, "--model is required"},
      {{"encode", "--model", "m"}, "--queries"},
      {{"encode", "--model", "m", "--queries", "--documents"}, "--queries"},
      {{"encode", "--model", "m", "--queries", "--precision", "fp8"}, "fp8"},
      {{"encode", "--model", "m", "--queries", "--pool-version", "2"}, "--pool-version"},
      {{"make-test-model"}, "--out is required"},
      {{"make-test-model", "--out", "x", "--arch", "gpt"}, "gpt"},
      {{"import-plaid", "--plaid-dir", "p"}, "--index-dir is required"},
      {{"import-plaid", "--index-dir", "i"}, "--plaid-dir is required"},
      {{"import-plaid", "--index-dir", "i", "--plaid-dir", "p", "--nbits", "3"}, "--nbits"},
      {{"help", "nope"}, "nope"},
  };
  for (const Case& c : cases) {
    std::string line;
    for (const std::string& a : c.args) line += a + " ";
    SCOPED_TRACE(line);
    RunResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(Contains(r.err, c.message)) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

// The options spelled as before the switch to CLI11 still parse: --name value, --name=value,
// boolean switches, and the router address from $TARTAN_ROUTER (a closed port: exit 1, not 2).
TEST_F(TartanctlCliTest, ExistingSpellingsParse) {
  EXPECT_EQ(Run({"status", "--router", "127.0.0.1:1"}).exit_code, 1);
  EXPECT_EQ(Run({"status", "--router=127.0.0.1:1", "--json"}).exit_code, 1);
  EXPECT_EQ(Run({"search", "--query", "late interaction", "--k", "5", "--exact", "--json",
                 "--filter", "lang=en|fr", "--timeout", "1"})
                .exit_code,
            1);
  EXPECT_EQ(Run({"delete", "--ids=a,b,c"}).exit_code, 1);
  RunResult ingest = Run({"ingest", "--input", dir_ + "/missing.jsonl", "--batch-size", "8",
                          "--limit", "10", "--restart"});
  EXPECT_EQ(ingest.exit_code, 1);  // parsed; the input does not exist
  EXPECT_TRUE(Contains(ingest.err, "missing.jsonl")) << ingest.err;
  RunResult eval = Run({"eval", "--beir", dir_ + "/nobeir", "--split", "dev", "--exact",
                        "--max-queries", "3", "--json-out", dir_ + "/e.json"});
  EXPECT_EQ(eval.exit_code, 1);  // parsed; the folder does not exist
}

}  // namespace
}  // namespace tartan::cli
