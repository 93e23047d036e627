// services/indexer/lib/npy: the .npy reader used by the PLAID import.
#include "services/indexer/lib/npy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

TEST(NpyTest, TruncatedFileIsAnError) {
  const std::string dir = testing::TempDir("npy");
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += char(header.size());
  file += '\0';
  file += header;
  std::ofstream(dir + "/ok.npy", std::ios::binary) << file << std::string(16, '\0');
  auto ok = ReadNpy(dir + "/ok.npy");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->shape, std::vector<int64_t>{4});
  EXPECT_EQ(ok->AsFloat()->size(), 4u);
  std::ofstream(dir + "/x.npy", std::ios::binary) << file << std::string(8, '\0');
  auto a = ReadNpy(dir + "/x.npy");
  EXPECT_FALSE(a.ok());
}

// A version 1.0 .npy file with `header` (a dict literal) and `data` bytes.
std::string Npy(const std::string& header, const std::string& data) {
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += char(header.size() & 0xff);
  file += char(header.size() >> 8);
  return file + header + data;
}

absl::StatusOr<NpyArray> ReadBytes(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir("npy_hostile") + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return ReadNpy(path);
}

TEST(NpyTest, HostileHeadersAreDataLossNotExceptions) {
  const std::string tail = "'fortran_order': False, }\n";
  // A dimension with more digits than an int64 holds (std::stoll threw out_of_range).
  auto r = ReadBytes("bigdim.npy",
                     Npy("{'descr': '<f4', 'shape': (123456789012345678901234567890,), " + tail,
                         std::string(16, '\0')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // A non-numeric element width (std::stoi threw invalid_argument).
  r = ReadBytes("badwidth.npy",
                Npy("{'descr': '<fX', 'shape': (4,), " + tail, std::string(16, '\0')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  r = ReadBytes("hugewidth.npy",
                Npy("{'descr': '<f99999999999', 'shape': (4,), " + tail, std::string(16, '\0')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  r = ReadBytes("width3.npy",
                Npy("{'descr': '<f3', 'shape': (4,), " + tail, std::string(12, '\0')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // A shape whose element count wraps to 0 (2^32 * 2^32 * 4 = 2^66).
  r = ReadBytes("wrap.npy",
                Npy("{'descr': '<f4', 'shape': (4294967296, 4294967296, 4), " + tail, ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // Count fits in int64 but count * width does not.
  r = ReadBytes("wrapbytes.npy",
                Npy("{'descr': '<f8', 'shape': (2305843009213693952,), " + tail, ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // Header length beyond the file (version 2.0: 4-byte length).
  std::string v2 = std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) + "{'descr'";
  r = ReadBytes("longheader.npy", v2);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // Unknown major version.
  std::string v9 = Npy("{'descr': '<f4', 'shape': (1,), " + tail, std::string(4, '\0'));
  v9[6] = 9;
  r = ReadBytes("v9.npy", v9);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
}

TEST(NpyTest, DataSizeMustMatchTheShapeExactly) {
  const std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n";
  auto ok = ReadBytes("exact.npy", Npy(header, std::string(24, '\1')));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 6);
  EXPECT_EQ(ok->AsInt64()->size(), 6u);
  auto r = ReadBytes("short.npy", Npy(header, std::string(23, '\1')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  r = ReadBytes("long.npy", Npy(header, std::string(25, '\1')));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
}

TEST(NpyTest, ConversionsCheckTheArrayInsteadOfReadingOutOfBounds) {
  NpyArray a;
  a.dtype = "<f4";
  a.shape = {1000};
  a.data.resize(8);  // two floats, not a thousand
  EXPECT_FALSE(a.AsFloat().ok());
  EXPECT_FALSE(a.AsInt64().ok());
  a.dtype = "";
  EXPECT_FALSE(a.AsFloat().ok());
  EXPECT_FALSE(a.AsInt64().ok());
  a.dtype = "<i8";
  a.shape = {int64_t(1) << 62, 4};  // element count overflows
  a.data.clear();
  EXPECT_FALSE(a.AsInt64().ok());
  a.shape = {1};
  a.data.resize(8);
  ASSERT_TRUE(a.AsInt64().ok());
}

}  // namespace
}  // namespace tartan::index
