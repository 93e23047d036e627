// StreamLimiter (common/server/stream_limiter.h): at most max_streams admitted, the next
// refused at once; a stream whose handler waits longer than the idle timeout for the client's
// next message is cancelled, while time the handler spends working does not count.
#include "common/server/stream_limiter.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tartan/v1/indexer.pb.h"

namespace tartan {
namespace {

using tartan::v1::UpsertRequest;

// A client stream on a test's terms: Read blocks until a message is pushed, the client ends
// the stream, or the call is cancelled.
class FakeReader : public grpc::ServerReaderInterface<UpsertRequest> {
 public:
  void Push(const std::string& collection) {
    std::lock_guard<std::mutex> lock(mu_);
    UpsertRequest m;
    m.set_collection(collection);
    queue_.push_back(m);
    cv_.notify_all();
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  bool cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  bool Read(UpsertRequest* message) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || !queue_.empty(); });
    if (cancelled_) return false;
    *message = queue_.front();
    queue_.erase(queue_.begin());
    return true;
  }
  void SendInitialMetadata() override {}
  bool NextMessageSize(uint32_t* size) override {
    *size = 0;
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<UpsertRequest> queue_;
  bool cancelled_ = false;
};

TEST(StreamLimiterTest, AdmitsUpToTheLimitAndRefusesTheNextAtOnce) {
  StreamLimiter limiter({.max_streams = 2, .idle_timeout = absl::Seconds(60)});
  auto a = limiter.Admit([] {});
  auto b = limiter.Admit([] {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(limiter.open_streams(), 2);
  auto c = limiter.Admit([] {});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("--max_streams"), std::string::npos) << c.status();
  { StreamSlot released = std::move(*a); }  // a stream ends: its place is free again
  EXPECT_EQ(limiter.open_streams(), 1);
  EXPECT_TRUE(limiter.Admit([] {}).ok());
  EXPECT_EQ(limiter.open_streams(), 1);  // the temporary slot was released too
}

TEST(StreamLimiterTest, CancelsAStreamThatWaitsLongerThanTheIdleTimeout) {
  StreamLimiter limiter({.max_streams = 4, .idle_timeout = absl::Milliseconds(100)});
  FakeReader reader;
  auto slot = limiter.Admit([&] { reader.Cancel(); });
  ASSERT_TRUE(slot.ok());
  reader.Push("first");
  UpsertRequest message;
  EXPECT_EQ(slot->Read(&reader, &message), StreamRead::kMessage);
  EXPECT_EQ(message.collection(), "first");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(slot->Read(&reader, &message), StreamRead::kIdleTimeout);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.1);
  EXPECT_LT(waited, 5.0);
  EXPECT_TRUE(reader.cancelled());
  EXPECT_EQ(slot->IdleError().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(StreamLimiterTest, TimeSpentHandlingAMessageIsNotIdleTime) {
  StreamLimiter limiter({.max_streams = 4, .idle_timeout = absl::Milliseconds(100)});
  FakeReader reader;
  auto slot = limiter.Admit([&] { reader.Cancel(); });
  ASSERT_TRUE(slot.ok());
  UpsertRequest message;
  for (int i = 0; i < 3; ++i) {
    reader.Push("m");
    ASSERT_EQ(slot->Read(&reader, &message), StreamRead::kMessage) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow upsert
  }
  EXPECT_FALSE(reader.cancelled());
}

TEST(StreamLimiterTest, AStreamEndedByTheClientIsNotAnIdleTimeout) {
  StreamLimiter limiter({.max_streams = 1, .idle_timeout = absl::Seconds(60)});
  FakeReader reader;
  auto slot = limiter.Admit([] {});
  ASSERT_TRUE(slot.ok());
  reader.Cancel();  // Read returns false as at the end of the stream
  UpsertRequest message;
  EXPECT_EQ(slot->Read(&reader, &message), StreamRead::kEnd);
}

}  // namespace
}  // namespace tartan
