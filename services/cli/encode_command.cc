// tartanctl encode: JSON lines {"text": "..."} on stdin -> one JSON line per input on stdout,
// {"ids": [model input ids], "embeddings": [[float, ...], ...]}, in input order. Floats are
// printed with %.9g, enough to round-trip float32 exactly.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::cli {
namespace {

using encoder::ColbertEncoder;
using encoder::EncodedText;
using encoder::EncodeParams;
using encoder::EncoderOptions;

const std::vector<FlagSpec>& EncodeFlags() {
  static const std::vector<FlagSpec> kFlags = {
      {"model", "DIR", "PyLate model folder (required)"},
      {"queries", nullptr, "encode the inputs as queries"},
      {"documents", nullptr, "encode the inputs as documents"},
      {"prompt-name", "NAME", "prompt from config_sentence_transformers.json"},
      {"pool-factor", "N", "hierarchical token pooling of documents (default 1: none)"},
      {"pool-version", "main|1.4.0", "PyLate pooling variant (default main)"},
      {"threads", "N", "backbone threads (default 1)"},
      {"precision", "fp32|bf16|int8", "backbone precision (default fp32)"},
      {"batch-lines", "N", "input lines encoded per call (default 256)"},
      {"max-batch-tokens", "N", "tokens per backbone forward (default 8192)"},
      {"help", nullptr, "show this help"},
  };
  return kFlags;
}

constexpr char kSynopsis[] =
    "--model DIR (--queries|--documents) [flags] < inputs.jsonl > vectors.jsonl";

// Same text as printf("%.9g") (9 significant digits round-trip float32), without printf's
// locale and parsing overhead.
void AppendFloat(std::string* out, float v) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 9);
  out->append(buf, result.ptr);
}

void WriteResult(const EncodedText& r, std::string* out) {
  out->clear();
  out->append("{\"ids\": [");
  for (size_t i = 0; i < r.ids.size(); ++i) {
    if (i) out->append(", ");
    absl::StrAppend(out, r.ids[i]);
  }
  out->append("], \"embeddings\": [");
  for (int t = 0; t < r.num_tokens; ++t) {
    out->append(t ? ", [" : "[");
    for (int d = 0; d < r.dim; ++d) {
      if (d) out->append(", ");
      AppendFloat(out, r.vectors[static_cast<size_t>(t) * r.dim + d]);
    }
    out->push_back(']');
  }
  out->append("]}\n");
}

// Parses one input line; `line_number` is 1-based for messages.
absl::StatusOr<std::string> ParseInputLine(const std::string& line, long long line_number) {
  try {
    nlohmann::json j = nlohmann::json::parse(line);
    if (!j.is_object() || !j.contains("text")) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": expected an object with a \"text\" string"));
    }
    if (!j["text"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": \"text\" must be a string"));
    }
    return j["text"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_number, ": invalid JSON: ", e.what()));
  }
}

}  // namespace

int RunEncode(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, EncodeFlags());
  if (!args.ok()) {
    std::fprintf(stderr, "tartanctl encode: %s\n\n%s", std::string(args.status().message()).c_str(),
                 Usage("encode", kSynopsis, EncodeFlags()).c_str());
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(Usage("encode", kSynopsis, EncodeFlags()).c_str(), stdout);
    return 0;
  }
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "tartanctl encode: %s\n", std::string(status.message()).c_str());
    return 1;
  };
  const std::optional<std::string> model = args->Get("model");
  if (!model) return fail(absl::InvalidArgumentError("--model DIR is required"));
  if (args->Has("queries") == args->Has("documents")) {
    return fail(absl::InvalidArgumentError("give exactly one of --queries or --documents"));
  }
  EncodeParams params;
  params.is_query = args->Has("queries");
  params.prompt_name = args->Get("prompt-name");
  auto pool_factor = args->GetInt("pool-factor", 1, 1, 1 << 20);
  auto threads = args->GetInt("threads", 1, 1, 1024);
  auto batch_lines = args->GetInt("batch-lines", 256, 1, 1 << 20);
  auto max_batch_tokens = args->GetInt("max-batch-tokens", 8192, 1, 1 << 30);
  for (const auto* v : {&pool_factor, &threads, &batch_lines, &max_batch_tokens}) {
    if (!v->ok()) return fail(v->status());
  }
  params.pool_factor = static_cast<int>(*pool_factor);
  const std::string pool_version = args->GetOr("pool-version", "main");
  if (pool_version == "main") {
    params.pooling_version = encoder::PoolingVersion::kMain;
  } else if (pool_version == "1.4.0" || pool_version == "v1.4.0") {
    params.pooling_version = encoder::PoolingVersion::kV140;
  } else {
    return fail(absl::InvalidArgumentError("--pool-version must be main or 1.4.0"));
  }
  if (params.is_query && params.pool_factor > 1) {
    return fail(absl::InvalidArgumentError("--pool-factor applies to --documents only"));
  }

  EncoderOptions options;
  options.num_threads = static_cast<int>(*threads);
  options.max_batch_tokens = static_cast<int>(*max_batch_tokens);
  auto precision = encoder::ParsePrecision(args->GetOr("precision", "fp32"));
  if (!precision.ok()) return fail(precision.status());
  options.precision = *precision;

  auto loaded = ColbertEncoder::Load(*model, options);
  if (!loaded.ok()) return fail(loaded.status());
  const ColbertEncoder& enc = **loaded;
  if (params.prompt_name && !enc.info().prompts.contains(*params.prompt_name)) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("--prompt-name \"", *params.prompt_name, "\" is not a prompt of ", *model)));
  }

  std::ios::sync_with_stdio(false);
  std::vector<std::string> texts;
  std::string line;
  std::string out;
  long long line_number = 0;
  auto flush = [&]() -> absl::Status {
    if (texts.empty()) return absl::OkStatus();
    auto results = enc.Encode(texts, params);
    if (!results.ok()) {
      return absl::Status(results.status().code(),
                          absl::StrCat("lines ending at ", line_number, ": ",
                                       results.status().message()));
    }
    for (const EncodedText& r : *results) {
      WriteResult(r, &out);
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    std::fflush(stdout);
    texts.clear();
    return absl::OkStatus();
  };
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    auto text = ParseInputLine(line, line_number);
    if (!text.ok()) {
      absl::Status flushed = flush();  // earlier lines still get their output
      if (!flushed.ok()) return fail(flushed);
      return fail(text.status());
    }
    texts.push_back(std::move(*text));
    if (static_cast<long long>(texts.size()) >= *batch_lines) {
      if (absl::Status s = flush(); !s.ok()) return fail(s);
    }
  }
  if (absl::Status s = flush(); !s.ok()) return fail(s);
  return 0;
}

}  // namespace tartan::cli
