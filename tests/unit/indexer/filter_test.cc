#include "services/indexer/lib/filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tartan::index {
namespace {

TEST(FilterTest, InMatchesEveryListedValueWhateverTheOrderAndNothingElse) {
  std::vector<std::string> values;
  for (int i = 999; i >= 0; --i) values.push_back("v" + std::to_string(i));
  values.push_back("v7");  // a duplicate
  const Filter in = Filter::In("k", values);
  EXPECT_EQ(in.values.size(), 1000u) << "duplicates dropped";
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(in.Matches({{"k", "v" + std::to_string(i)}})) << i;
  EXPECT_FALSE(in.Matches({{"k", "v1000"}}));
  EXPECT_FALSE(in.Matches({{"other", "v1"}}));
  EXPECT_FALSE(in.Matches({}));
}

TEST(FilterTest, BooleanCombinations) {
  const std::map<std::string, std::string> red_big = {{"color", "red"}, {"size", "big"}};
  EXPECT_TRUE(Filter::And({}).Matches(red_big));
  EXPECT_TRUE(
      Filter::And({Filter::Eq("color", "red"), Filter::Eq("size", "big")}).Matches(red_big));
  EXPECT_FALSE(
      Filter::And({Filter::Eq("color", "red"), Filter::Eq("size", "small")}).Matches(red_big));
  EXPECT_TRUE(Filter::Or({Filter::Eq("color", "blue"), Filter::In("size", {"small", "big"})})
                  .Matches(red_big));
  EXPECT_FALSE(Filter::Not(Filter::Eq("color", "red")).Matches(red_big));
}

}  // namespace
}  // namespace tartan::index
