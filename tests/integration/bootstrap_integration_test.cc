// The server bootstrap, end to end, on a real process: health follows the lifecycle,
// reflection lists the services, /metrics counts RPCs, SIGTERM drains an in-flight call and
// the process exits 0.
#include <signal.h>

#include <future>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tartan/testing/sleeper.grpc.pb.h"
#include "tests/testing/process.h"

namespace tartan::testing {
namespace {

using ::testing::Contains;

class BootstrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("bootstrap");
    auto process = ServiceProcess::Start(BinaryPath("bootstrap_test_server"), {}, dir_);
    ASSERT_TRUE(process.ok()) << process.status();
    server_ = std::move(*process);
    channel_ = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  }

  std::string dir_;
  ServiceProcess server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BootstrapTest, HealthReportsServing) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stub->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::ClientContext named_context;
  request.set_service("tartan.testing.Sleeper");
  ASSERT_TRUE(stub->Check(&named_context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::ClientContext unknown_context;
  request.set_service("no.such.Service");
  EXPECT_EQ(stub->Check(&unknown_context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(BootstrapTest, ReflectionListsServices) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("*");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, Contains("tartan.testing.Sleeper"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(names, Contains("grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(BootstrapTest, MetricsCountRpcs) {
  const std::string series = "tartan_testserver_rpcs_total";
  const std::vector<std::string> labels = {"method=\"/tartan.testing.Sleeper/Sleep\"",
                                           "code=\"OK\""};
  auto before = HttpGet(server_.metrics_port(), "/metrics");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(MetricValue(*before, "tartan_testserver_info", {"version=\""}), 1);
  EXPECT_GE(MetricValue(*before, "process_cpu_seconds_total"), 0);
  EXPECT_GT(MetricValue(*before, "process_resident_memory_bytes"), 0);
  EXPECT_GT(MetricValue(*before, "process_open_fds"), 0);
  EXPECT_GT(MetricValue(*before, "process_threads"), 1);
  const double count_before = std::max(0.0, MetricValue(*before, series, labels));

  auto stub = tartan::testing::Sleeper::NewStub(channel_);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    tartan::testing::SleepRequest request;
    tartan::testing::SleepReply reply;
    ASSERT_TRUE(stub->Sleep(&context, request, &reply).ok());
  }
  auto after = HttpGet(server_.metrics_port(), "/metrics");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(MetricValue(*after, series, labels), count_before + 3) << *after;
  EXPECT_NE(after->find("tartan_testserver_rpc_latency_seconds_bucket"), std::string::npos);
  EXPECT_EQ(MetricValue(*after, "tartan_testserver_lifecycle_state"), 2);
}

TEST_F(BootstrapTest, SigtermDrainsInFlightCallThenExitsZero) {
  auto stub = tartan::testing::Sleeper::NewStub(channel_);
  // A 1.5 s call in flight when SIGTERM arrives must still complete successfully.
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    tartan::testing::SleepRequest request;
    request.set_millis(1500);
    tartan::testing::SleepReply reply;
    grpc::Status status = stub->Sleep(&context, request, &reply);
    return std::make_pair(status, reply.slept_millis());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto started = std::chrono::steady_clock::now();
  auto exit_code = server_.Stop(30);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << server_.ReadLog();
  const auto [status, slept] = call.get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(slept, 1500u);
  // It waited for the call rather than exiting at once.
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(800));
  EXPECT_NE(server_.ReadLog().find("DRAINING"), std::string::npos);
}

}  // namespace
}  // namespace tartan::testing
