// Observability end to end: a local cluster (encoder, 2 shards, router) scraped every second by
// Debian's real Prometheus, which also loads the Helm chart's alert rules. Asserts through
// Prometheus's query API that each service's key series exist and move, that stopping a shard
// shows as partial replies and puts the shard alerts in pending, that every scrape passes
// `promtool check metrics`, that the chart's rules pass `promtool check rules` and their unit
// tests (alerts_test.yaml, `promtool test rules`), that every rule and dashboard expression
// evaluates and names only series that exist, and that docs/metrics.md lists exactly the
// metric families the services export.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/integration/cluster/local_cluster.h"
#include "tests/integration/observability/prometheus_server.h"

namespace tartan::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kShards = 2;
constexpr int kDocs = 24;
const char* const kWords[] = {"giraffe", "volcano", "saxophone", "glacier", "pancake", "meteor"};

std::string SourceDir() {
  const char* dir = std::getenv("TARTAN_SOURCE_DIR");
  return dir ? dir : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs a shell command; its exit code and combined output.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The metrics port of the cluster's encoder, from the port file ServiceProcess makes it write
// in the work dir (LocalCluster does not expose the encoder's process).
int EncoderMetricsPort(const std::string& work_dir) {
  for (const auto& entry : fs::directory_iterator(work_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("tartan-encoder-", 0) == 0 && entry.path().extension() == ".ports") {
      const auto ports = nlohmann::json::parse(ReadFile(entry.path().string()), nullptr, false);
      if (!ports.is_discarded()) return ports.value("metrics_port", -1);
    }
  }
  return -1;
}

// The metric family names an exposition declares (# TYPE lines).
std::set<std::string> FamilyNames(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Fail (not skip) without the tools: CI installs them (scripts/install-deps.sh).
    for (const char* tool : {"prometheus", "promtool"}) {
      if (FindOnPath(tool).empty()) {
        start_error_ = new std::string(absl::StrCat(
            "no `", tool, "` on PATH: install Debian's prometheus package (install-deps.sh)"));
        return;
      }
    }
    work_dir_ = new std::string(MakeTempDir("observability"));
    const std::string model = LexicalTestModel(*work_dir_);
    if (model.empty()) return;
    LocalCluster::Options options;
    options.shards = kShards;
    auto cluster = LocalCluster::Start(model, *work_dir_, options);
    if (!cluster.ok()) {
      start_error_ = new std::string(cluster.status().ToString());
      return;
    }
    cluster_ = cluster->release();
    encoder_metrics_port_ = EncoderMetricsPort(*work_dir_);

    // The chart's rules with its default thresholds, and every rule and dashboard expression.
    const std::string chart = SourceDir() + "/helm/tartan";
    rules_file_ = new std::string(*work_dir_ + "/tartan-alerts.rules.yaml");
    expressions_file_ = new std::string(*work_dir_ + "/expressions.jsonl");
    auto [code, output] = RunCommand(absl::StrCat(
        "/usr/bin/python3 ", SourceDir(), "/tests/integration/observability/chart_expressions.py ",
        chart, " ", *rules_file_, " ", *expressions_file_));
    if (code != 0) {
      start_error_ = new std::string("chart_expressions.py: " + output);
      return;
    }
    std::vector<int> shard_ports;
    for (int i = 0; i < kShards; ++i) shard_ports.push_back(cluster_->shard(i).metrics_port());
    auto prometheus = PrometheusServer::Start(
        *work_dir_,
        {{"tartan-encoder", "encoder", {encoder_metrics_port_}},
         {"tartan-indexer", "indexer", shard_ports},
         {"tartan-router", "router", {cluster_->router_process().metrics_port()}}},
        {*rules_file_});
    if (!prometheus.ok()) {
      start_error_ = new std::string(prometheus.status().ToString());
      return;
    }
    prometheus_ = prometheus->release();
    Ingest();
    traffic_ = new std::thread(SearchUntilStopped);
  }

  static void TearDownTestSuite() {
    stop_traffic_ = true;
    if (traffic_ != nullptr) traffic_->join();
    delete prometheus_;
    delete cluster_;
  }

  void SetUp() override {
    if (start_error_ != nullptr) FAIL() << *start_error_;
    if (cluster_ == nullptr) GTEST_SKIP() << "TARTAN_SHARED_DIR (tokenizer files) unavailable";
  }

  static void Ingest() {
    grpc::ClientContext context;
    SetDeadline(&context, 60);
    tartan::v1::AddDocumentsRequest request;
    for (int i = 0; i < kDocs; ++i) {
      auto* doc = request.add_documents();
      doc->set_id("doc-" + std::to_string(i));
      doc->set_text(absl::StrCat("A note about the ", kWords[i % 6], " number ", i, "."));
    }
    tartan::v1::AddDocumentsResponse response;
    const grpc::Status status = cluster_->router().AddDocuments(&context, request, &response);
    if (!status.ok()) start_error_ = new std::string("ingest: " + status.error_message());
  }

  // Searches every 50 ms (the router answers partially once a shard is stopped).
  static void SearchUntilStopped() {
    for (int i = 0; !stop_traffic_; ++i) {
      grpc::ClientContext context;
      SetDeadline(&context, 10);
      tartan::v1::SearchRequest request;
      request.set_text(kWords[i % 6]);
      request.set_k(5);
      tartan::v1::SearchResponse response;
      cluster_->router().Search(&context, request, &response);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Polls `promql` until its first sample satisfies `ok` (or 20 s pass); the last value or error.
  static absl::StatusOr<double> WaitFor(const std::string& promql,
                                        const std::function<bool(double)>& ok) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    absl::StatusOr<double> value = absl::NotFoundError("not queried");
    while (Clock::now() < deadline) {
      value = prometheus_->Value(promql);
      if (value.ok() && ok(*value)) return value;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return value.ok() ? absl::DeadlineExceededError(absl::StrCat(promql, " stayed at ", *value))
                      : value.status();
  }

  // Stops shard 1 once (the router's shard_errors family exists only after a failed call).
  static void EnsureShardStopped() {
    if (shard_stopped_) return;
    ASSERT_TRUE(cluster_->StopShard(1).ok());
    shard_stopped_ = true;
    // Let the router try the stopped shard at least once.
    ASSERT_TRUE(
        WaitFor("sum(tartan_router_shard_errors_total)", [](double v) { return v > 0; }).ok());
  }

  static std::vector<int> LiveMetricsPorts() {
    return {encoder_metrics_port_, cluster_->shard(0).metrics_port(),
            cluster_->router_process().metrics_port()};
  }

  static inline std::string* work_dir_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline std::string* rules_file_ = nullptr;
  static inline std::string* expressions_file_ = nullptr;
  static inline LocalCluster* cluster_ = nullptr;
  static inline PrometheusServer* prometheus_ = nullptr;
  static inline int encoder_metrics_port_ = -1;
  static inline std::thread* traffic_ = nullptr;
  static inline std::atomic<bool> stop_traffic_{false};
  static inline bool shard_stopped_ = false;
};

auto Positive = [](double v) { return v > 0; };

// First: it needs every shard up; the tests after it stop shard 1 (declaration order).
TEST_F(ObservabilityTest, KeySeriesExistAndMove) {
  ASSERT_FALSE(shard_stopped_) << "runs before the tests that stop a shard (no --gtest_shuffle)";
  const int targets = kShards + 2;
  EXPECT_TRUE(
      WaitFor("count(up{job=~\"tartan-.*\"} == 1)", [&](double v) { return v == targets; }).ok());
  for (const char* promql : {
           "sum(rate(tartan_router_rpcs_total{method=\"/tartan.v1.Router/Search\",code=\"OK\"}"
           "[10s]))",
           "sum(rate(tartan_encoder_tokens_total[10s]))",
           "sum(rate(tartan_indexer_rpcs_total{method=\"/tartan.v1.Indexer/Search\"}[10s]))",
           "sum(rate(tartan_router_fanout_latency_seconds_count[10s]))",
           "sum(tartan_indexer_wal_commits_total)",
           "sum(tartan_indexer_durable_write_latency_seconds_count)",
       }) {
    auto value = WaitFor(promql, Positive);
    EXPECT_TRUE(value.ok()) << promql << ": " << value.status();
  }
  auto documents = WaitFor("sum(tartan_indexer_documents)", [](double v) { return v == kDocs; });
  EXPECT_TRUE(documents.ok()) << documents.status();
  // Flushes and compactions move when the shards run them.
  for (int i = 0; i < kShards; ++i) {
    grpc::ClientContext flush_context;
    SetDeadline(&flush_context, 30);
    tartan::v1::FlushResponse flushed;
    ASSERT_TRUE(cluster_->ShardStub(i)->Flush(&flush_context, {}, &flushed).ok());
    grpc::ClientContext compact_context;
    SetDeadline(&compact_context, 30);
    tartan::v1::CompactResponse compacted;
    ASSERT_TRUE(cluster_->ShardStub(i)->Compact(&compact_context, {}, &compacted).ok());
  }
  for (const char* promql :
       {"sum(tartan_indexer_flushes_total)", "sum(tartan_indexer_compactions_total)",
        "min(tartan_indexer_segments)"}) {
    auto value = WaitFor(promql, Positive);
    EXPECT_TRUE(value.ok()) << promql << ": " << value.status();
  }
  // Info and process series of every target.
  for (const auto& [promql, want] : std::vector<std::pair<std::string, double>>{
           {"count(tartan_encoder_info{model=\"lexical-model\",dim=\"128\",version!=\"\"})", 1},
           {"count(tartan_router_info{model=\"lexical-model\",dim=\"128\"})", 1},
           {"count(tartan_indexer_info{dim=\"128\"})", kShards},
           {"count(process_resident_memory_bytes > 1e6)", targets},
           {"count(process_open_fds > 0)", targets},
           {"count(process_threads > 1)", targets},
           {"count(process_cpu_seconds_total > 0)", targets},
           {"count(tartan_indexer_volume_available_bytes <= tartan_indexer_volume_capacity_bytes)",
            kShards},
       }) {
    auto value = WaitFor(promql, [&](double v) { return v == want; });
    EXPECT_TRUE(value.ok()) << promql << ": " << value.status();
  }
}

TEST_F(ObservabilityTest, EveryScrapePassesPromtoolCheckMetrics) {
  ASSERT_GT(encoder_metrics_port_, 0);
  EnsureShardStopped();  // so that every family has a series, shard errors included
  for (const int port : LiveMetricsPorts()) {
    auto scrape = HttpGet(port, "/metrics");
    ASSERT_TRUE(scrape.ok()) << scrape.status();
    const std::string file = absl::StrCat(*work_dir_, "/scrape-", port, ".txt");
    std::ofstream(file) << *scrape;
    auto [code, output] = RunCommand("promtool check metrics < " + file);
    EXPECT_EQ(code, 0) << "port " << port << ":\n" << output;
    EXPECT_EQ(output, "") << "port " << port;
  }
}

TEST_F(ObservabilityTest, StoppedShardShowsAsPartialRepliesAndAlerts) {
  ASSERT_TRUE(
      WaitFor("sum(tartan_router_rpcs_total{method=\"/tartan.v1.Router/Search\"})", Positive).ok());
  EnsureShardStopped();
  for (const char* promql : {
           "sum(increase(tartan_router_partial_replies_total[10s]))",
           "sum(tartan_router_shard_errors_total{code=\"UNAVAILABLE\"})",
           "count(up{component=\"indexer\"} == 0)",
       }) {
    auto value = WaitFor(promql, Positive);
    EXPECT_TRUE(value.ok()) << promql << ": " << value.status();
  }
  // The chart's alerts see it: pending (their `for` is minutes) or firing.
  std::set<std::string> want = {"TartanShardDown", "TartanShardUnreachable",
                                "TartanPartialReplies"};
  std::set<std::string> active;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline && active != want) {
    auto alerts = prometheus_->Api("alerts");
    ASSERT_TRUE(alerts.ok()) << alerts.status();
    active.clear();
    for (const auto& alert : (*alerts)["alerts"]) {
      const std::string name = alert["labels"].value("alertname", "");
      if (want.contains(name)) active.insert(name);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(active, want);
}

TEST_F(ObservabilityTest, ChartRulesAndDashboardMatchTheLiveSeries) {
  auto [code, output] = RunCommand("promtool check rules " + *rules_file_);
  EXPECT_EQ(code, 0) << output;
  // promtool's rule unit tests (alerts_test.yaml) next to the rules they name.
  fs::copy_file(SourceDir() + "/tests/integration/observability/alerts_test.yaml",
                *work_dir_ + "/alerts_test.yaml", fs::copy_options::overwrite_existing);
  auto [test_code, test_output] =
      RunCommand("promtool test rules " + *work_dir_ + "/alerts_test.yaml");
  EXPECT_EQ(test_code, 0) << test_output;
  auto rules = prometheus_->Api("rules");
  ASSERT_TRUE(rules.ok()) << rules.status();
  int loaded = 0;
  for (const auto& group : (*rules)["groups"]) {
    for (const auto& rule : group["rules"]) {
      ++loaded;
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
    }
  }
  EXPECT_GT(loaded, 5);

  auto names_json = prometheus_->Api("label/__name__/values");
  ASSERT_TRUE(names_json.ok()) << names_json.status();
  const std::set<std::string> names = names_json->get<std::set<std::string>>();
  const std::regex metric_name(R"(\b(tartan_[a-z0-9_]+|process_[a-z0-9_]+|up)\b)");
  std::istringstream lines(ReadFile(*expressions_file_));
  std::string line;
  int expressions = 0;
  while (std::getline(lines, line)) {
    const auto item = nlohmann::json::parse(line);
    const std::string expr = item["expr"];
    const std::string source = item["source"];
    ++expressions;
    auto result = prometheus_->Query(expr);
    EXPECT_TRUE(result.ok()) << source << ": " << expr << ": " << result.status();
    int named = 0;
    for (std::sregex_iterator it(expr.begin(), expr.end(), metric_name), end; it != end; ++it) {
      ++named;
      EXPECT_TRUE(names.contains(it->str()))
          << source << " uses " << it->str() << ", which no target exports";
    }
    EXPECT_GT(named, 0) << source << ": " << expr;
  }
  EXPECT_GT(expressions, 20);
}

// docs/metrics.md names, in its tables' first column, exactly the families the services export.
TEST_F(ObservabilityTest, DocsListExactlyTheExportedFamilies) {
  EnsureShardStopped();  // so that every family has a series
  std::set<std::string> exported;
  for (const int port : LiveMetricsPorts()) {
    auto scrape = HttpGet(port, "/metrics");
    ASSERT_TRUE(scrape.ok()) << scrape.status();
    exported.merge(FamilyNames(*scrape));
  }
  std::set<std::string> documented;
  const std::regex row(R"(^\| `([a-z_]+)` \|)");
  std::istringstream doc(ReadFile(SourceDir() + "/docs/metrics.md"));
  std::string line;
  std::smatch match;
  while (std::getline(doc, line)) {
    if (std::regex_search(line, match, row)) documented.insert(match[1]);
  }
  std::set<std::string> undocumented, stale;
  std::set_difference(exported.begin(), exported.end(), documented.begin(), documented.end(),
                      std::inserter(undocumented, undocumented.end()));
  std::set_difference(documented.begin(), documented.end(), exported.begin(), exported.end(),
                      std::inserter(stale, stale.end()));
  EXPECT_TRUE(undocumented.empty())
      << "exported, not in docs/metrics.md: " << absl::StrJoin(undocumented, ", ");
  EXPECT_TRUE(stale.empty()) << "in docs/metrics.md, not exported: " << absl::StrJoin(stale, ", ");
}

}  // namespace
}  // namespace tartan::testing
