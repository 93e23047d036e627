#include "common/server/service_host.h"

#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/server/parse_error_interceptor.h"
#include "common/server/shutdown_signal.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, host, "0.0.0.0", "Address to bind the gRPC and metrics ports to");
ABSL_FLAG(int, grpc_port, 0, "gRPC port (0 = any free port; see --port_file)");
ABSL_FLAG(int, metrics_port, 0, "Prometheus /metrics port (0 = any free port, -1 = off)");
ABSL_FLAG(std::string, metrics_host, "",
          "Address to bind the metrics port to (empty = --host; 127.0.0.1 keeps /metrics off "
          "the network)");
ABSL_FLAG(std::string, port_file, "",
          "If set, write {\"grpc_port\":N,\"metrics_port\":M} here once the ports are bound");
ABSL_FLAG(int, max_message_mb, 64, "Largest gRPC message accepted or sent, in MiB");
ABSL_FLAG(double, drain_grace_s, 20.0, "Seconds in-flight calls get to finish after SIGTERM");
ABSL_FLAG(double, keepalive_s, 30.0, "gRPC keepalive ping interval in seconds");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(int, max_threads, 128,
          "Threads handling calls; calls beyond them are refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(int, memory_quota_mb, 1024, "Memory gRPC may use for its buffers, in MiB");
ABSL_FLAG(int, max_concurrent_streams, 256, "Concurrent calls per client connection");
ABSL_FLAG(int, max_streams, 32,
          "Client streams (AddDocumentsStream, UpsertStream) open at once; each holds a handler "
          "thread, so more are refused with RESOURCE_EXHAUSTED (at most --max_threads / 2)");
ABSL_FLAG(double, stream_idle_timeout_s, 60,
          "A client stream with no message for this long is cancelled (its earlier messages "
          "stay stored)");
ABSL_FLAG(double, max_connection_age_s, 0,
          "Close client connections after this many seconds (calls in flight get "
          "--drain_grace_s) so clients re-resolve and reach new replicas; 0 = never");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS on the gRPC port (with --tls_key_file); reloaded when "
          "the file changes");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "If set, clients must present a certificate signed by this PEM CA (mutual TLS)");
ABSL_FLAG(bool, insecure, false,
          "Allow plaintext gRPC on a non-loopback --host (without it such a service refuses to "
          "start unless TLS is configured); the router also answers without --api_keys_file");

namespace tartan {

absl::Status ServerOptions::Validate() const {
  if (service.empty()) return absl::InvalidArgumentError("service name is empty");
  RETURN_IF_ERROR(CheckPort("grpc_port", grpc_port));
  if (metrics_port != -1) RETURN_IF_ERROR(CheckPort("metrics_port", metrics_port));
  if (max_message_bytes < (1 << 20)) {
    return absl::InvalidArgumentError("--max_message_mb must be at least 1");
  }
  if (drain_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--drain_grace_s must be >= 0");
  }
  if (keepalive_time < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--keepalive_s must be >= 1");
  }
  if (max_threads < 4) return absl::InvalidArgumentError("--max_threads must be >= 4");
  if (memory_quota_bytes < 4LL * max_message_bytes) {
    return absl::InvalidArgumentError(
        "--memory_quota_mb must be at least 4 x --max_message_mb (room for a few messages)");
  }
  if (max_concurrent_streams < 1) {
    return absl::InvalidArgumentError("--max_concurrent_streams must be >= 1");
  }
  if (streams.max_streams < 1 || streams.max_streams > max_threads / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_streams must be between 1 and --max_threads / 2 (", max_threads / 2,
                     "): the other threads answer unary calls"));
  }
  if (streams.idle_timeout < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("--stream_idle_timeout_s must be >= 0.1");
  }
  if (max_connection_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max_connection_age_s must be >= 0");
  }
  RETURN_IF_ERROR(tls.Validate());
  return CheckPlaintextAllowed(host, tls.enabled(), insecure);
}

void SetDefaultPorts(int grpc_port, int metrics_port) {
  absl::SetFlag(&FLAGS_grpc_port, grpc_port);
  absl::SetFlag(&FLAGS_metrics_port, metrics_port);
}

absl::Status ApplyLogLevelFlag() {
  ASSIGN_OR_RETURN(LogLevel level, ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  SetLogLevel(level);
  return absl::OkStatus();
}

ServerOptions ServerOptionsFromFlags(const std::string& service) {
  ServerOptions options;
  options.service = service;
  options.host = absl::GetFlag(FLAGS_host);
  options.grpc_port = absl::GetFlag(FLAGS_grpc_port);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_mb) << 20;
  options.drain_grace = absl::Seconds(absl::GetFlag(FLAGS_drain_grace_s));
  options.keepalive_time = absl::Seconds(absl::GetFlag(FLAGS_keepalive_s));
  options.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.memory_quota_bytes = int64_t(absl::GetFlag(FLAGS_memory_quota_mb)) << 20;
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.streams.max_streams = absl::GetFlag(FLAGS_max_streams);
  options.streams.idle_timeout = absl::Seconds(absl::GetFlag(FLAGS_stream_idle_timeout_s));
  options.max_connection_age = absl::Seconds(absl::GetFlag(FLAGS_max_connection_age_s));
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  return options;
}

