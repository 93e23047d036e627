// Writes the generated seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/
// (committed; re-run after a format change): serialized requests for the service targets,
// a small segment file, a small safetensors checkpoint, model folders, .npy arrays and a
// synthetic PLAID index packed as records (fuzz_support.h). Hand-written seeds (tokenizer
// text, tokenizer.json, config.json) live beside them.
// Usage: fuzz_make_seeds <tests/fuzz/corpus>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "services/encoder/lib/safetensors.h"
#include "services/indexer/lib/codec.h"
#include "services/indexer/lib/plaid_import.h"
#include "services/indexer/lib/segment_file.h"
#include "tartan/v1/encoder.pb.h"
#include "tartan/v1/indexer.pb.h"
#include "tartan/v1/router.pb.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace v1 = tartan::v1;
using tartan::fuzz::ReadFile;
using tartan::fuzz::WriteFile;

std::string root;

void Must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "make_seeds: %s\n", what.c_str());
    std::exit(1);
  }
}

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(root + "/" + target);
  WriteFile(root + "/" + target + "/" + name, bytes);
}

// One record of fuzz_support.h's SplitRecords format.
std::string Record(int name, const std::string& bytes) {
  Must(bytes.size() < (1u << 24), "record too large");
  std::string out;
  out.push_back(char(name));
  out.push_back(char(bytes.size() & 0xff));
  out.push_back(char((bytes.size() >> 8) & 0xff));
  out.push_back(char((bytes.size() >> 16) & 0xff));
  return out + bytes;
}

// A .npy file (format 1.0, C order) around raw little-endian elements.
std::string Npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                size_t bytes) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(char(header.size() & 0xff));
  out.push_back(char(header.size() >> 8));
  return out + header + std::string(static_cast<const char*>(data), bytes);
}

template <typename T>
std::string NpyOf(const std::string& descr, const std::vector<int64_t>& shape,
                  const std::vector<T>& values) {
  return Npy(descr, shape, values.data(), values.size() * sizeof(T));
}

v1::TokenVectors Vectors(int rows, int dim, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(size_t(rows) * dim);
  for (float& x : v) x = normal(rng);
  v1::TokenVectors out;
  out.set_rows(rows);
  out.set_dim(dim);
  out.set_dtype(v1::FLOAT32);
  out.set_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  return out;
}

std::string Method(int method, const google::protobuf::Message& request) {
  return std::string(1, char(method)) + request.SerializeAsString();
}

void IndexerSeeds(std::mt19937& rng) {
  const std::string t = "indexer_service";
  v1::UpsertRequest upsert;
  auto* doc = upsert.add_documents();
  doc->set_id("new-doc");
  *doc->mutable_vectors() = Vectors(3, 32, rng);
  (*doc->mutable_metadata())["lang"] = "en";
  Seed(t, "upsert", Method(0, upsert));
  v1::DeleteRequest del;
  del.add_ids("d1");
  del.add_ids("missing");
  Seed(t, "delete", Method(1, del));
  v1::ShardSearchRequest search;
  *search.mutable_query() = Vectors(4, 32, rng);
  search.set_k(5);
  search.set_include_metadata(true);
  Seed(t, "search", Method(2, search));
  auto* in = search.mutable_filter()->mutable_or_()->add_clauses()->mutable_in();
  in->set_key("lang");
  in->add_values("fr");
  in->add_values("de");
  auto* eq = search.mutable_filter()->mutable_or_()->add_clauses()->mutable_equals();
  eq->set_key("n");
  eq->set_value("4");
  search.add_id_subset("d4");
  search.add_id_subset("d5");
  search.mutable_params()->set_nprobe(8);
  search.mutable_params()->set_candidates_approx(64);
  search.mutable_params()->set_candidates_exact(16);
  search.mutable_params()->set_centroid_score_threshold(0.1f);
  Seed(t, "search-filtered", Method(2, search));
  search.clear_filter();
  search.clear_id_subset();
  search.mutable_params()->set_exact(true);
  Seed(t, "search-exact", Method(2, search));
  v1::GetRequest get;
  get.add_ids("d3");
  get.add_ids("d35");
  Seed(t, "get", Method(3, get));
  v1::StatsRequest stats;
  Seed(t, "stats", Method(4, stats));
  v1::FlushRequest flush;
  Seed(t, "flush", Method(5, flush));
  v1::CompactRequest compact;
  Seed(t, "compact", Method(6, compact));
  v1::GetCodecRequest get_codec;
  get_codec.set_known_codec_id(1);
  Seed(t, "get-codec", Method(7, get_codec));
}

