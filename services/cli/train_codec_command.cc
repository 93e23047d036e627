// tartanctl train-codec: trains one codec (k-means centroids and residual buckets) on a sample
// of token vectors and writes it as a codec file, for every shard of an index to share
// (tartan-indexer --codec_file): shards that encode with one codec give a document the same
// score, so the router's merged top-k ranks as one index would. The file is a Tartan segment
// file holding no documents (segment_file.h), so any shard's segment file works as well.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/commands.h"
#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/segment_file.h"

namespace tartan::cli {
namespace {

struct TrainCodecOptions {
  std::string vectors;
  std::string out;
  int nbits = 4;
  uint64_t index_tokens = 0;
};

// Token vectors of `tartanctl encode --documents` output, one JSON line per document.
absl::Status ReadVectors(const std::string& path, std::vector<float>* x, int* dim) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("embeddings") || !j["embeddings"].is_array())
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": no \"embeddings\" array"));
    for (const auto& row : j["embeddings"]) {
      if (!row.is_array() || row.empty())
        return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": bad embedding row"));
      if (*dim == 0) *dim = int(row.size());
      if (int(row.size()) != *dim) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", n, ": a row of ", row.size(), " values, expected ", *dim));
      }
      for (const auto& v : row) {
        if (!v.is_number())
          return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": a non-number"));
        x->push_back(v.get<float>());
      }
    }
  }
  if (x->empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no vectors"));
  return absl::OkStatus();
}

int RunTrainCodec(const TrainCodecOptions& o) {
  auto fail = [](const absl::Status& status) { return Fail("train-codec", status); };
  std::vector<float> x;
  int dim = 0;
  if (absl::Status st = ReadVectors(o.vectors, &x, &dim); !st.ok()) return fail(st);
  if (dim % 8 != 0) {
    return fail(absl::InvalidArgumentError(absl::StrCat("dim ", dim, " is not a multiple of 8")));
  }
  const size_t n = x.size() / size_t(dim);
  index::CodecTrainOptions t;
  t.nbits = o.nbits;
  t.total_tokens = o.index_tokens > 0 ? o.index_tokens : n;
  absl::StatusOr<index::Codec> codec = index::TrainCodec(x.data(), n, dim, t);
  if (!codec.ok()) return fail(codec.status());
  if (absl::Status st = index::WriteCodecFile(o.out, *codec); !st.ok()) return fail(st);
  std::printf(
      "trained a codec on %zu token vectors (dim %d): %d centroids, nbits %d, id %016llx -> %s\n",
      n, dim, codec->num_centroids, codec->nbits, static_cast<unsigned long long>(codec->id),
      o.out.c_str());
  return 0;
}

}  // namespace

Command AddTrainCodecCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<TrainCodecOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "train-codec", "train one codec for every shard of an index (tartan-indexer --codec_file)");
  cmd->footer(
      "Trains k-means centroids and residual buckets on the token vectors of a sample of "
      "documents (`tartanctl encode --documents` output) and writes them as a codec file. Start "
      "every tartan-indexer of the index with --codec_file=FILE: they then encode with the same "
      "codec, never train their own, and score a document alike, so merged results rank as one "
      "index would. The centroid count follows the index size (--index-tokens): "
      "2^floor(log2(16 sqrt(tokens))).");
  cmd->add_option("--vectors", o->vectors,
                  "JSON lines with \"embeddings\" (tartanctl encode output)")
      ->required()
      ->type_name("FILE");
  cmd->add_option("--out", o->out, "the codec file to write")->required()->type_name("FILE");
  cmd->add_option("--nbits", o->nbits, "residual bits per dimension")
      ->type_name("N")
      ->check(CLI::IsMember({1, 2, 4}))
      ->capture_default_str();
  cmd->add_option("--index-tokens,--index_tokens", o->index_tokens,
                  "token vectors the whole index will hold, all shards together (sizes the "
                  "centroids; default: the sample's)")
      ->type_name("N");
  return {cmd, [o] { return RunTrainCodec(*o); }};
}

}  // namespace tartan::cli
