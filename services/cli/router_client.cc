#include "services/cli/router_client.h"

#include <chrono>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"

namespace tartan::cli {

void AddRouterOption(CLI::App* command, std::string* address) {
  *address = "127.0.0.1:50050";
  command->add_option("--router", *address, "router address")
      ->type_name("HOST:PORT")
      ->envname("TARTAN_ROUTER")
      ->capture_default_str();
}

std::unique_ptr<tartan::v1::Router::Stub> MakeRouterStub(const std::string& address) {
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  channel_args.SetMaxSendMessageSize(64 << 20);
  return tartan::v1::Router::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), channel_args));
}

std::string Describe(const grpc::Status& status) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int code = status.error_code();
  return absl::StrCat(code >= 0 && code <= 16 ? kNames[code] : "CODE", ": ",
                      status.error_message());
}

void SetTimeout(grpc::ClientContext* context, double seconds) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

}  // namespace tartan::cli
