// What the cluster commands of tartanctl share: the router address (--router, else
// $TARTAN_ROUTER, else 127.0.0.1:50050) and a stub over one channel.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "services/cli/args.h"
#include "tartan/v1/router.grpc.pb.h"

namespace tartan::cli {

inline constexpr FlagSpec kRouterFlag = {"router", "HOST:PORT",
                                         "router address (default $TARTAN_ROUTER or 127.0.0.1:50050)"};

std::string RouterAddress(const Args& args);
std::unique_ptr<tartan::v1::Router::Stub> MakeRouterStub(const std::string& address);
// "code: message" for a failed call.
std::string Describe(const grpc::Status& status);
void SetTimeout(grpc::ClientContext* context, double seconds);

}  // namespace tartan::cli
