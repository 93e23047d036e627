// Writes a synthetic corpus (synthetic_corpus.h, structured or skewed) and queries derived
// from it as .npy files, so that bench/indexer/peer_bench.py can run every engine (Tartan
// through its gRPC API, faiss, numpy brute force) on the very same vectors:
//   doc_vectors.npy   <f2 [tokens, dim]       every document's tokens, back to back
//   doc_offsets.npy   <i8 [docs + 1]          document i = rows offsets[i]..offsets[i+1]-1
//   queries.npy       <f2 [queries, qtokens, dim]
//   query_positive.npy <i8 [queries]          the document each query was derived from
//   corpus.json       the generator and its options
// Vectors are fp16 because that is what the benchmark sends on the wire (FLOAT16) and what
// its exact reference scores: every engine sees the same rounded values.
//
//   corpus_dump --corpus=skewed --docs=20000 --queries=300 --out=/tmp/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/half.h"
#include "nlohmann/json.hpp"
#include "services/indexer/lib/synthetic_corpus.h"

ABSL_FLAG(std::string, corpus, "structured", "generator: structured or skewed");
ABSL_FLAG(int, docs, 20000, "documents");
ABSL_FLAG(int, queries, 300, "queries, each derived from one document");
ABSL_FLAG(int, query_tokens, 32, "tokens per query");
ABSL_FLAG(int, dim, 128, "vector dimension");
ABSL_FLAG(uint64_t, seed, 42, "generator seed");
ABSL_FLAG(std::string, out, "", "output directory (created)");

namespace tartan::index {
namespace {

// A .npy v1.0 header for `descr` and `shape`, padded so the data starts at a multiple of 64.
// `pad_to` reserves room so a header written before the shape is known can be rewritten.
std::string NpyHeader(const std::string& descr, const std::vector<int64_t>& shape,
                      size_t pad_to = 0) {
  std::string dict = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (",
                                  absl::StrJoin(shape, ", "), shape.size() == 1 ? ",), }" : "), }");
  size_t total = std::max<size_t>(10 + dict.size() + 1, pad_to);
  total = (total + 63) / 64 * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string header("\x93NUMPY\x01\x00", 8);
  header.push_back(char(dict.size() & 0xff));
  header.push_back(char(dict.size() >> 8));
  return header + dict;
}

void WriteHalf(std::ofstream& out, const std::vector<float>& values) {
  std::vector<uint16_t> half(values.size());
  for (size_t i = 0; i < values.size(); ++i) half[i] = FloatToHalf(values[i]);
  out.write(reinterpret_cast<const char*>(half.data()), std::streamsize(half.size() * 2));
}

void WriteInt64(const std::string& path, const std::vector<int64_t>& values) {
  std::ofstream out(path, std::ios::binary);
  out << NpyHeader("<i8", {int64_t(values.size())});
  out.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size() * 8));
}

template <typename Corpus>
int Dump(const Corpus& corpus, const nlohmann::json& options, const std::string& dir) {
  const int dim = corpus.options().dim, docs = corpus.options().num_docs;
  const int nq = absl::GetFlag(FLAGS_queries), qt = corpus.options().query_tokens;
  constexpr size_t kHeaderRoom = 128;  // rewritten once the token count is known
  std::ofstream vectors(dir + "/doc_vectors.npy", std::ios::binary);
  vectors << NpyHeader("<f2", {0, dim}, kHeaderRoom);
  std::vector<int64_t> offsets{0};
  for (int i = 0; i < docs; ++i) {
    const Document d = corpus.MakeDocument(i);
    WriteHalf(vectors, d.vectors);
    offsets.push_back(offsets.back() + d.num_tokens);
  }
  vectors.seekp(0);
  vectors << NpyHeader("<f2", {offsets.back(), dim}, kHeaderRoom);
  vectors.close();
  if (!vectors) {
    std::fprintf(stderr, "corpus_dump: writing %s/doc_vectors.npy failed\n", dir.c_str());
    return 1;
  }
  WriteInt64(dir + "/doc_offsets.npy", offsets);

  std::ofstream queries(dir + "/queries.npy", std::ios::binary);
  queries << NpyHeader("<f2", {nq, qt, dim});
  std::vector<int64_t> positives;
  for (int i = 0; i < nq; ++i) {
    // Spread over the corpus, the same positives as index_bench.
    positives.push_back(int64_t((uint64_t(i) * 2654435761ull) % uint64_t(docs)));
    WriteHalf(queries, corpus.MakeQuery(int(positives.back()), uint64_t(i)));
  }
  queries.close();
  WriteInt64(dir + "/query_positive.npy", positives);
  std::ofstream(dir + "/corpus.json") << options.dump(1) << "\n";
  std::printf("corpus_dump: %d documents, %lld tokens, %d queries x %d tokens, dim %d -> %s\n",
              docs, static_cast<long long>(offsets.back()), nq, qt, dim, dir.c_str());
  return 0;
}

int Main() {
  const std::string kind = absl::GetFlag(FLAGS_corpus), dir = absl::GetFlag(FLAGS_out);
  if (dir.empty()) {
    std::fprintf(stderr, "corpus_dump: --out is required\n");
    return 2;
  }
  std::filesystem::create_directories(dir);
  nlohmann::json options = {{"corpus", kind},
                            {"docs", absl::GetFlag(FLAGS_docs)},
                            {"queries", absl::GetFlag(FLAGS_queries)},
                            {"query_tokens", absl::GetFlag(FLAGS_query_tokens)},
                            {"dim", absl::GetFlag(FLAGS_dim)},
                            {"seed", absl::GetFlag(FLAGS_seed)}};
  if (kind == "structured") {
    SyntheticOptions o;
    o.num_docs = absl::GetFlag(FLAGS_docs);
    o.query_tokens = absl::GetFlag(FLAGS_query_tokens);
    o.dim = absl::GetFlag(FLAGS_dim);
    o.seed = absl::GetFlag(FLAGS_seed);
    return Dump(SyntheticCorpus(o), options, dir);
  }
  if (kind == "skewed") {
    SkewedSyntheticOptions o;
    o.num_docs = absl::GetFlag(FLAGS_docs);
    o.query_tokens = absl::GetFlag(FLAGS_query_tokens);
    o.dim = absl::GetFlag(FLAGS_dim);
    o.seed = absl::GetFlag(FLAGS_seed);
    options["stopwords"] = o.num_stopwords;
    options["stopword_fraction"] = o.stopword_fraction;
    options["topic_zipf"] = o.topic_zipf;
    options["cluster_zipf"] = o.cluster_zipf;
    return Dump(SkewedSyntheticCorpus(o), options, dir);
  }
  std::fprintf(stderr, "corpus_dump: --corpus must be structured or skewed, got '%s'\n",
               kind.c_str());
  return 2;
}

}  // namespace
}  // namespace tartan::index

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tartan::index::Main();
}
