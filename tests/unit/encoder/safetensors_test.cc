// SafetensorsFile: round trips (F32/F16/BF16), sharded indexes, and clean errors on bad files.
#include "services/encoder/lib/safetensors.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace tartan::encoder {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("st_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<NamedTensor> Sample() {
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0.0f, 3.0f);
    NamedTensor a{"layer.weight", {3, 5}, {}};
    for (int i = 0; i < 15; ++i) a.data.push_back(d(rng));
    NamedTensor b{"layer.bias", {5}, {1.0f, -2.5f, 0.0f, 65504.0f, 1e-6f}};
    return {a, b};
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string ReadAll(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteAll(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // Writes a file with a hand-made header and `data_bytes` zero bytes of data.
  static void WriteRaw(const std::string& p, const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    bytes += header;
    bytes += std::string(data_bytes, '\0');
    WriteAll(p, bytes);
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, F32RoundTripIsExact) {
  const auto tensors = Sample();
  ASSERT_TRUE(WriteSafetensorsF32(Path("a.safetensors"), tensors).ok());
  auto f = SafetensorsFile::Open(Path("a.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Names(), (std::vector<std::string>{"layer.bias", "layer.weight"}));
  EXPECT_TRUE((*f)->Has("layer.bias"));
  EXPECT_FALSE((*f)->Has("layer.nothing"));
  auto info = (*f)->Info("layer.weight");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dtype, DType::kF32);
  EXPECT_EQ(info->shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(info->file, Path("a.safetensors"));
  for (const auto& t : tensors) {
    auto v = (*f)->LoadF32(t.name, t.shape);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, t.data);
  }
}

TEST_F(SafetensorsTest, HalfAndBFloat16RoundTripWithinPrecision) {
  const auto tensors = Sample();
  for (DType dt : {DType::kF16, DType::kBF16}) {
    const std::string p = Path(std::string(DTypeName(dt)) + ".safetensors");
    ASSERT_TRUE(WriteSafetensors(p, tensors, dt).ok());
    auto f = SafetensorsFile::Open(p);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->Info("layer.weight")->dtype, dt);
    // Relative step: 2^-11 for binary16, 2^-8 for bfloat16 (half a unit in the last place).
    const float rel = dt == DType::kF16 ? 1.0f / 2048 : 1.0f / 256;
    for (const auto& t : tensors) {
      auto v = (*f)->LoadF32(t.name, t.shape);
      ASSERT_TRUE(v.ok()) << v.status();
      for (size_t i = 0; i < t.data.size(); ++i) {
        const float tol = std::abs(t.data[i]) * rel + (dt == DType::kF16 ? 6e-8f : 0.0f);
        EXPECT_NEAR((*v)[i], t.data[i], tol) << DTypeName(dt) << " " << t.name << "[" << i << "]";
      }
    }
  }
  // Exact conversions at the edges.
  EXPECT_EQ(HalfToFloat(FloatToHalf(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(70000.0f))));
  EXPECT_EQ(HalfToFloat(FloatToHalf(5.9604644775390625e-8f)), 5.9604644775390625e-8f);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(-3.0f)), -3.0f);
  // Ties round to even: 1 + 2^-8 lies halfway between two bf16 values.
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 1.0f / 256)), 1.0f);
}

TEST_F(SafetensorsTest, ShardedIndexResolvesEveryTensor) {
  auto tensors = Sample();
  ASSERT_TRUE(WriteSafetensorsF32(Path("model-00001-of-00002.safetensors"), {tensors[0]}).ok());
  ASSERT_TRUE(WriteSafetensorsF32(Path("model-00002-of-00002.safetensors"), {tensors[1]}).ok());
  WriteAll(Path("model.safetensors.index.json"),
           R"({"metadata": {"total_size": 80}, "weight_map": {
                "layer.weight": "model-00001-of-00002.safetensors",
                "layer.bias": "model-00002-of-00002.safetensors"}})");
  auto f = SafetensorsFile::Open(Path("model.safetensors.index.json"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Names().size(), 2u);
  EXPECT_EQ((*f)->Info("layer.bias")->file, Path("model-00002-of-00002.safetensors"));
  EXPECT_EQ(*(*f)->LoadF32("layer.weight", {3, 5}), tensors[0].data);
  EXPECT_EQ(*(*f)->LoadF32("layer.bias", {5}), tensors[1].data);

  // An index pointing at a shard that lacks the tensor is an error naming both.
  WriteAll(Path("bad.index.json"),
           R"({"weight_map": {"layer.bias": "model-00001-of-00002.safetensors"}})");
  auto bad = SafetensorsFile::Open(Path("bad.index.json"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layer.bias"), std::string::npos) << bad.status();
  // A missing shard file.
  WriteAll(Path("missing.index.json"), R"({"weight_map": {"x": "nope.safetensors"}})");
  auto missing = SafetensorsFile::Open(Path("missing.index.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.safetensors"), std::string::npos);
}

TEST_F(SafetensorsTest, WrongShapeAndMissingTensorNameFileAndTensor) {
  ASSERT_TRUE(WriteSafetensorsF32(Path("a.safetensors"), Sample()).ok());
  auto f = SafetensorsFile::Open(Path("a.safetensors"));
  ASSERT_TRUE(f.ok());
  auto wrong = (*f)->LoadF32("layer.weight", {5, 3});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("layer.weight"), std::string::npos);
  EXPECT_NE(wrong.status().message().find("a.safetensors"), std::string::npos);
  EXPECT_NE(wrong.status().message().find("[3, 5]"), std::string::npos) << wrong.status();
  auto missing = (*f)->LoadF32("layer.gamma", {5});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("layer.gamma"), std::string::npos);
}

