// tartan-router: the cluster's front door (tartan.v1.Router). Stateless: the encoder address
// and the shard list (or DNS name) come from flags / TARTAN_* environment variables.
#include <atomic>
#include <thread>

#include "absl/flags/flag.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/server/api_keys.h"
#include "common/server/client_tls_flags.h"
#include "common/server/service_host.h"
#include "common/server/tls.h"
#include "common/status_macros.h"
#include "services/router/authorized_router.h"
#include "services/router/router_service.h"

ABSL_FLAG(std::string, encoder, "127.0.0.1:50051",
          "Encoder address host:port (or dns:///name:port: calls are spread over every address)");
ABSL_FLAG(std::string, shards, "127.0.0.1:50061",
          "Shards: host:port,host:port,... or dns:///name:port (re-resolved periodically)");
ABSL_FLAG(double, dns_refresh_s, 10.0, "Seconds between re-resolutions of a dns:/// shard source");
ABSL_FLAG(double, default_timeout_s, 10.0, "Deadline for requests that carry none");
ABSL_FLAG(int, encode_batch_texts, 32, "Texts per Encode call when ingesting");
ABSL_FLAG(std::string, api_keys_file, "",
          "API keys, one \"SCOPES KEY\" per line (SCOPES: comma-separated read,write,admin; # "
          "comments); clients send \"authorization: Bearer KEY\". Re-read when it changes. "
          "Without it the router serves only on loopback unless --insecure");
ABSL_FLAG(bool, allow_exact_search, false,
          "Accept SearchParams.exact from clients (brute-force MaxSim over every stored vector "
          "on every shard: slow, for evaluation; the shards need it too); off, such a search is "
          "INVALID_ARGUMENT");

namespace {

absl::Status Run() {
  RETURN_IF_ERROR(tartan::ApplyLogLevelFlag());
  ASSIGN_OR_RETURN(tartan::router::ShardSource source,
                   tartan::router::ParseShardSource(absl::GetFlag(FLAGS_shards)));
  tartan::router::RouterOptions options;
  options.default_timeout = absl::Seconds(absl::GetFlag(FLAGS_default_timeout_s));
  options.encode_batch_texts = absl::GetFlag(FLAGS_encode_batch_texts);
  RETURN_IF_ERROR(
      tartan::CheckRange("default_timeout_s", absl::GetFlag(FLAGS_default_timeout_s), 0.01, 3600));
  RETURN_IF_ERROR(
      tartan::CheckRange("dns_refresh_s", absl::GetFlag(FLAGS_dns_refresh_s), 0.1, 86400));
  RETURN_IF_ERROR(tartan::CheckRange("encode_batch_texts", options.encode_batch_texts, 1, 10000));
  tartan::ServerOptions server_options = tartan::ServerOptionsFromFlags("router");
  options.max_message_bytes = server_options.max_message_bytes;
  options.allow_exact_search = absl::GetFlag(FLAGS_allow_exact_search);
  options.streams = server_options.streams;

  const std::string api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
  if (api_keys_file.empty() && !server_options.insecure &&
      !tartan::IsLoopbackHost(server_options.host)) {
    return absl::FailedPreconditionError(
        "refusing to serve the router's client API on " + server_options.host +
        " without API keys: set --api_keys_file, listen on 127.0.0.1 (--host), or pass "
        "--insecure to let any client in");
  }
  std::unique_ptr<tartan::ApiKeyStore> api_keys;
  if (!api_keys_file.empty()) {
    ASSIGN_OR_RETURN(api_keys, tartan::ApiKeyStore::Open(api_keys_file));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> downstream_credentials,
                   tartan::MakeChannelCredentials(tartan::ClientTlsOptionsFromFlags()));

  tartan::router::ShardClients shards(source, server_options.max_message_bytes,
                                      downstream_credentials);
  // Start even if DNS does not answer yet: the refresh loop retries.
  (void)shards.Refresh();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(server_options.max_message_bytes);
  args.SetMaxSendMessageSize(server_options.max_message_bytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Spread Encode calls over every address the encoder name resolves to (several encoder
  // replicas behind a headless Service); the same as pick_first for a single address.
  args.SetLoadBalancingPolicyName("round_robin");
  auto encoder_channel =
      grpc::CreateCustomChannel(absl::GetFlag(FLAGS_encoder), downstream_credentials, args);
  auto registry = std::make_shared<prometheus::Registry>();
  tartan::router::RouterService service(options, encoder_channel, &shards, *registry);
  // With keys, clients reach the RouterService only through the key check.
  std::unique_ptr<tartan::router::AuthorizedRouter> authorized;
  grpc::Service* front = &service;
  if (api_keys) {
    authorized = std::make_unique<tartan::router::AuthorizedRouter>(&service, api_keys.get());
    front = authorized.get();
  }
  ASSIGN_OR_RETURN(
      auto host, tartan::ServiceHost::Start(
                     server_options, {{tartan::v1::Router::service_full_name(), front}}, registry));
  host->SetLifecycle(tartan::Lifecycle::kServing);

  std::atomic<bool> stop{false};
  std::thread refresher([&] {
    if (source.dns_name.empty()) return;  // a static list never changes
    const auto period = absl::Seconds(absl::GetFlag(FLAGS_dns_refresh_s));
    absl::Time next = absl::Now() + period;
    while (!stop.load()) {
      absl::SleepFor(absl::Milliseconds(100));
      if (absl::Now() < next) continue;
      (void)shards.Refresh();
      next = absl::Now() + period;
    }
  });
  host->WaitForShutdown();
  stop = true;
  refresher.join();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  tartan::SetDefaultPorts(50050, 9100);
  tartan::ParseFlagsWithEnv(argc, argv, "tartan-router: the front door of a Tartan cluster");
  absl::Status status = Run();
  if (!status.ok()) {
    LOG_ERROR << "tartan-router: " << status;
    return 1;
  }
  return 0;
}