void RouterSeeds(std::mt19937& rng) {
  const std::string t = "router_service";
  v1::AddDocumentsRequest add;
  auto* doc = add.add_documents();
  doc->set_id("text-doc");
  doc->set_text("A short document about rivers and bridges.");
  (*doc->mutable_metadata())["lang"] = "en";
  auto* vec_doc = add.add_documents();
  vec_doc->set_id("vector-doc");
  *vec_doc->mutable_vectors() = Vectors(2, 32, rng);
  add.set_pool_factor(2);
  Seed(t, "add", Method(0, add));
  v1::DeleteDocumentsRequest del;
  del.add_ids("d2");
  Seed(t, "delete", Method(1, del));
  v1::SearchRequest search;
  search.set_text("bridges over rivers");
  search.set_k(3);
  search.set_include_metadata(true);
  auto* eq = search.mutable_filter()->mutable_equals();
  eq->set_key("lang");
  eq->set_value("en");
  Seed(t, "search-text", Method(2, search));
  v1::SearchRequest by_vectors;
  *by_vectors.mutable_vectors() = Vectors(3, 32, rng);
  by_vectors.set_k(10);
  Seed(t, "search-vectors", Method(2, by_vectors));
  v1::SearchBatchRequest batch;
  *batch.add_requests() = search;
  *batch.add_requests() = by_vectors;
  Seed(t, "search-batch", Method(3, batch));
  v1::RerankRequest rerank;
  rerank.set_text("rivers");
  auto* c1 = rerank.add_candidates();
  c1->set_id("a");
  c1->set_text("a river in spring");
  auto* c2 = rerank.add_candidates();
  c2->set_id("b");
  c2->set_text("a mountain in winter");
  rerank.set_k(1);
  Seed(t, "rerank", Method(4, rerank));
  v1::ClusterStatusRequest status;
  Seed(t, "cluster-status", Method(5, status));
}

void EncoderAndCheckSeeds() {
  v1::EncodeRequest encode;
  encode.add_texts("what is a colbert model?");
  encode.set_kind(v1::QUERY);
  encode.set_return_token_ids(true);
  Seed("encoder_service", "query", encode.SerializeAsString());
  encode.set_kind(v1::DOCUMENT);
  encode.add_texts("ColBERT scores every query token against every document token.");
  encode.set_pool_factor(2);
  encode.set_dtype(v1::FLOAT16);
  Seed("encoder_service", "documents", encode.SerializeAsString());

  v1::SearchRequest search;
  search.set_text("query");
  search.set_k(10);
  search.mutable_params()->set_nprobe(4);
  search.mutable_params()->set_centroid_score_threshold(0.5f);
  auto* clauses = search.mutable_filter()->mutable_and_();
  auto* in = clauses->add_clauses()->mutable_in();
  in->set_key("lang");
  in->add_values("en");
  clauses->add_clauses()->mutable_equals()->set_key("year");
  search.add_id_subset("doc-1");
  search.add_id_subset("doc-2");
  Seed("request_checks", "search", search.SerializeAsString());
}

