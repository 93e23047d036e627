// What the cluster commands of tartanctl share: the --router option (else $TARTAN_ROUTER, else
// 127.0.0.1:50050) and a stub over one channel.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "tartan/v1/router.grpc.pb.h"

namespace CLI {
class App;
}

namespace tartan::cli {

// Adds --router HOST:PORT to `command`, filled from $TARTAN_ROUTER when not given.
void AddRouterOption(CLI::App* command, std::string* address);
std::unique_ptr<tartan::v1::Router::Stub> MakeRouterStub(const std::string& address);
// "code: message" for a failed call.
std::string Describe(const grpc::Status& status);
void SetTimeout(grpc::ClientContext* context, double seconds);

}  // namespace tartan::cli
