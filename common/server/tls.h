// Transport security for every Tartan service: TLS server credentials (optionally requiring
// client certificates, i.e. mutual TLS), TLS channel credentials for the router's outgoing
// calls, and the rule that plaintext is only for loopback unless explicitly asked for.
//
// Certificate and key files are watched (grpc::experimental::FileWatcherCertificateProvider):
// a rotated certificate is picked up within kTlsReloadSeconds without a restart. Replace the
// files atomically (write elsewhere, then rename), as cert-manager and Kubernetes Secret
// volumes do.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tartan {

inline constexpr unsigned kTlsReloadSeconds = 10;

// The server side: --tls_cert_file, --tls_key_file, --tls_client_ca_file.
struct ServerTlsOptions {
  std::string cert_file;       // PEM certificate chain presented to clients
  std::string key_file;        // PEM private key of cert_file
  std::string client_ca_file;  // if set, clients must present a certificate signed by it

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // Both or neither of cert/key; client_ca only with them; every named file readable PEM.
  absl::Status Validate() const;
};

// The client side (router → encoder/shards): --tls_ca_file, --tls_client_cert_file,
// --tls_client_key_file.
struct ClientTlsOptions {
  std::string ca_file;           // PEM roots that sign the servers' certificates
  std::string client_cert_file;  // PEM certificate presented to servers that require one
  std::string client_key_file;

  bool enabled() const { return !ca_file.empty(); }
  // A client certificate needs its key (and a CA: no client certificate over plaintext).
  absl::Status Validate() const;
};

// TLS credentials when `options.enabled()`, else insecure ones. Validates first.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options);

// Whether `host` (a bind address: "127.0.0.1", "::1", "localhost", "[::1]", 127.0.0.0/8) only
// reaches this machine. "0.0.0.0", "::" and every other address do not.
bool IsLoopbackHost(absl::string_view host);

// The plaintext rule: a server on a non-loopback address needs TLS or an explicit `insecure`.
absl::Status CheckPlaintextAllowed(absl::string_view host, bool tls, bool insecure);

}  // namespace tartan
