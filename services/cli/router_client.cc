#include "services/cli/router_client.h"

#include <grpcpp/support/client_interceptor.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"

namespace tartan::cli {
namespace {

// Adds "authorization: Bearer KEY" to every call. An interceptor rather than call credentials:
// gRPC drops call credentials on plaintext channels, and a key must also reach a router behind
// a TLS-terminating proxy.
class ApiKeyInterceptor final : public grpc::experimental::Interceptor {
 public:
  ApiKeyInterceptor(grpc::experimental::ClientRpcInfo* /*info*/, const std::string& header)
      : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string& header_;
};

class ApiKeyInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit ApiKeyInterceptorFactory(const std::string& key) : header_("Bearer " + key) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new ApiKeyInterceptor(info, header_);
  }

 private:
  const std::string header_;
};

}  // namespace

void AddRouterOption(CLI::App* command, RouterTarget* target) {
  target->address = "127.0.0.1:50050";
  command->add_option("--router", target->address, "router address")
      ->type_name("HOST:PORT")
      ->envname("TARTAN_ROUTER")
      ->capture_default_str();
  // No capture_default_str: a key is never printed in --help.
  command->add_option("--api-key", target->api_key, "API key sent as \"authorization: Bearer\"")
      ->type_name("KEY")
      ->envname("TARTAN_API_KEY");
  command->add_option("--tls-ca", target->tls_ca, "PEM CA file: talk TLS to the router")
      ->type_name("FILE")
      ->envname("TARTAN_TLS_CA");
}

std::unique_ptr<tartan::v1::Router::Stub> MakeRouterStub(const RouterTarget& target) {
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  channel_args.SetMaxSendMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!target.tls_ca.empty()) {
    std::ifstream in(target.tls_ca);
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    if (!in || ssl.pem_root_certs.empty()) {
      // Never fall back to plaintext: an empty root set fails every handshake.
      std::fprintf(stderr, "tartanctl: cannot read --tls-ca %s\n", target.tls_ca.c_str());
      ssl.pem_root_certs = "unreadable";
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!target.api_key.empty()) {
    interceptors.push_back(std::make_unique<ApiKeyInterceptorFactory>(target.api_key));
  }
  return tartan::v1::Router::NewStub(grpc::experimental::CreateCustomChannelWithInterceptors(
      target.address, credentials, channel_args, std::move(interceptors)));
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