TEST_F(SafetensorsTest, CorruptFilesAreErrorsNotCrashes) {
  ASSERT_TRUE(WriteSafetensorsF32(Path("good.safetensors"), Sample()).ok());
  const std::string good = ReadAll(Path("good.safetensors"));

  // Truncated inside the data region: offsets exceed the data.
  WriteAll(Path("trunc_data.safetensors"), good.substr(0, good.size() - 7));
  // Truncated inside the header.
  WriteAll(Path("trunc_header.safetensors"), good.substr(0, 20));
  // Shorter than the length prefix.
  WriteAll(Path("tiny.safetensors"), "abc");
  // Header that is not JSON.
  std::string garbage = good;
  garbage[9] = '#';
  garbage[10] = '!';
  WriteAll(Path("garbage.safetensors"), garbage);
  // Header length pointing far past the end.
  std::string huge = good;
  huge[6] = '\x7f';
  WriteAll(Path("huge.safetensors"), huge);
  // Byte size inconsistent with the shape.
  WriteRaw(Path("size.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12);
  // Header entry missing fields / wrong types.
  WriteRaw(Path("fields.safetensors"), R"({"w": {"dtype": "F32", "shape": "x"}})", 0);
  WriteRaw(Path("types.safetensors"),
           R"({"w": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}})", 4);

  for (const char* name :
       {"trunc_data", "trunc_header", "tiny", "garbage", "huge", "size", "fields", "types"}) {
    const std::string p = Path(std::string(name) + ".safetensors");
    auto f = SafetensorsFile::Open(p);
    ASSERT_FALSE(f.ok()) << name;
    EXPECT_NE(f.status().message().find(p), std::string::npos) << name << ": " << f.status();
  }
  auto nofile = SafetensorsFile::Open(Path("absent.safetensors"));
  ASSERT_FALSE(nofile.ok());
  EXPECT_EQ(nofile.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SafetensorsTest, UnsupportedDTypeIsReportedOnLoadOnly) {
  // Old BERT checkpoints carry an I64 position_ids buffer: the file must still open.
  WriteRaw(Path("i64.safetensors"),
           R"({"position_ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [0, 16]},
               "w": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}})",
           20);
  auto f = SafetensorsFile::Open(Path("i64.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->LoadF32("w", {1}).ok());
  auto bad = (*f)->LoadF32("position_ids", {1, 2});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(bad.status().message().find("I64"), std::string::npos);
  EXPECT_NE(bad.status().message().find("position_ids"), std::string::npos);
  EXPECT_NE(bad.status().message().find("i64.safetensors"), std::string::npos);
  // Unknown dtype strings fail at open.
  WriteRaw(Path("weird.safetensors"),
           R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", 1);
  auto weird = SafetensorsFile::Open(Path("weird.safetensors"));
  ASSERT_FALSE(weird.ok());
  EXPECT_NE(weird.status().message().find("Q4"), std::string::npos);
}

TEST_F(SafetensorsTest, ShapesWhoseSizeOverflowsAreRejected) {
  // 2^32 * 2^32 elements wrap to 0: an empty data range matched before the fix.
  WriteRaw(Path("wrap.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
           0);
  // 2^62 elements * 4 bytes wrap to 0.
  WriteRaw(Path("wrapbytes.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0);
  // 2^62 + 1 elements * 4 bytes wrap to 4, the size of the data range.
  WriteRaw(Path("wrap4.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [4611686018427387905], "data_offsets": [0, 4]}})", 4);
  // A fractional dimension was truncated to [2, 2].
  WriteRaw(Path("float.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [2.5, 2], "data_offsets": [0, 16]}})", 16);
  WriteRaw(Path("floatoff.safetensors"),
           R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.5]}})", 4);
  for (const char* name : {"wrap", "wrapbytes", "wrap4", "float", "floatoff"}) {
    const std::string p = Path(std::string(name) + ".safetensors");
    auto f = SafetensorsFile::Open(p);
    ASSERT_FALSE(f.ok()) << name;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << name << ": " << f.status();
  }
}

TEST_F(SafetensorsTest, ShardNamesMustStayInsideTheModelFolder) {
  auto tensors = Sample();
  // A checkpoint outside the model folder that a hostile index tries to pull in.
  ASSERT_TRUE(WriteSafetensorsF32(Path("secret.safetensors"), {tensors[1]}).ok());
  fs::create_directories(dir_ / "model" / "sub");
  ASSERT_TRUE(
      WriteSafetensorsF32((dir_ / "model" / "sub" / "ok.safetensors").string(), {tensors[1]}).ok());
  const std::string index = (dir_ / "model" / "model.safetensors.index.json").string();
  for (const std::string& shard :
       {std::string("../secret.safetensors"), std::string("sub/../../secret.safetensors"),
        Path("secret.safetensors"), std::string("./../secret.safetensors"), std::string("")}) {
    WriteAll(index, R"({"weight_map": {"layer.bias": ")" + shard + R"("}})");
    auto f = SafetensorsFile::Open(index);
    ASSERT_FALSE(f.ok()) << shard;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << shard << ": " << f.status();
  }
  // A subfolder is fine, and so is a symlink in the folder (the Hugging Face cache layout).
  WriteAll(index, R"({"weight_map": {"layer.bias": "sub/ok.safetensors"}})");
  auto ok = SafetensorsFile::Open(index);
  ASSERT_TRUE(ok.ok()) << ok.status();
  fs::create_symlink("../secret.safetensors", dir_ / "model" / "link.safetensors");
  WriteAll(index, R"({"weight_map": {"layer.bias": "link.safetensors"}})");
  ok = SafetensorsFile::Open(index);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*(*ok)->LoadF32("layer.bias", {5}), tensors[1].data);
}

}  // namespace
}  // namespace tartan::encoder
