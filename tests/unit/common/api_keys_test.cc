// The API key file parser, the method → scope table and the key store's answers (no gRPC).
#include "common/server/api_keys.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "google/protobuf/descriptor.h"
#include "tartan/v1/router.pb.h"

namespace tartan {
namespace {

TEST(ApiKeysTest, ParsesScopesCommentsAndBlankLines) {
  auto keys = ParseApiKeys(
      "# team keys\n\n  read reader-key-0123456789\nread,write  writer-key-0123456789\t\n"
      "admin,read,write all-key-0123456789\n   # indented comment\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].key, "reader-key-0123456789");
  EXPECT_EQ((*keys)[0].scopes, static_cast<ScopeSet>(Scope::kRead));
  EXPECT_EQ((*keys)[1].scopes, static_cast<ScopeSet>(Scope::kRead) | ScopeSet(Scope::kWrite));
  EXPECT_EQ((*keys)[2].scopes, 7);
}

TEST(ApiKeysTest, ErrorsNameTheLineNeverTheKey) {
  for (const char* text :
       {"read\n", "read key extra\n", "wirte secret-key-123\n", "read, secret-key-123\n",
        "read secret-key-123\nwrite secret-key-123\n", "# c\nread,,write secret-key-123\n"}) {
    auto keys = ParseApiKeys(text);
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(keys.status().message().find("line "), std::string::npos) << keys.status();
    EXPECT_EQ(keys.status().message().find("secret-key-123"), std::string::npos) << keys.status();
  }
  auto duplicate = ParseApiKeys("read k1-0123456789\nwrite k1-0123456789\n");
  EXPECT_NE(duplicate.status().message().find("line 2"), std::string::npos);
  EXPECT_TRUE(ParseApiKeys("").ok());
  EXPECT_TRUE(ParseApiKeys("# only comments\n").value().empty());
}

TEST(ApiKeysTest, EveryRouterMethodHasItsScope) {
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/Search"), Scope::kRead);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/SearchBatch"), Scope::kRead);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/Rerank"), Scope::kRead);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/AddDocuments"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/AddDocumentsStream"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/DeleteDocuments"), Scope::kWrite);
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/ClusterStatus"), Scope::kAdmin);
  // Unknown methods fail closed; health and reflection stay open.
  EXPECT_EQ(RequiredScope("/tartan.v1.Router/SomethingNew"), Scope::kAdmin);
  EXPECT_EQ(RequiredScope("/grpc.health.v1.Health/Check"), std::nullopt);
  EXPECT_EQ(RequiredScope("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            std::nullopt);
  // A method added to router.proto must be placed on purpose: every method of the service is
  // either in the read/write lists above or deliberately admin (only ClusterStatus today).
  const google::protobuf::ServiceDescriptor* router =
      tartan::v1::SearchRequest::descriptor()->file()->FindServiceByName("Router");
  ASSERT_NE(router, nullptr);
  for (int i = 0; i < router->method_count(); ++i) {
    const std::string name = router->method(i)->name();
    const auto scope = RequiredScope("/tartan.v1.Router/" + name);
    ASSERT_TRUE(scope.has_value()) << name;
    if (*scope == Scope::kAdmin) EXPECT_EQ(name, "ClusterStatus") << "place " << name;
  }
}

TEST(ApiKeysTest, ConstantTimeEqualsAndBearer) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_EQ(BearerToken("Bearer k-1"), "k-1");
  EXPECT_EQ(BearerToken("bearer  k-1 "), "k-1");
  EXPECT_EQ(BearerToken("Basic k-1"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken("k-1"), "");
}

TEST(ApiKeysTest, AuthorizeAnswersUnauthenticatedOrPermissionDenied) {
  ApiKeyStore store(
      {{"reader-key", ScopeSet(Scope::kRead)}, {"writer-key", ScopeSet(Scope::kWrite)}});
  EXPECT_TRUE(store.Authorize("Bearer reader-key", Scope::kRead).ok());
  EXPECT_EQ(store.Authorize("Bearer reader-key", Scope::kWrite).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store.Authorize("Bearer writer-key", Scope::kRead).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store.Authorize("", Scope::kRead).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store.Authorize("Bearer reader-ke", Scope::kRead).code(),
            absl::StatusCode::kUnauthenticated);
  const absl::Status wrong = store.Authorize("Bearer not-a-key-at-all", Scope::kRead);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.message().find("not-a-key"), std::string::npos);
}

TEST(ApiKeysTest, FileChangesTakeEffectAndBadEditsKeepTheOldKeys) {
  const std::string path = ::testing::TempDir() + "/api_keys_test.keys";
  { std::ofstream(path) << "read first-key-0123456789\n"; }
  auto store = ApiKeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Authorize("Bearer first-key-0123456789", Scope::kRead).ok());

  { std::ofstream(path) << "write second-key-0123456789\n"; }
  EXPECT_EQ((*store)->Authorize("Bearer first-key-0123456789", Scope::kRead).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*store)->Authorize("Bearer second-key-0123456789", Scope::kWrite).ok());

  { std::ofstream(path) << "wirte third-key-0123456789\nextra\n"; }  // unparsable: ignored
  EXPECT_TRUE((*store)->Authorize("Bearer second-key-0123456789", Scope::kWrite).ok());
  EXPECT_EQ((*store)->size(), 1u);

  EXPECT_FALSE(ApiKeyStore::Open(path).ok());
  EXPECT_EQ(ApiKeyStore::Open(path + ".missing").status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tartan
