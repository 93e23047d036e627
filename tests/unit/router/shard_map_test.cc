#include "services/router/lib/shard_map.h"

#include "gtest/gtest.h"

namespace tartan::router {
namespace {

TEST(ShardMapTest, ParsesAndSortsStaticList) {
  auto source = ParseShardSource(" b:2, a:1 ,c:3");
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(source->static_addresses, (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  auto resolved = ResolveShards(*source);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->size(), 3u);
}

TEST(ShardMapTest, RejectsBadEntries) {
  EXPECT_FALSE(ParseShardSource("").ok());
  EXPECT_FALSE(ParseShardSource("nohost").ok());
  EXPECT_FALSE(ParseShardSource("a:0").ok());
  EXPECT_FALSE(ParseShardSource("a:70000").ok());
  EXPECT_FALSE(ParseShardSource("a:1,a:1").ok());
  auto status = ParseShardSource("a:1,b:x").status();
  EXPECT_NE(status.message().find("b:x"), absl::string_view::npos) << status;
}

TEST(ShardMapTest, DnsSourceResolvesLocalhost) {
  auto source = ParseShardSource("dns:///localhost:5000");
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(source->dns_name, "localhost");
  auto resolved = ResolveShards(*source);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  ASSERT_FALSE(resolved->empty());
  for (const auto& address : *resolved) EXPECT_NE(address.find(":5000"), std::string::npos);
}

TEST(ShardMapTest, HashIsStableAndSpreads) {
  // Pinned value: the placement rule is part of the public contract (router.proto).
  EXPECT_EQ(DocumentHash(""), 0xEF46DB3751D8E999ull);  // XXH64("", seed 0)
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 4000; ++i) ++counts[ShardForDocument("doc-" + std::to_string(i), 4)];
  for (int count : counts) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

}  // namespace
}  // namespace tartan::router
