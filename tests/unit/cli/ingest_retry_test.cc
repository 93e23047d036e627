// tartanctl ingest against a fake router that refuses the first batches: transient refusals
// (RESOURCE_EXHAUSTED, the shards' backpressure) are retried with backoff and the load
// completes; --retries bounds the waiting; a permanent error (INVALID_ARGUMENT) stops at once.
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tartan/v1/router.grpc.pb.h"
#include "tests/testing/process.h"

namespace tartan::cli {
namespace {

// Answers AddDocuments with `code` for the first `refusals` calls, then OK.
class RefusingRouter final : public tartan::v1::Router::Service {
 public:
  RefusingRouter(grpc::StatusCode code, int refusals) : code_(code), refusals_(refusals) {}
  grpc::Status AddDocuments(grpc::ServerContext*, const tartan::v1::AddDocumentsRequest* request,
                            tartan::v1::AddDocumentsResponse* response) override {
    if (calls_++ < refusals_) return grpc::Status(code_, "the shard holds too much; retry later");
    documents_ += request->documents_size();
    response->set_added(request->documents_size());
    return grpc::Status::OK;
  }
  int calls() const { return calls_; }
  int documents() const { return documents_; }

 private:
  const grpc::StatusCode code_;
  const int refusals_;
  std::atomic<int> calls_{0}, documents_{0};
};

class IngestRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = testing::BinaryPath("tartanctl");
    if (!std::filesystem::exists(binary_)) GTEST_SKIP() << "tartanctl not built";
    dir_ = testing::MakeTempDir("ingest-retry");
    std::ofstream docs(dir_ + "/docs.jsonl");
    for (int i = 0; i < 5; ++i)
      docs << "{\"id\": \"d" << i << "\", \"text\": \"text " << i << "\"}\n";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs tartanctl ingest against `router` (3 batches of 2, 2, 1 documents); the exit code.
  int Ingest(RefusingRouter* router, int retries) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(router);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    const std::string cmd =
        absl::StrCat(binary_, " ingest --router 127.0.0.1:", port, " --input ", dir_, "/docs.jsonl",
                     " --batch-size 2 --restart --checkpoint ", dir_, "/checkpoint.json --retries ",
                     retries, " > ", dir_, "/out 2> ", dir_, "/err");
    const int status = std::system(cmd.c_str());
    server->Shutdown();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string binary_, dir_;
};

TEST_F(IngestRetryTest, BackpressureIsWaitedOutAndTheLoadCompletes) {
  RefusingRouter router(grpc::StatusCode::RESOURCE_EXHAUSTED, 2);
  EXPECT_EQ(Ingest(&router, 10), 0);
  EXPECT_EQ(router.calls(), 3 + 2);  // two refusals of the first batch, then 3 batches
  EXPECT_EQ(router.documents(), 5);
}

TEST_F(IngestRetryTest, RetriesAreBounded) {
  RefusingRouter router(grpc::StatusCode::UNAVAILABLE, 100);
  EXPECT_EQ(Ingest(&router, 1), 1);
  EXPECT_EQ(router.calls(), 2);  // the first try and one retry
  EXPECT_EQ(router.documents(), 0);
}

TEST_F(IngestRetryTest, APermanentErrorStopsAtOnce) {
  RefusingRouter router(grpc::StatusCode::INVALID_ARGUMENT, 100);
  EXPECT_EQ(Ingest(&router, 10), 1);
  EXPECT_EQ(router.calls(), 1);
}

}  // namespace
}  // namespace tartan::cli
