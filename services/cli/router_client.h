// What the cluster commands of tartanctl share: the --router option (else $TARTAN_ROUTER, else
// 127.0.0.1:50050), --api-key (else $TARTAN_API_KEY) sent as "authorization: Bearer KEY",
// --tls-ca (else $TARTAN_TLS_CA: TLS to the router, verified against that CA), and a stub over
// one channel.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "tartan/v1/router.grpc.pb.h"

namespace CLI {
class App;
}

namespace tartan::cli {

struct RouterTarget {
  std::string address;  // HOST:PORT
  std::string api_key;  // "" = send none
  std::string tls_ca;   // PEM CA file; "" = plaintext
};

// Adds --router HOST:PORT, --api-key KEY and --tls-ca FILE to `command`, filled from
// $TARTAN_ROUTER, $TARTAN_API_KEY and $TARTAN_TLS_CA when not given.
void AddRouterOption(CLI::App* command, RouterTarget* target);
// A stub whose every call carries the API key. A --tls-ca that cannot be read gives a stub
// whose calls fail with UNAVAILABLE naming the file.
std::unique_ptr<tartan::v1::Router::Stub> MakeRouterStub(const RouterTarget& target);
// "code: message" for a failed call.
std::string Describe(const grpc::Status& status);
void SetTimeout(grpc::ClientContext* context, double seconds);

}  // namespace tartan::cli
