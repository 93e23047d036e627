#include "services/cli/beir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace tartan::cli {
namespace fs = std::filesystem;

absl::StatusOr<std::vector<std::string>> CorpusFiles(const std::string& path) {
  if (fs::is_regular_file(path)) return std::vector<std::string>{path};
  if (!fs::is_directory(path))
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  if (fs::is_regular_file(fs::path(path) / "corpus.jsonl")) {
    return std::vector<std::string>{(fs::path(path) / "corpus.jsonl").string()};
  }
  const std::regex part(R"(corpus\.part(\d+)-of-(\d+)\.jsonl)");
  std::vector<std::pair<int, std::string>> parts;
  int total = 0;
  for (const auto& entry : fs::directory_iterator(path)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, part)) {
      parts.emplace_back(std::stoi(m[1]), entry.path().string());
      total = std::stoi(m[2]);
    }
  }
  std::sort(parts.begin(), parts.end());
  if (parts.empty()) return absl::NotFoundError(absl::StrCat(path, ": no corpus.jsonl"));
  if (static_cast<int>(parts.size()) != total) {
    return absl::DataLossError(
        absl::StrCat(path, ": found ", parts.size(), " of ", total, " corpus parts"));
  }
  std::vector<std::string> files;
  for (auto& [index, file] : parts) files.push_back(file);
  return files;
}

absl::Status ForEachRecord(const std::vector<std::string>& files,
                           const std::function<bool(const TextRecord&)>& fn) {
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", file));
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      TextRecord record;
      try {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.contains("_id")) {
          record.id = j.at("_id").is_string() ? j.at("_id").get<std::string>() : j.at("_id").dump();
        } else if (j.contains("id")) {
          record.id = j.at("id").is_string() ? j.at("id").get<std::string>() : j.at("id").dump();
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(file, ":", line_no, ": no \"_id\" or \"id\""));
        }
        const std::string title = j.value("title", "");
        const std::string text = j.value("text", "");
        record.text = title.empty() ? text : (text.empty() ? title : title + " " + text);
        if (j.contains("metadata") && j.at("metadata").is_object()) {
          for (const auto& [key, value] : j.at("metadata").items()) {
            record.metadata[key] = value.is_string() ? value.get<std::string>() : value.dump();
          }
        }
      } catch (const std::exception& e) {
        return absl::InvalidArgumentError(absl::StrCat(file, ":", line_no, ": ", e.what()));
      }
      if (!fn(record)) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> CountRecords(const std::vector<std::string>& files) {
  size_t count = 0;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", file));
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) ++count;
    }
  }
  return count;
}

absl::StatusOr<std::map<std::string, std::string>> ReadQueries(const std::string& beir_dir) {
  std::map<std::string, std::string> queries;
  const std::string file = (fs::path(beir_dir) / "queries.jsonl").string();
  absl::Status status = ForEachRecord({file}, [&](const TextRecord& r) {
    queries[r.id] = r.text;
    return true;
  });
  if (!status.ok()) return status;
  return queries;
}

absl::StatusOr<Qrels> ReadQrels(const std::string& beir_dir, const std::string& split) {
  const std::string file = (fs::path(beir_dir) / "qrels" / (split + ".tsv")).string();
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", file));
  Qrels qrels;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    int score = 0;
    if (cols.size() < 3 || !absl::SimpleAtoi(cols[2], &score)) {
      if (line_no == 1) continue;  // header: query-id corpus-id score
      return absl::InvalidArgumentError(
          absl::StrCat(file, ":", line_no, ": expected 3 tab-separated columns"));
    }
    qrels[cols[0]][cols[1]] = score;
  }
  return qrels;
}

}  // namespace tartan::cli
