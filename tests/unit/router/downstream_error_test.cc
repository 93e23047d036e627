#include "services/router/lib/downstream_error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tartan::router {
namespace {

using ::testing::HasSubstr;

TEST(ClassifyDownstreamErrorTest, EveryCanonicalCode) {
  using C = absl::StatusCode;
  using F = DownstreamFault;
  const std::pair<C, F> expected[] = {
      {C::kCancelled, F::kRetryable},       {C::kUnknown, F::kInternal},
      {C::kInvalidArgument, F::kClient},    {C::kDeadlineExceeded, F::kRetryable},
      {C::kNotFound, F::kClient},           {C::kAlreadyExists, F::kClient},
      {C::kPermissionDenied, F::kInternal}, {C::kResourceExhausted, F::kRetryable},
      {C::kFailedPrecondition, F::kClient}, {C::kAborted, F::kRetryable},
      {C::kOutOfRange, F::kClient},         {C::kUnimplemented, F::kInternal},
      {C::kInternal, F::kInternal},         {C::kUnavailable, F::kRetryable},
      {C::kDataLoss, F::kInternal},         {C::kUnauthenticated, F::kInternal},
  };
  for (const auto& [code, fault] : expected) {
    EXPECT_EQ(ClassifyDownstreamError(code), fault) << absl::StatusCodeToString(code);
  }
}

TEST(DownstreamStatusTest, ClientFaultKeepsItsCodeAndNamesTheShard) {
  const absl::Status status =
      DownstreamStatus("shard 10.0.0.1:50061", absl::InvalidArgumentError("query: dim 64 != 128"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "shard 10.0.0.1:50061: query: dim 64 != 128");
  EXPECT_EQ(DownstreamStatus("encoder", absl::NotFoundError("x")).code(),
            absl::StatusCode::kNotFound);
}

TEST(DownstreamStatusTest, RetryableKeepsItsCodeButCancelledIsUnavailable) {
  EXPECT_EQ(DownstreamStatus("encoder", absl::DeadlineExceededError("slow")).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(DownstreamStatus("encoder", absl::ResourceExhaustedError("queue full")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(DownstreamStatus("shard a", absl::UnavailableError("down")).code(),
            absl::StatusCode::kUnavailable);
  const absl::Status cancelled = DownstreamStatus("shard a", absl::CancelledError("draining"));
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cancelled.message(), "shard a: draining");
}

TEST(DownstreamStatusTest, EverythingElseIsInternalWithTheOriginalCodeNamed) {
  const absl::Status status = DownstreamStatus("shard b", absl::UnimplementedError("no Stats"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "shard b: UNIMPLEMENTED: no Stats");
  EXPECT_EQ(DownstreamStatus("shard b", absl::DataLossError("crc")).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(DownstreamStatus("shard b", absl::OkStatus()).ok());
}

TEST(DownstreamFailuresTest, EmptyIsOk) {
  DownstreamFailures failures;
  EXPECT_TRUE(failures.empty());
  EXPECT_TRUE(failures.ToStatus("anything").ok());
  failures.Add("shard a", absl::OkStatus());  // ignored
  EXPECT_TRUE(failures.empty());
}

TEST(DownstreamFailuresTest, ClientBeforeInternalBeforeRetryable) {
  DownstreamFailures failures;
  failures.Add("shard a", absl::UnavailableError("down"));
  EXPECT_FALSE(failures.any_client_fault());
  EXPECT_EQ(failures.ToStatus("").code(), absl::StatusCode::kUnavailable);
  failures.Add("shard b", absl::UnknownError("boom"));
  EXPECT_EQ(failures.ToStatus("").code(), absl::StatusCode::kInternal);
  failures.Add("shard c", absl::NotFoundError("no collection"));
  EXPECT_TRUE(failures.any_client_fault());
  EXPECT_EQ(failures.size(), 3);
  const absl::Status status = failures.ToStatus("2 of 3 shards failed");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "2 of 3 shards failed: shard a: down; shard b: UNKNOWN: boom; shard c: no collection");
}

TEST(DownstreamFailuresTest, EarliestWinsWithinAKind) {
  DownstreamFailures failures;
  failures.Add("shard a", absl::DeadlineExceededError("slow"));
  failures.Add("shard b", absl::UnavailableError("down"));
  const absl::Status status = failures.ToStatus("");
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("shard a: slow; shard b: down"));
}

}  // namespace
}  // namespace tartan::router
