#include "services/encoder/batching/dynamic_batcher.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"

namespace tartan::encoder {
namespace {

std::string GoldenModel() {
  const char* shared = std::getenv("TARTAN_SHARED_DIR");
  if (shared == nullptr) return "";
  const std::string dir = std::string(shared) + "/golden/models/modernbert-colbert-tiny";
  return std::filesystem::exists(dir) ? dir : "";
}

class DynamicBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string model = GoldenModel();
    if (model.empty()) GTEST_SKIP() << "golden model unavailable (TARTAN_SHARED_DIR)";
    auto encoder = ColbertEncoder::Load(model, EncoderOptions{});
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    encoder_ = std::move(*encoder);
  }
  std::unique_ptr<ColbertEncoder> encoder_;
};

TEST_F(DynamicBatcherTest, ConcurrentRequestsGetTheirOwnResultsAndAreMerged) {
  BatcherOptions options;
  options.max_queue_delay = absl::Milliseconds(20);
  std::atomic<int> batches{0}, texts_in_batches{0};
  BatcherObserver observer;
  observer.batch_done = [&](int texts, int, double) {
    ++batches;
    texts_in_batches += texts;
  };
  DynamicBatcher batcher(encoder_.get(), options, observer);
  const std::vector<std::string> texts = {"What is the capital of France?", "hello",
                                          "Paris is the capital of France.", "token pooling"};
  EncodeParams params;
  params.is_query = false;
  std::vector<std::future<EncodeResult>> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(batcher.Submit({texts[i % 4]}, params, absl::InfiniteFuture()));
  }
  for (int i = 0; i < 8; ++i) {
    EncodeResult result = futures[i].get();
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->size(), 1u);
    auto direct = encoder_->Encode({texts[i % 4]}, params);
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ((*result)[0].ids, (*direct)[0].ids) << i;
    ASSERT_EQ((*result)[0].vectors.size(), (*direct)[0].vectors.size());
    for (size_t j = 0; j < (*direct)[0].vectors.size(); ++j) {
      EXPECT_NEAR((*result)[0].vectors[j], (*direct)[0].vectors[j], 1e-5);
    }
  }
  EXPECT_EQ(texts_in_batches.load(), 8);
  EXPECT_LT(batches.load(), 8) << "requests queued together were not merged";
}

TEST_F(DynamicBatcherTest, FullQueueIsResourceExhausted) {
  BatcherOptions options;
  options.max_queue_texts = 2;
  options.max_queue_delay = absl::Milliseconds(500);  // hold work in the queue
  options.max_batch_tokens = 1 << 20;
  DynamicBatcher batcher(encoder_.get(), options);
  EncodeParams params;
  auto first = batcher.Submit({"a", "b"}, params, absl::InfiniteFuture());
  auto rejected = batcher.Submit({"c"}, params, absl::InfiniteFuture());
  EncodeResult result = rejected.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
  EXPECT_TRUE(first.get().ok());
}

TEST_F(DynamicBatcherTest, ExpiredRequestsAreDroppedNotComputed) {
  BatcherOptions options;
  options.max_queue_delay = absl::Milliseconds(50);
  std::atomic<int> computed{0}, expired{0};
  BatcherObserver observer;
  observer.batch_done = [&](int texts, int, double) { computed += texts; };
  observer.expired = [&] { ++expired; };
  DynamicBatcher batcher(encoder_.get(), options, observer);
  EncodeParams params;
  auto late = batcher.Submit({"too late"}, params, absl::Now() + absl::Milliseconds(1));
  EncodeResult result = late.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(computed.load(), 0);
  EXPECT_EQ(expired.load(), 1);
}

TEST_F(DynamicBatcherTest, IncompatibleRequestsAreNotMixed) {
  DynamicBatcher batcher(encoder_.get(), BatcherOptions{});
  EncodeParams query;
  query.is_query = true;
  EncodeParams document;
  auto q = batcher.Submit({"hello"}, query, absl::InfiniteFuture());
  auto d = batcher.Submit({"hello"}, document, absl::InfiniteFuture());
  auto q_result = q.get();
  auto d_result = d.get();
  ASSERT_TRUE(q_result.ok() && d_result.ok());
  EXPECT_EQ((*q_result)[0].num_tokens, encoder_->info().query_length);  // expanded query
  EXPECT_LT((*d_result)[0].num_tokens, encoder_->info().query_length);
}

}  // namespace
}  // namespace tartan::encoder
