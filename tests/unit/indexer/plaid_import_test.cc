// Import of the small pylate-rs PLAID index in $TARTAN_SHARED_DIR/data/pylate-rs-plaid-index.
// The reference decompression below follows fast-plaid's own algorithm (a per-byte
// bit-reversal map, then a byte -> bucket-indices table, then centroid + weight and L2
// normalisation), written independently of our codec's bit-stream unpacking.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "services/indexer/lib/npy.h"
#include "services/indexer/lib/plaid_import.h"
#include "services/indexer/lib/shard.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

std::string PlaidDir() {
  const char* s = std::getenv("TARTAN_SHARED_DIR");
  return std::string(s ? s : "../shared") + "/data/pylate-rs-plaid-index";
}

// fast-plaid style: out[d] for one token.
std::vector<float> ReferenceDecode(const std::vector<float>& centroids, int dim, int code,
                                   const uint8_t* packed, int nbits,
                                   const std::vector<float>& weights) {
  const int per_byte = 8 / nbits, mask = (1 << nbits) - 1;
  uint8_t reversed[256];
  for (int v = 0; v < 256; ++v) {
    int out = 0;
    for (int pos = 8; pos >= nbits; pos -= nbits) {
      const int seg = (v >> (pos - nbits)) & mask;
      int rev = 0;
      for (int k = 0; k < nbits; ++k)
        if (seg & (1 << k)) rev |= 1 << (nbits - 1 - k);
      out |= rev;
      if (pos > nbits) out <<= nbits;
    }
    reversed[v] = uint8_t(out);
  }
  std::vector<float> x(dim);
  for (int b = 0; b < dim * nbits / 8; ++b) {
    const int r = reversed[packed[b]];
    for (int j = 0; j < per_byte; ++j) {
      const int idx = (r >> ((per_byte - 1 - j) * nbits)) & mask;
      const int d = b * per_byte + j;
      x[d] = centroids[size_t(code) * dim + d] + weights[idx];
    }
  }
  double n = 0;
  for (float v : x) n += double(v) * v;
  for (float& v : x) v = float(v / std::sqrt(n));
  return x;
}

class PlaidImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(PlaidDir() + "/metadata.json"))
      GTEST_SKIP() << "PLAID example index not found at " << PlaidDir();
  }
};

TEST_F(PlaidImportTest, DecompressionMatchesFastPlaidAndRanksPassagesFirst) {
  const std::string dir = PlaidDir();
  auto centroids_npy = ReadNpy(dir + "/centroids.npy");
  ASSERT_TRUE(centroids_npy.ok()) << centroids_npy.status();
  const int dim = int(centroids_npy->shape[1]);
  ShardOptions o;
  o.data_dir = testing::TempDir("plaid");
  o.dim = dim;
  o.background_compaction = false;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok());
  auto n = (*shard)->ImportPlaidIndex(dir, "p");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 20);
  EXPECT_EQ((*shard)->Stats().documents, 20u);
  EXPECT_EQ((*shard)->Stats().token_vectors, 560u);

  auto centroids = *centroids_npy->AsFloat();
  auto weights = *(*ReadNpy(dir + "/bucket_weights.npy")).AsFloat();
  auto codes = *(*ReadNpy(dir + "/0.codes.npy")).AsInt64();
  auto residuals = *ReadNpy(dir + "/0.residuals.npy");
  const int nbits = 4, pb = dim * nbits / 8;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back("p" + std::to_string(i));
  auto docs = (*shard)->Get(ids);
  ASSERT_TRUE(docs.ok());
  size_t token = 0;
  double max_err = 0;
  for (int i = 0; i < 20; ++i) {
    const auto& d = (*docs)[i];
    ASSERT_TRUE(d.has_value());
    for (int t = 0; t < d->num_tokens; ++t, ++token) {
      auto ref = ReferenceDecode(centroids, dim, int(codes[token]),
                                 residuals.data.data() + token * pb, nbits, weights);
      for (int k = 0; k < dim; ++k)
        max_err = std::max(max_err, double(std::abs(ref[k] - d->vectors[size_t(t) * dim + k])));
    }
  }
  EXPECT_EQ(token, 560u);
  EXPECT_LT(max_err, 1e-5);

  // A query made of half of one passage's tokens finds that passage first, exact and PLAID.
  for (int i = 0; i < 20; ++i) {
    const auto& d = *(*docs)[i];
    for (bool exact : {true, false}) {
      SearchParams p;
      p.k = 3;
      p.exact = exact;
      auto hits = (*shard)->Search(d.vectors.data(), d.num_tokens / 2, p);
      ASSERT_TRUE(hits.ok());
      ASSERT_FALSE(hits->empty());
      EXPECT_EQ((*hits)[0].id, ids[i]) << (exact ? "exact" : "plaid");
    }
  }
  // Survives a restart.
  ASSERT_TRUE((*shard)->Close().ok());
  auto again = Shard::Open(o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Stats().documents, 20u);
}

TEST_F(PlaidImportTest, DimMismatchAndMissingFilesAreErrors) {
  ShardOptions o;
  o.data_dir = testing::TempDir("plaid_bad");
  o.dim = 64;
  o.background_compaction = false;
  auto shard = Shard::Open(o);
  ASSERT_TRUE(shard.ok());
  auto n = (*shard)->ImportPlaidIndex(PlaidDir(), "p");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("dim"), std::string::npos) << n.status();
  n = (*shard)->ImportPlaidIndex(o.data_dir + "/nowhere", "p");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("metadata.json"), std::string::npos) << n.status();
}

