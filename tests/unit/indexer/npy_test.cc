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

}  // namespace
}  // namespace tartan::index
