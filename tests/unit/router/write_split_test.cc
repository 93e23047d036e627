#include "services/router/lib/write_split.h"

#include "gtest/gtest.h"

namespace tartan::router {
namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

TEST(SplitBySizeTest, PacksConsecutiveItemsUnderTheLimit) {
  auto ranges = SplitBySize({40, 40, 40, 10, 100, 1}, 100);
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_EQ(*ranges, (Ranges{{0, 2}, {2, 4}, {4, 5}, {5, 6}}));
}

TEST(SplitBySizeTest, EverythingInOneMessageWhenItFits) {
  auto ranges = SplitBySize({1, 2, 3}, 6);
  ASSERT_TRUE(ranges.ok());
  EXPECT_EQ(*ranges, (Ranges{{0, 3}}));
  auto none = SplitBySize({}, 6);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(SplitBySizeTest, ThousandLongDocumentsUnder64MiB) {
  // 1,000 documents x 300 tokens x 128 dims x 4 B: 153.6 MB in one message before the split.
  const size_t doc = 300 * 128 * 4 + 64;
  auto ranges = SplitBySize(std::vector<size_t>(1000, doc), 64u << 20);
  ASSERT_TRUE(ranges.ok());
  ASSERT_EQ(ranges->size(), 3u);
  size_t covered = 0;
  for (const auto& [begin, end] : *ranges) {
    EXPECT_EQ(begin, covered);
    EXPECT_LE((end - begin) * doc, 64u << 20);
    covered = end;
  }
  EXPECT_EQ(covered, 1000u);
}

TEST(SplitBySizeTest, AnItemOverTheLimitIsInvalidArgument) {
  auto ranges = SplitBySize({10, 101, 10}, 100);
  ASSERT_FALSE(ranges.ok());
  EXPECT_EQ(ranges.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ranges.status().message().find("item 1"), std::string::npos);
}

}  // namespace
}  // namespace tartan::router
