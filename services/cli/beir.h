// Reading BEIR-format datasets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) and plain
// JSON-lines document files, as streamed records. No gRPC.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::cli {

struct TextRecord {
  std::string id;
  std::string text;  // BEIR: title + " " + text (title omitted when empty)
  std::map<std::string, std::string> metadata;
};

// Corpus files of a BEIR folder in order: corpus.jsonl, or corpus.part<i>-of-<n>.jsonl parts
// (concatenated in part order). A plain .jsonl file path is returned as is.
absl::StatusOr<std::vector<std::string>> CorpusFiles(const std::string& path);

// Streams records from JSON lines: {"_id"|"id", "title"?, "text", "metadata"?: {k: v}}.
// `fn` returns false to stop early. Errors name the file and line.
absl::Status ForEachRecord(const std::vector<std::string>& files,
                           const std::function<bool(const TextRecord&)>& fn);

// Counts lines (records) without parsing.
absl::StatusOr<size_t> CountRecords(const std::vector<std::string>& files);

// queries.jsonl → id → text.
absl::StatusOr<std::map<std::string, std::string>> ReadQueries(const std::string& beir_dir);

// qrels: query id → (doc id → relevance). Reads qrels/<split>.tsv (with its header line).
using Qrels = std::map<std::string, std::map<std::string, int>>;
absl::StatusOr<Qrels> ReadQrels(const std::string& beir_dir, const std::string& split);

}  // namespace tartan::cli