ServiceHost::ServiceHost(const ServerOptions& options,
                         std::shared_ptr<prometheus::Registry> registry)
    : options_(options),
      registry_(registry ? std::move(registry) : std::make_shared<prometheus::Registry>()) {}

ServiceHost::~ServiceHost() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Start(
    const ServerOptions& options, const std::vector<HostedService>& services,
    std::shared_ptr<prometheus::Registry> registry) {
  RETURN_IF_ERROR(options.Validate());
  InstallShutdownSignalHandlers();
  std::unique_ptr<ServiceHost> host(new ServiceHost(options, std::move(registry)));
  host->rpc_metrics_ = std::make_unique<RpcMetrics>(*host->registry_, options.service);

  // The health service is not in the protobuf pool; other methods are found there.
  for (const char* method : {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}) {
    host->rpc_metrics_->AllowMethod(method);
  }
  for (const HostedService& hosted : services) host->service_names_.push_back(hosted.name);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(options.tls));
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.grpc_port), credentials,
                           &bound_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  grpc::ResourceQuota quota(absl::StrCat("tartan-", options.service));
  quota.SetMaxThreads(options.max_threads);
  quota.Resize(size_t(options.memory_quota_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  if (options.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(
            std::min<int64_t>(absl::ToInt64Milliseconds(options.max_connection_age), INT32_MAX)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(std::min<int64_t>(
                                   absl::ToInt64Milliseconds(options.drain_grace), INT32_MAX)));
  }
  for (const HostedService& hosted : services) builder.RegisterService(hosted.service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  // Order matters: the parse-error rewrite runs first so the metrics record the final code.
  creators.push_back(ParseErrorInterceptorFactory());
  creators.push_back(host->rpc_metrics_->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  host->server_ = builder.BuildAndStart();
  if (!host->server_ || bound_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot bind gRPC on ", options.host, ":",
                                               options.grpc_port, " (port in use?)"));
  }
  host->grpc_port_ = bound_port;

  if (options.metrics_port >= 0) {
    const std::string& metrics_host =
        options.metrics_host.empty() ? options.host : options.metrics_host;
    try {
      host->exposer_ = std::make_unique<prometheus::Exposer>(
          absl::StrCat(metrics_host, ":", options.metrics_port));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot bind metrics on ", metrics_host, ":",
                                                 options.metrics_port, ": ", e.what()));
    }
    host->exposer_->RegisterCollectable(host->registry_);
    host->exposer_->RegisterCollectable(host->process_metrics_);
    host->metrics_port_ = host->exposer_->GetListeningPorts().at(0);
  }

  if (!options.port_file.empty()) {
    const std::string tmp = options.port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << "{\"grpc_port\":" << host->grpc_port_ << ",\"metrics_port\":" << host->metrics_port_
          << "}\n";
      if (!out) return absl::InternalError("cannot write --port_file " + options.port_file);
    }
    if (std::rename(tmp.c_str(), options.port_file.c_str()) != 0) {
      return absl::InternalError("cannot write --port_file " + options.port_file);
    }
  }
  host->SetLifecycle(Lifecycle::kLoading);
  LOG_INFO << options.service << " listening: grpc " << options.host << ":" << host->grpc_port_
           << (!options.tls.enabled()               ? " (plaintext)"
               : options.tls.client_ca_file.empty() ? " (TLS)"
                                                    : " (mutual TLS)")
           << ", metrics " << host->metrics_port_;
  return host;
}

void ServiceHost::SetLifecycle(Lifecycle state) {
  {
    absl::MutexLock lock(&mu_);
    lifecycle_ = state;
  }
  rpc_metrics_->SetLifecycle(state);
  const bool serving = state == Lifecycle::kServing;
  if (server_ && server_->GetHealthCheckService() != nullptr) {
    auto* health = server_->GetHealthCheckService();
    health->SetServingStatus(serving);
    for (const std::string& name : service_names_) health->SetServingStatus(name, serving);
  }
  LOG_INFO << options_.service << " lifecycle " << LifecycleName(state);
}

Lifecycle ServiceHost::lifecycle() const {
  absl::MutexLock lock(&mu_);
  return lifecycle_;
}

void ServiceHost::WaitForShutdown() {
  const int signo = WaitForShutdownSignal();
  LOG_INFO << options_.service << " received " << (signo == 0 ? "shutdown request" : "signal ")
           << (signo == 0 ? "" : std::to_string(signo)) << "; draining for up to "
           << absl::FormatDuration(options_.drain_grace);
  SetLifecycle(Lifecycle::kDraining);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.drain_grace));
  server_->Wait();
  LOG_INFO << options_.service << " drained; exiting";
}

}  // namespace tartan
