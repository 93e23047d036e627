// tartanctl ingest: stream documents (JSON lines or a BEIR folder) to the router in batches,
// with a progress line (docs/s, ETA), resumable after an interruption (a checkpoint file
// records how many records the cluster acknowledged; upserts are idempotent, so replaying the
// last unacknowledged batch is safe), and a summary at the end. Transient refusals — a shard
// pushing back while its flushes catch up (RESOURCE_EXHAUSTED, "retry later"), a restarting
// service (UNAVAILABLE), a batch out of time — are retried with exponential backoff, so a
// bulk load outlasts them; anything else stops the run at once.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include <xxhash.h>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/beir.h"
#include "services/cli/commands.h"
#include "services/cli/router_client.h"

namespace tartan::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct IngestOptions {
  std::string input;
  RouterTarget router;
  int batch_size = 32;
  long long limit = -1;  // -1: all
  int pool_factor = 1;
  std::string prompt_name;  // empty: none
  std::string checkpoint;   // empty: DefaultCheckpoint(input, router)
  bool restart = false;
  int timeout = 120;  // seconds
  int retries = 10;   // per batch, for transient errors
};

// Errors a bulk load waits out (resending a batch is safe: upserts replace by id).
bool Transient(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Before retry `attempt` (1, 2, ...): 0.5 s doubling up to 10 s, jittered by +-25% so that
// loaders refused together do not return together.
std::chrono::milliseconds Backoff(int attempt, std::mt19937* rng) {
  const double base = std::min(10.0, 0.5 * double(1 << std::min(attempt - 1, 5)));
  return std::chrono::milliseconds(
      int64_t(1000 * base * std::uniform_real_distribution<double>(0.75, 1.25)(*rng)));
}

std::string DefaultCheckpoint(const std::string& input, const std::string& router) {
  const char* home = std::getenv("HOME");
  const std::string key = fs::absolute(input).string() + "|" + router;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(XXH64(key.data(), key.size(), 0)));
  return absl::StrCat(home ? home : "/tmp", "/.cache/tartan/ingest-", hex, ".json");
}

size_t ReadCheckpoint(const std::string& path) {
  std::ifstream in(path);
  if (!in) return 0;
  try {
    return nlohmann::json::parse(in).value("acknowledged", size_t{0});
  } catch (const std::exception&) {
    return 0;
  }
}

bool WriteCheckpoint(const std::string& path, const std::string& input, size_t acknowledged) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"input", input}, {"acknowledged", acknowledged}}.dump() << "\n";
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;  // atomic: never a torn checkpoint
}

void Progress(size_t done, size_t total, size_t session_docs, double seconds, bool tty,
              bool final) {
  const double rate = seconds > 0 ? session_docs / seconds : 0;
  const double eta = rate > 0 ? (total - done) / rate : 0;
  const int width = 30;
  const int filled = total ? static_cast<int>(width * static_cast<double>(done) / total) : width;
  std::string bar(filled, '=');
  bar.resize(width, ' ');
  std::fprintf(stderr, "%s[%s] %zu/%zu docs  %.1f docs/s  ETA %.0fs%s", tty ? "\r" : "",
               bar.c_str(), done, total, rate, eta, tty && !final ? "" : "\n");
  std::fflush(stderr);
}