// A tiny synthetic PLAID index (nbits 2, 2 centroids, dim 8, one chunk of 2 docs / 3 tokens)
// whose files the hostile tests below overwrite one at a time.
class PlaidHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("plaid_hostile");
    Json("metadata.json", R"({"nbits": 2, "num_chunks": 1})");
    Npy("centroids.npy", "<f4", "(2, 8)", std::string(2 * 8 * 4, '\0'));
    Npy("bucket_cutoffs.npy", "<f4", "(3,)", std::string(3 * 4, '\0'));
    Npy("bucket_weights.npy", "<f4", "(4,)", std::string(4 * 4, '\0'));
    Json("doclens.0.json", "[2, 1]");
    Npy("0.codes.npy", "<i8", "(3,)", Int64s({0, 1, 1}));
    Npy("0.residuals.npy", "|u1", "(3, 2)", std::string(6, '\0'));
  }
  static std::string Int64s(const std::vector<int64_t>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8);
  }
  void Json(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary | std::ios::trunc) << text;
  }
  void Npy(const std::string& name, const std::string& descr, const std::string& shape,
           const std::string& data) {
    const std::string header =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n";
    std::string file = std::string("\x93NUMPY\x01\x00", 8);
    file += char(header.size());
    file += '\0';
    std::ofstream(dir_ + "/" + name, std::ios::binary | std::ios::trunc) << file << header << data;
  }
  absl::Status Import(int dim = 8) { return ReadPlaidIndex(dir_, "p", dim).status(); }
  std::string dir_;
};

TEST_F(PlaidHostileTest, TheSyntheticIndexImports) {
  auto b = ReadPlaidIndex(dir_, "p", 8);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->data.ids.size(), 2u);
  EXPECT_EQ(b->data.doc_offsets, (std::vector<uint64_t>{0, 2, 3}));
  // With a consistent inverted file too.
  Npy("ivf.npy", "<i8", "(3,)", Int64s({0, 0, 1}));
  Npy("ivf_lengths.npy", "<i8", "(2,)", Int64s({1, 2}));
  EXPECT_TRUE(Import().ok()) << Import();
}

TEST_F(PlaidHostileTest, DocumentLengthsThatWrapAroundAreRejected) {
  // (2^63 - 1) * 2 + 5 == 3 (mod 2^64): the sum matched the 3 codes before the fix.
  Json("doclens.0.json", "[9223372036854775807, 9223372036854775807, 5]");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", "[18446744073709551615, 4]");  // a uint64 that reads as -1
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", "[-1, 4]");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", "[2, 2]");  // more tokens than codes
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
}

TEST_F(PlaidHostileTest, DocumentLengthsMustBeAnArrayOfIntegers) {
  Json("doclens.0.json", "3");  // a scalar iterated as if it were [3]
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", "[1.9, 2]");  // truncated to [1, 2] before the fix
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", R"([2, "1"])");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("doclens.0.json", "[1e300, 2]");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
}

TEST_F(PlaidHostileTest, MetadataMustHoldIntegers) {
  Json("metadata.json", R"({"nbits": 2.7, "num_chunks": 1})");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("metadata.json", R"({"nbits": 2, "num_chunks": 1e300})");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Json("metadata.json", R"({"nbits": 4294967298, "num_chunks": 1})");  // int(...) == 2
  EXPECT_FALSE(Import().ok());
  Json("metadata.json", R"([2, 1])");
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
}

TEST_F(PlaidHostileTest, DimensionMustBeAPositiveBoundedMultipleOfEight) {
  // dim 12: 12 * 2 / 8 = 3 residual bytes per token, which the old code accepted.
  Npy("centroids.npy", "<f4", "(2, 12)", std::string(2 * 12 * 4, '\0'));
  Npy("0.residuals.npy", "|u1", "(3, 3)", std::string(9, '\0'));
  EXPECT_EQ(Import(12).code(), absl::StatusCode::kDataLoss) << Import(12);
  Npy("centroids.npy", "<f4", "(2, 0)", "");
  Npy("0.residuals.npy", "|u1", "(3, 0)", "");
  EXPECT_EQ(Import(0).code(), absl::StatusCode::kDataLoss) << Import(0);
  Npy("centroids.npy", "<f2", "(1, 8192)", std::string(8192 * 2, '\0'));
  Npy("0.residuals.npy", "|u1", "(3, 2048)", std::string(3 * 2048, '\0'));
  Npy("0.codes.npy", "<i8", "(3,)", Int64s({0, 0, 0}));
  EXPECT_EQ(Import(8192).code(), absl::StatusCode::kDataLoss) << Import(8192);
}

TEST_F(PlaidHostileTest, ResidualRowsAndCodesAreChecked) {
  Npy("0.residuals.npy", "|u1", "(3, 3)", std::string(9, '\0'));
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Npy("0.residuals.npy", "|u1", "(3, 2)", std::string(6, '\0'));
  Npy("0.codes.npy", "<i8", "(3,)", Int64s({0, 2, 1}));
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Npy("0.codes.npy", "<i8", "(3,)", Int64s({0, -1, 1}));
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
}

TEST_F(PlaidHostileTest, InvertedFileEntriesAreRangeChecked) {
  // Doc 2^32 truncated to doc 0 and matched the codes before the fix.
  Npy("ivf.npy", "<i8", "(3,)", Int64s({int64_t(1) << 32, 0, 1}));
  Npy("ivf_lengths.npy", "<i8", "(2,)", Int64s({1, 2}));
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
  Npy("ivf.npy", "<i8", "(3,)", Int64s({0, 0, 1}));
  Npy("ivf_lengths.npy", "<i8", "(2,)", Int64s({1, INT64_MAX}));
  EXPECT_EQ(Import().code(), absl::StatusCode::kDataLoss) << Import();
}

}  // namespace
}  // namespace tartan::index
