#include "common/server/client_tls_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA that signs the certificates of the services this one calls: call them over "
          "TLS");
ABSL_FLAG(std::string, tls_client_cert_file, "",
          "PEM client certificate presented to the services this one calls (mutual TLS; needs "
          "--tls_ca_file and --tls_client_key_file)");
ABSL_FLAG(std::string, tls_client_key_file, "", "PEM private key of --tls_client_cert_file");

namespace tartan {

ClientTlsOptions ClientTlsOptionsFromFlags() {
  ClientTlsOptions o;
  o.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  o.client_cert_file = absl::GetFlag(FLAGS_tls_client_cert_file);
  o.client_key_file = absl::GetFlag(FLAGS_tls_client_key_file);
  return o;
}

}  // namespace tartan