int RunIngest(const IngestOptions& o) {
  const std::string& input = o.input;
  auto files = CorpusFiles(input);
  if (!files.ok()) {
    return Fail("ingest", files.status());
  }
  auto count = CountRecords(*files);
  if (!count.ok()) {
    return Fail("ingest", count.status());
  }
  size_t total = *count;
  if (o.limit >= 0) total = std::min<size_t>(total, static_cast<size_t>(o.limit));

  const std::string checkpoint =
      !o.checkpoint.empty() ? o.checkpoint : DefaultCheckpoint(input, o.router.address);
  size_t skip = o.restart ? 0 : ReadCheckpoint(checkpoint);
  if (skip > total) skip = total;
  if (skip > 0) {
    std::fprintf(stderr, "ingest: resuming after %zu acknowledged records (%s)\n", skip,
                 checkpoint.c_str());
  }

  auto stub = MakeRouterStub(o.router);
  const bool tty = isatty(STDERR_FILENO);
  const auto start = Clock::now();
  auto last_report = start;
  size_t seen = 0, acknowledged = skip, session_docs = 0;
  uint64_t tokens = 0;
  std::string error;
  std::mt19937 rng(std::random_device{}());
  size_t retried = 0;
  tartan::v1::AddDocumentsRequest request;
  auto flush = [&]() -> bool {
    if (request.documents_size() == 0) return true;
    if (!o.prompt_name.empty()) request.set_prompt_name(o.prompt_name);
    request.set_pool_factor(static_cast<uint32_t>(o.pool_factor));
    tartan::v1::AddDocumentsResponse response;
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      SetTimeout(&context, static_cast<double>(o.timeout));
      response.Clear();
      const grpc::Status status = stub->AddDocuments(&context, request, &response);
      if (status.ok()) break;
      if (!Transient(status) || attempt >= o.retries) {
        error = attempt > 0 ? absl::StrCat(Describe(status), " (after ", attempt, " retries)")
                            : Describe(status);
        return false;
      }
      const auto wait = Backoff(attempt + 1, &rng);
      std::fprintf(stderr, "%singest: batch refused (%s); retry %d of %d in %.1f s\n",
                   tty ? "\n" : "", Describe(status).c_str(), attempt + 1, o.retries,
                   wait.count() / 1000.0);
      ++retried;
      std::this_thread::sleep_for(wait);
    }
    acknowledged += request.documents_size();
    session_docs += request.documents_size();
    tokens += response.tokens();
    request.clear_documents();
    WriteCheckpoint(checkpoint, input, acknowledged);
    const auto now = Clock::now();
    if (tty || now - last_report > std::chrono::seconds(5)) {
      Progress(acknowledged, total, session_docs,
               std::chrono::duration<double>(now - start).count(), tty, false);
      last_report = now;
    }
    return true;
  };
  absl::Status status = ForEachRecord(*files, [&](const TextRecord& record) {
    if (seen >= total) return false;
    if (seen++ < skip) return true;
    auto* doc = request.add_documents();
    doc->set_id(record.id);
    doc->set_text(record.text);
    doc->mutable_metadata()->insert(record.metadata.begin(), record.metadata.end());
    if (request.documents_size() >= o.batch_size) return flush();
    return true;
  });
  if (status.ok() && error.empty()) flush();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Progress(acknowledged, total, session_docs, seconds, tty, true);
  if (!status.ok() || !error.empty()) {
    std::fprintf(stderr,
                 "ingest: stopped after %zu acknowledged records: %s\n"
                 "ingest: run the same command again to resume\n",
                 acknowledged,
                 !error.empty() ? error.c_str() : std::string(status.message()).c_str());
    return 1;
  }
  std::printf("ingested %zu documents (%llu token vectors) in %.1f s: %.1f docs/s%s%s\n",
              session_docs, static_cast<unsigned long long>(tokens), seconds,
              seconds > 0 ? session_docs / seconds : 0.0,
              skip ? absl::StrCat(" (", skip, " skipped: already acknowledged)").c_str() : "",
              retried ? absl::StrCat("; ", retried, " retries").c_str() : "");
  std::error_code ec;
  fs::remove(checkpoint, ec);  // complete: a later run starts afresh
  return 0;
}

}  // namespace

Command AddIngestCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<IngestOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "ingest", "stream JSON lines or a BEIR corpus into the cluster (resumable)");
  cmd->add_option("--input", o->input, "JSON lines file, or a BEIR folder with corpus.jsonl")
      ->required()
      ->type_name("PATH");
  AddRouterOption(cmd, &o->router);
  cmd->add_option("--batch-size", o->batch_size, "documents per AddDocuments call")
      ->type_name("N")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "stop after N records (default: all)")
      ->type_name("N")
      ->check(CLI::Range(0LL, 1LL << 40));
  cmd->add_option("--pool-factor", o->pool_factor, "token pooling factor for documents (1: none)")
      ->type_name("N")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--prompt-name", o->prompt_name, "encoder prompt for documents")
      ->type_name("NAME");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "progress file (default ~/.cache/tartan/ingest-<hash>.json)")
      ->type_name("FILE");
  cmd->add_flag("--restart", o->restart,
                "ignore an existing checkpoint and start from the first record");
  cmd->add_option("--timeout", o->timeout, "per-batch deadline")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--retries", o->retries,
                  "retries per batch refused for a transient reason (RESOURCE_EXHAUSTED, "
                  "UNAVAILABLE, DEADLINE_EXCEEDED), backing off from 0.5 s to 10 s")
      ->type_name("N")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  return {cmd, [o] { return RunIngest(*o); }};
}

}  // namespace tartan::cli
