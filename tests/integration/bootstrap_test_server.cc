// A server built only from the shared bootstrap plus a test Sleeper service: what the
// bootstrap integration test drives (health, reflection, metrics, drain on SIGTERM).
#include <chrono>
#include <thread>

#include "common/config.h"
#include "common/logging.h"
#include "common/server/service_host.h"
#include "tartan/testing/sleeper.grpc.pb.h"

namespace {
class SleeperService final : public tartan::testing::Sleeper::Service {
  grpc::Status Sleep(grpc::ServerContext*, const tartan::testing::SleepRequest* request,
                     tartan::testing::SleepReply* reply) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(request->millis()));
    reply->set_slept_millis(request->millis());
    return grpc::Status::OK;
  }
};
}  // namespace

int main(int argc, char** argv) {
  tartan::ParseFlagsWithEnv(argc, argv,
                            "bootstrap_test_server: a Sleeper service on the bootstrap");
  if (auto status = tartan::ApplyLogLevelFlag(); !status.ok()) {
    LOG_ERROR << status;
    return 2;
  }
  SleeperService sleeper;
  auto host =
      tartan::ServiceHost::Start(tartan::ServerOptionsFromFlags("testserver"),
                                 {{tartan::testing::Sleeper::service_full_name(), &sleeper}});
  if (!host.ok()) {
    LOG_ERROR << host.status();
    return 1;
  }
  (*host)->SetLifecycle(tartan::Lifecycle::kServing);
  (*host)->WaitForShutdown();
  return 0;
}