void SegmentSeed(std::mt19937& rng) {
  const int dim = 8, n = 64;
  std::normal_distribution<float> normal;
  std::vector<float> x(size_t(n) * dim);
  for (float& v : x) v = normal(rng);
  tartan::index::CodecTrainOptions options;
  options.nbits = 2;
  options.num_centroids = 4;
  options.threads = 1;
  auto codec = tartan::index::TrainCodec(x.data(), n, dim, options);
  Must(codec.ok(), "train codec: " + codec.status().ToString());
  tartan::index::SegmentData data;
  data.doc_offsets = {0};
  for (int d = 0; d < 8; ++d) {
    data.ids.push_back("doc-" + std::to_string(d));
    data.doc_offsets.push_back(data.doc_offsets.back() + 8);
  }
  data.codes.resize(n);
  data.residuals.resize(size_t(n) * codec->packed_bytes());
  codec->Encode(x.data(), n, data.codes.data(), data.residuals.data(), 1);
  const std::string path = tartan::fuzz::ScratchDir() + "/seg-1.tseg";
  Must(tartan::index::WriteSegment(path, *codec, data).ok(), "write segment");
  Seed("segment_file", "small.tseg", ReadFile(path));
}

void SafetensorsSeeds() {
  const std::string dir = tartan::fuzz::ScratchDir();
  const std::vector<tartan::encoder::NamedTensor> tensors = {
      {"embeddings.weight", {4, 3}, std::vector<float>(12, 0.5f)},
      {"layer.bias", {3}, {1.f, 2.f, 3.f}}};
  Must(tartan::encoder::WriteSafetensorsF32(dir + "/a.safetensors", tensors).ok(), "write st");
  Seed("safetensors", "single-f32", Record(0, ReadFile(dir + "/a.safetensors")));
  Must(tartan::encoder::WriteSafetensors(dir + "/b.safetensors", tensors,
                                         tartan::encoder::DType::kBF16)
           .ok(),
       "write st bf16");
  Seed("safetensors", "single-bf16", Record(0, ReadFile(dir + "/b.safetensors")));
  Must(tartan::encoder::WriteSafetensors(dir + "/c.safetensors", {tensors[1]},
                                         tartan::encoder::DType::kF16)
           .ok(),
       "write st f16");
  const std::string index =
      R"({"metadata": {"total_size": 60}, "weight_map": {"embeddings.weight": )"
      R"("model-00001-of-00002.safetensors", "layer.bias": "model-00002-of-00002.safetensors"}})";
  Must(tartan::encoder::WriteSafetensorsF32(dir + "/d.safetensors", {tensors[0]}).ok(), "st");
  Seed("safetensors", "sharded",
       Record(1, index) + Record(2, ReadFile(dir + "/d.safetensors")) +
           Record(3, ReadFile(dir + "/c.safetensors")));
}

void ModelFolderSeeds() {
  // Names: 0 modules.json, 1 config_sentence_transformers.json, 2 sentence_bert_config.json,
  // 3 config.json, 4 artifact.metadata.
  const std::string modules =
      R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},)"
      R"( {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}])";
  const std::string st_config =
      R"({"query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 32,)"
      R"( "document_length": 180, "attend_to_expansion_tokens": false,)"
      R"( "skiplist_words": ["!", ","], "prompts": {"q": "query: "},)"
      R"( "default_prompt_name": null, "do_query_expansion": true})";
  const std::string sbert = R"({"max_seq_length": 179, "do_lower_case": false})";
  const std::string config = R"({"architectures": ["BertModel"], "model_type": "bert"})";
  Seed("model_folder", "pylate",
       Record(0, modules) + Record(1, st_config) + Record(2, sbert) + Record(3, config));
  const std::string stanford = R"({"architectures": ["HF_ColBERT"], "model_type": "bert"})";
  const std::string metadata =
      R"({"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_maxlen": 32,)"
      R"( "doc_maxlen": 180, "attend_to_mask_tokens": false, "mask_punctuation": true})";
  Seed("model_folder", "stanford", Record(3, stanford) + Record(4, metadata));
}

