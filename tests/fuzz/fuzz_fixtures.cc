#include "tests/fuzz/fuzz_fixtures.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "services/encoder/lib/colbert/synthetic_checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

namespace tartan::fuzz {

namespace {

template <typename T>
T MustOk(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "fuzz fixture: %s: %s\n", what, value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

void MustOk(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "fuzz fixture: %s: %s\n", what, status.ToString().c_str());
    std::abort();
  }
}

index::Document RandomDocument(int i, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  index::Document doc;
  doc.id = "d" + std::to_string(i);
  doc.num_tokens = 4 + i % 9;
  doc.vectors.resize(size_t(doc.num_tokens) * kFuzzDim);
  for (int t = 0; t < doc.num_tokens; ++t) {
    float norm = 0;
    float* row = doc.vectors.data() + size_t(t) * kFuzzDim;
    for (int d = 0; d < kFuzzDim; ++d) {
      row[d] = normal(rng);
      norm += row[d] * row[d];
    }
    for (int d = 0; d < kFuzzDim; ++d) {
      row[d] /= std::sqrt(norm);
    }
  }
  doc.metadata = {{"lang", i % 2 == 0 ? "en" : "fr"}, {"n", std::to_string(i)}};
  return doc;
}

}  // namespace

indexer::IndexerService& FuzzIndexer() {
  static indexer::IndexerService* service = [] {
    static prometheus::Registry registry;
    auto* s = new indexer::IndexerService(registry, {.allow_exact_search = true});
    index::ShardOptions options;
    options.data_dir = ScratchDir() + "/shard";
    options.dim = kFuzzDim;
    options.nbits = 2;
    options.background_compaction = false;
    options.build_threads = 1;
    std::shared_ptr<index::Shard> shard = MustOk(index::Shard::Open(options), "open shard");
    std::mt19937 rng(12);
    std::vector<index::Document> docs;
    for (int i = 0; i < 40; ++i) {
      docs.push_back(RandomDocument(i, rng));
      if (i == 29) {
        MustOk(shard->Upsert(std::move(docs)), "upsert");
        MustOk(shard->Flush(), "flush");
        docs.clear();
      }
    }
    MustOk(shard->Upsert(std::move(docs)), "upsert");
    s->SetShard({.shard = shard,
                 .name = "fuzz",
                 .dim = kFuzzDim,
                 .nbits = options.nbits,
                 .data_dir = options.data_dir});
    return s;
  }();
  return *service;
}

encoder::EncoderService& FuzzEncoder() {
  static encoder::EncoderService* service = [] {
    static prometheus::Registry registry;
    auto* s = new encoder::EncoderService({}, registry);
    auto spec = MustOk(encoder::SyntheticCheckpointPreset("bert", "tiny"), "preset");
    spec.dim = kFuzzDim;
    spec.vocab_from = SharedDir() + "/data/answerai-colbert-small-v1";
    const std::string dir = ScratchDir() + "/model";
    MustOk(encoder::WriteSyntheticCheckpoint(dir, spec), "write checkpoint");
    std::shared_ptr<const encoder::ColbertEncoder> model =
        MustOk(encoder::ColbertEncoder::Load(dir, {}), "load checkpoint");
    s->SetModel(model, {});
    return s;
  }();
  return *service;
}

void AbortOnServerFault(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::INTERNAL ||
      status.error_code() == grpc::StatusCode::UNKNOWN) {
    std::fprintf(stderr, "unexpected %d: %s\n", int(status.error_code()),
                 status.error_message().c_str());
    std::abort();
  }
}

}  // namespace tartan::fuzz
