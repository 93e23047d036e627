// The client side of TLS as flags (--tls_ca_file, --tls_client_cert_file,
// --tls_client_key_file), for the services that call other services: the router (encoder and
// shards) and the indexer (a --codec_source shard). Its own library, so that only those
// binaries offer the flags.
#pragma once

#include "common/server/tls.h"

namespace tartan {

// Call after ParseFlagsWithEnv.
ClientTlsOptions ClientTlsOptionsFromFlags();

}  // namespace tartan
