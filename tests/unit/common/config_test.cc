#include "common/config.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "common/logging.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, test_batch_size, 7, "a flag for the test");
ABSL_FLAG(std::string, test_name, "default", "a flag for the test");

namespace tartan {
namespace {

TEST(ConfigTest, EnvironmentSetsFlagsAndCommandLineWins) {
  setenv("TARTAN_TEST_BATCH_SIZE", "42", 1);
  setenv("TARTAN_TEST_NAME", "from-env", 1);
  char arg0[] = "prog";
  char arg1[] = "--test_name=from-flag";
  char arg2[] = "positional";
  char* argv[] = {arg0, arg1, arg2};
  std::vector<char*> rest = ParseFlagsWithEnv(3, argv, "test");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_batch_size), 42);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_name), "from-flag");
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_STREQ(rest[1], "positional");
}

TEST(ConfigTest, ChecksNameTheOption) {
  EXPECT_TRUE(CheckPort("grpc_port", 50051).ok());
  EXPECT_TRUE(CheckPort("grpc_port", 0).ok());
  EXPECT_FALSE(CheckPort("grpc_port", 0, /*allow_zero=*/false).ok());
  const auto status = CheckPort("grpc_port", 70000);
  EXPECT_NE(status.message().find("--grpc_port"), absl::string_view::npos) << status;
  EXPECT_FALSE(CheckPositive("threads", 0).ok());
  EXPECT_TRUE(CheckRange("dim", 128, 32, 1024).ok());
  EXPECT_FALSE(CheckRange("dim", 16, 32, 1024).ok());
}

TEST(LoggingTest, ParsesLevels) {
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  SetLogLevel(LogLevel::kError);
  EXPECT_FALSE(TARTAN_LOG_IS_ON(kInfo));
  EXPECT_TRUE(TARTAN_LOG_IS_ON(kError));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace tartan
