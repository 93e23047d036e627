#include "common/server/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace tartan {
namespace {

// A named file must be a readable PEM file: gRPC's file watcher would otherwise only log an
// error at the first handshake, long after start-up.
absl::Status CheckPemFile(const char* flag, const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", path, " is not a PEM file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ServerTlsOptions::Validate() const {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file go together");
  }
  if (!client_ca_file.empty() && cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file needs --tls_cert_file and --tls_key_file (client certificates are "
        "only checked over TLS)");
  }
  RETURN_IF_ERROR(CheckPemFile("tls_cert_file", cert_file));
  RETURN_IF_ERROR(CheckPemFile("tls_key_file", key_file));
  return CheckPemFile("tls_client_ca_file", client_ca_file);
}

absl::Status ClientTlsOptions::Validate() const {
  if (client_cert_file.empty() != client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_cert_file and --tls_client_key_file go together");
  }
  if (!client_cert_file.empty() && ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_cert_file needs --tls_ca_file (a client certificate is only sent over TLS)");
  }
  RETURN_IF_ERROR(CheckPemFile("tls_ca_file", ca_file));
  RETURN_IF_ERROR(CheckPemFile("tls_client_cert_file", client_cert_file));
  return CheckPemFile("tls_client_key_file", client_key_file);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, options.client_ca_file, kTlsReloadSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  if (!options.enabled()) return grpc::InsecureChannelCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.client_key_file, options.client_cert_file, options.ca_file, kTlsReloadSeconds);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_root_certs();
  if (!options.client_cert_file.empty()) tls.watch_identity_key_cert_pairs();
  // Server certificates are verified against the CA and the dialled host name (the default).
  return grpc::experimental::TlsCredentials(tls);
}

bool IsLoopbackHost(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost" || host == "::1") return true;
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view octet : octets) {
    int value = 0;
    if (!absl::SimpleAtoi(octet, &value) || value < 0 || value > 255) return false;
  }
  return true;
}

absl::Status CheckPlaintextAllowed(absl::string_view host, bool tls, bool insecure) {
  if (tls || insecure || IsLoopbackHost(host)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to serve plaintext gRPC on ", host,
      ", which is reachable from other machines: set --tls_cert_file and --tls_key_file, listen "
      "on 127.0.0.1 (--host), or pass --insecure to accept plaintext explicitly"));
}

}  // namespace tartan
