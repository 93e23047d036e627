// The bootstrap every Tartan service runs on: a gRPC server with grpc.health.v1 driven by the
// lifecycle, server reflection, message size limits, keepalive, RPC metrics via an
// interceptor, a Prometheus exposer on its own port, and a graceful drain on SIGTERM/SIGINT.
//
//   ServerOptions options = ServerOptionsFromFlags("indexer");   // in main only
//   ASSIGN_OR_RETURN(auto host, ServiceHost::Start(options, {{Indexer::service_full_name(),
//   &service}})); host->SetLifecycle(Lifecycle::kLoading);  ... load ...
//   host->SetLifecycle(Lifecycle::kServing); host->WaitForShutdown();                  // returns
//   after the drain; exit 0
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/server/lifecycle.h"
#include "common/server/process_metrics.h"
#include "common/server/rpc_metrics.h"
#include "common/server/stream_limiter.h"
#include "common/server/tls.h"

namespace tartan {

struct ServerOptions {
  std::string service;           // metric prefix: "encoder", "indexer", "router"
  std::string host = "0.0.0.0";  // bind address for gRPC and metrics
  int grpc_port = 0;             // 0 = any free port (see port_file)
  int metrics_port = 0;          // 0 = any free port; -1 = no metrics endpoint
  std::string metrics_host;      // bind address for metrics; empty = host
  std::string port_file;  // if set, {"grpc_port":..,"metrics_port":..} is written here once bound
  int max_message_bytes = 64 << 20;                // receive and send limit per message
  absl::Duration drain_grace = absl::Seconds(20);  // in-flight calls get this long after SIGTERM
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Bounds on what clients can hold (gRPC resource quota and HTTP/2 settings):
  int max_threads = 128;                   // handler threads; calls beyond get RESOURCE_EXHAUSTED
  int64_t memory_quota_bytes = 1LL << 30;  // gRPC's own buffers
  int max_concurrent_streams = 256;        // per connection
  // Client streams per service (each holds a handler thread) and their idle timeout; the
  // services enforce them with a StreamLimiter. max_streams is at most max_threads / 2.
  StreamLimits streams;
  // Connections are closed (gracefully: calls in flight get drain_grace) after this long so
  // clients re-resolve and spread over new replicas; zero = never (the default: a long
  // ingest stream would be cut).
  absl::Duration max_connection_age = absl::ZeroDuration();
  ServerTlsOptions tls;   // TLS on the gRPC port when tls.enabled()
  bool insecure = false;  // allow plaintext gRPC on a non-loopback host

  // Also the plaintext rule: a non-loopback host needs TLS unless `insecure`.
  absl::Status Validate() const;
};

// Fills ServerOptions from the shared flags (--host, --grpc_port, --metrics_port, --metrics_host,
// --port_file, --max_message_mb, --drain_grace_s, --keepalive_s, --max_threads,
// --memory_quota_mb, --max_concurrent_streams, --max_streams, --stream_idle_timeout_s,
// --max_connection_age_s, --tls_cert_file,
// --tls_key_file, --tls_client_ca_file, --insecure). Call after ParseFlagsWithEnv.
ServerOptions ServerOptionsFromFlags(const std::string& service);
// Per-service defaults for the shared port flags; call before ParseFlagsWithEnv.
void SetDefaultPorts(int grpc_port, int metrics_port);
// Applies --log_level; returns an error for an unknown level.
absl::Status ApplyLogLevelFlag();

// A service to register, with its full name ("tartan.v1.Indexer", from
// tartan::v1::Indexer::service_full_name()) so health answers for it by name.
struct HostedService {
  std::string name;
  grpc::Service* service;
};

class ServiceHost {
 public:
  // Builds and starts the server; health reports NOT_SERVING (lifecycle LOADING) until
  // SetLifecycle(kServing). Services must outlive the host. Services that register their own
  // metric families pass the registry they used (a new one is made otherwise).
  static absl::StatusOr<std::unique_ptr<ServiceHost>> Start(
      const ServerOptions& options, const std::vector<HostedService>& services,
      std::shared_ptr<prometheus::Registry> registry = nullptr);
  ~ServiceHost();

  void SetLifecycle(Lifecycle state);
  Lifecycle lifecycle() const;
  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

  // Blocks until SIGTERM/SIGINT (or RequestShutdown), then drains: health NOT_SERVING, no new
  // calls accepted, in-flight calls finish within drain_grace (then are cancelled).
  void WaitForShutdown();

 private:
  ServiceHost(const ServerOptions& options, std::shared_ptr<prometheus::Registry> registry);

  ServerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<RpcMetrics> rpc_metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<ProcessMetrics> process_metrics_ = std::make_shared<ProcessMetrics>();
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  mutable absl::Mutex mu_;
  Lifecycle lifecycle_ ABSL_GUARDED_BY(mu_) = Lifecycle::kStarting;
  int grpc_port_ = 0;
  int metrics_port_ = -1;
};

}  // namespace tartan
