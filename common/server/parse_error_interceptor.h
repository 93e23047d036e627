// gRPC answers a request it cannot parse (for instance a proto3 string field holding invalid
// UTF-8) with INTERNAL and an empty message, before any handler runs. That is the client's
// mistake, not ours: this interceptor rewrites exactly that status to INVALID_ARGUMENT with a
// message saying why. Handlers never return INTERNAL without a message (ToGrpcStatus keeps it).
#pragma once

#include <memory>

#include <grpcpp/support/server_interceptor.h>

namespace tartan {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ParseErrorInterceptorFactory();

}  // namespace tartan