void NpySeeds() {
  Seed("npy", "f4-2d", NpyOf<float>("<f4", {2, 3}, {1, 2, 3, 4, 5, 6}));
  Seed("npy", "i8-1d", NpyOf<int64_t>("<i8", {4}, {0, 1, -1, 7}));
  Seed("npy", "u1-2d", NpyOf<uint8_t>("|u1", {2, 2}, {1, 2, 3, 255}));
  Seed("npy", "f2-1d", NpyOf<uint16_t>("<f2", {2}, {0x3c00, 0xc000}));
  Seed("npy", "i4-0d", NpyOf<int32_t>("<i4", {}, {42}));
}

void PlaidSeed() {
  // Names as in fuzz_plaid_import.cc: 0 metadata.json, 1 centroids.npy, 2 bucket_cutoffs.npy,
  // 3 bucket_weights.npy, 4 doclens.0.json, 5 0.codes.npy, 6 0.residuals.npy, 7 ivf.npy,
  // 8 ivf_lengths.npy.
  const int dim = 8, nc = 4;
  std::vector<float> centroids(size_t(nc) * dim, 0.f);
  for (int c = 0; c < nc; ++c) centroids[size_t(c) * dim + c] = 1.f;
  const std::vector<int64_t> codes = {0, 1, 1, 2, 3, 0};  // docs of 2, 3 and 1 tokens
  std::vector<uint8_t> residuals(codes.size() * dim * 2 / 8, 0x1b);
  const std::vector<int64_t> ivf = {0, 2, 0, 1, 1, 1};  // centroid -> docs
  const std::vector<int64_t> ivf_lengths = {2, 2, 1, 1};
  const std::string bytes =
      Record(0, R"({"nbits": 2, "num_chunks": 1, "num_embeddings": 6, "num_partitions": 4})") +
      Record(1, NpyOf<float>("<f4", {nc, dim}, centroids)) +
      Record(2, NpyOf<float>("<f4", {3}, {-0.1f, 0.f, 0.1f})) +
      Record(3, NpyOf<float>("<f4", {4}, {-0.2f, -0.05f, 0.05f, 0.2f})) + Record(4, "[2, 3, 1]") +
      Record(5, NpyOf<int64_t>("<i8", {6}, codes)) +
      Record(6, NpyOf<uint8_t>("|u1", {6, 2}, residuals)) +
      Record(7, NpyOf<int64_t>("<i8", {6}, ivf)) +
      Record(8, NpyOf<int64_t>("<i8", {4}, ivf_lengths));
  Seed("plaid_import", "synthetic", bytes);
  // The seed must be a valid index, or it seeds nothing.
  const std::string dir = tartan::fuzz::ScratchDir() + "/plaid";
  std::filesystem::create_directories(dir);
  const char* names[] = {"metadata.json",      "centroids.npy",  "bucket_cutoffs.npy",
                         "bucket_weights.npy", "doclens.0.json", "0.codes.npy",
                         "0.residuals.npy",    "ivf.npy",        "ivf_lengths.npy"};
  for (const auto& [name, file] : tartan::fuzz::SplitRecords(
           reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 15)) {
    WriteFile(dir + "/" + names[name], std::string(file));
  }
  auto build = tartan::index::ReadPlaidIndex(dir, "p", dim);
  Must(build.ok(), "synthetic PLAID seed is not accepted: " + build.status().ToString());
}

}  // namespace

int main(int argc, char** argv) {
  Must(argc == 2, "usage: fuzz_make_seeds <tests/fuzz/corpus>");
  root = argv[1];
  std::mt19937 rng(5);
  IndexerSeeds(rng);
  RouterSeeds(rng);
  EncoderAndCheckSeeds();
  SegmentSeed(rng);
  SafetensorsSeeds();
  ModelFolderSeeds();
  NpySeeds();
  PlaidSeed();
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
