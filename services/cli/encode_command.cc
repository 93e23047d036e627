// tartanctl encode: JSON lines {"text": "..."} on stdin -> one JSON line per input on stdout,
// {"ids": [model input ids], "embeddings": [[float, ...], ...]}, in input order. Floats are
// printed with %.9g, enough to round-trip float32 exactly.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/commands.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"

namespace tartan::cli {
namespace {

using encoder::ColbertEncoder;
using encoder::EncodedText;
using encoder::EncodeParams;
using encoder::EncoderOptions;

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

struct EncodeOptions {
  std::string model;
  bool queries = false;
  bool documents = false;
  std::string prompt_name;  // empty: none
  int pool_factor = 1;
  std::string pool_version = "main";
  int threads = 1;
  std::string precision = "fp32";
  int batch_lines = 256;
  int max_batch_tokens = 8192;
};

int RunEncode(const EncodeOptions& o) {
  auto fail = [](const absl::Status& status) { return Fail("encode", status); };
  EncodeParams params;
  params.is_query = o.queries;
  if (!o.prompt_name.empty()) params.prompt_name = o.prompt_name;
  params.pool_factor = o.pool_factor;
  params.pooling_version =
      o.pool_version == "main" ? encoder::PoolingVersion::kMain : encoder::PoolingVersion::kV140;
  if (params.is_query && params.pool_factor > 1) {
    return fail(absl::InvalidArgumentError("--pool-factor applies to --documents only"));
  }

  EncoderOptions options;
  options.num_threads = o.threads;
  options.max_batch_tokens = o.max_batch_tokens;
  auto precision = encoder::ParsePrecision(o.precision);
  if (!precision.ok()) return fail(precision.status());
  options.precision = *precision;

  auto loaded = ColbertEncoder::Load(o.model, options);
  if (!loaded.ok()) return fail(loaded.status());
  const ColbertEncoder& enc = **loaded;
  if (params.prompt_name && !enc.info().prompts.contains(*params.prompt_name)) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("--prompt-name \"", *params.prompt_name, "\" is not a prompt of ", o.model)));
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
      return absl::Status(results.status().code(), absl::StrCat("lines ending at ", line_number,
                                                                ": ", results.status().message()));
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
    if (static_cast<long long>(texts.size()) >= o.batch_lines) {
      if (absl::Status s = flush(); !s.ok()) return fail(s);
    }
  }
  if (absl::Status s = flush(); !s.ok()) return fail(s);
  return 0;
}

}  // namespace

Command AddEncodeCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<EncodeOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "encode", "encode JSON lines {\"text\": ...} from stdin into ColBERT token vectors");
  cmd->footer(
      "Reads JSON lines {\"text\": ...} on stdin and writes one JSON line {\"ids\": [model input "
      "ids], \"embeddings\": [[float, ...], ...]} per input on stdout, in input order "
      "(PyLate-exact at fp32).");
  cmd->add_option("--model", o->model, "PyLate model folder")->required()->type_name("DIR");
  CLI::Option_group* kind = cmd->add_option_group("input kind", "exactly one of:");
  kind->add_flag("--queries", o->queries, "encode the inputs as queries");
  kind->add_flag("--documents", o->documents, "encode the inputs as documents");
  kind->require_option(1);
  cmd->add_option("--prompt-name", o->prompt_name, "prompt from config_sentence_transformers.json")
      ->type_name("NAME");
  cmd->add_option("--pool-factor", o->pool_factor,
                  "hierarchical token pooling of documents (1: none)")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 20).description(""))
      ->capture_default_str();
  cmd->add_option("--pool-version", o->pool_version, "PyLate pooling variant")
      ->check(CLI::IsMember({"main", "1.4.0", "v1.4.0"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "backbone threads")
      ->type_name("N")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--precision", o->precision,
                  "backbone precision (fp32 is PyLate-exact; int8 is lossy, see README)")
      ->type_name("auto|fp32|bf16|int8")
      ->check(CLI::Validator(
          [](std::string& value) {
            auto precision = encoder::ParsePrecision(value);
            return precision.ok() ? std::string() : std::string(precision.status().message());
          },
          ""))
      ->capture_default_str();
  cmd->add_option("--batch-lines", o->batch_lines, "input lines encoded per call")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 20).description(""))
      ->capture_default_str();
  cmd->add_option("--max-batch-tokens", o->max_batch_tokens, "tokens per backbone forward")
      ->type_name("N")
      ->check(CLI::Range(1, 1 << 30).description(""))
      ->capture_default_str();
  return {cmd, [o] { return RunEncode(*o); }};
}

}  // namespace tartan::cli
