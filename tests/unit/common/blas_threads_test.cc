// common/compute/blas_threads: the one place that sets OpenBLAS's thread count.
#include "common/compute/blas_threads.h"

#include <gtest/gtest.h>

namespace tartan::compute {
namespace {

TEST(BlasThreadsTest, GuardSetsAndRestores) {
  SetBlasThreads(2);
  ASSERT_EQ(BlasThreads(), 2);
  {
    ScopedBlasThreads one(1);
    EXPECT_EQ(BlasThreads(), 1);
  }
  EXPECT_EQ(BlasThreads(), 2);
}

TEST(BlasThreadsTest, CountsBelowOneMeanOne) {
  SetBlasThreads(0);
  EXPECT_EQ(BlasThreads(), 1);
  SetBlasThreads(-3);
  EXPECT_EQ(BlasThreads(), 1);
}

}  // namespace
}  // namespace tartan::compute
