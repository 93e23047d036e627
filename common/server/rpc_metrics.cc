#include "common/server/rpc_metrics.h"

#include <algorithm>
#include <chrono>

#include <google/protobuf/descriptor.h>

#include "absl/status/status.h"
#include "common/logging.h"

namespace tartan {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0, 30.0};
}

std::string MetricName(const std::string& service, const std::string& what) {
  return "tartan_" + service + "_" + what;
}

prometheus::Counter& UnlabelledCounter(prometheus::Registry& registry, const std::string& service,
                                       const std::string& what, const std::string& help) {
  return prometheus::BuildCounter()
      .Name(MetricName(service, what))
      .Help(help)
      .Register(registry)
      .Add({});
}

prometheus::Gauge& UnlabelledGauge(prometheus::Registry& registry, const std::string& service,
                                   const std::string& what, const std::string& help) {
  return prometheus::BuildGauge()
      .Name(MetricName(service, what))
      .Help(help)
      .Register(registry)
      .Add({});
}

prometheus::Histogram& UnlabelledHistogram(prometheus::Registry& registry,
                                           const std::string& service, const std::string& what,
                                           const std::string& help,
                                           prometheus::Histogram::BucketBoundaries buckets) {
  return prometheus::BuildHistogram()
      .Name(MetricName(service, what))
      .Help(help)
      .Register(registry)
      .Add({}, std::move(buckets));
}

std::string GrpcCodeName(int grpc_code) {
  // gRPC's codes are absl's (same numbers, same names).
  if (grpc_code < 0 || grpc_code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return "UNKNOWN";
  }
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(grpc_code));
}

void SetServiceInfo(prometheus::Registry& registry, const std::string& service,
                    const std::string& model, const std::string& dim,
                    std::map<std::string, std::string> extra) {
  // Registering again returns the existing family (the registry merges same-name families).
  auto& family = prometheus::BuildGauge()
                     .Name(MetricName(service, "info"))
                     .Help("Version, model and token vector dimension served (value is always 1)")
                     .Register(registry);
  for (const prometheus::MetricFamily& collected : family.Collect()) {
    for (const prometheus::ClientMetric& metric : collected.metric) {
      std::map<std::string, std::string> labels;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        labels[label.name] = label.value;
      }
      family.Remove(&family.Add(labels));
    }
  }
  extra["version"] = TARTAN_VERSION;
  extra["model"] = model;
  extra["dim"] = dim;
  family.Add(extra).Set(1);
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry, const std::string& service)
    : rpcs_(prometheus::BuildCounter()
                .Name(MetricName(service, "rpcs_total"))
                .Help("RPCs handled, by method and gRPC status code")
                .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name(MetricName(service, "rpc_latency_seconds"))
                   .Help("RPC latency from receipt of metadata to status, by method")
                   .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name(MetricName(service, "rpcs_in_flight"))
                     .Help("RPCs being handled now, by method")
                     .Register(registry)),
      lifecycle_(prometheus::BuildGauge()
                     .Name(MetricName(service, "lifecycle_state"))
                     .Help("0 STARTING, 1 LOADING, 2 SERVING, 3 DRAINING")
                     .Register(registry)
                     .Add({})) {
  SetServiceInfo(registry, service, "", "");
}

std::string RpcMetrics::MethodLabel(const char* full_method) const {
  if (full_method == nullptr) return "other";
  if (allowed_.contains(full_method)) return full_method;
  // Methods compiled into this binary ("/pkg.Service/Method" → pkg.Service.Method) are a
  // bounded set; anything else a client sends is "other".
  std::string dotted = full_method[0] == '/' ? full_method + 1 : full_method;
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted) != nullptr) {
    return full_method;
  }
  return "other";
}

void RpcMetrics::Started(const std::string& method) {
  in_flight_.Add({{"method", method}}).Increment();
}

void RpcMetrics::Finished(const std::string& method, int grpc_code, double seconds) {
  in_flight_.Add({{"method", method}}).Decrement();
  rpcs_.Add({{"method", method}, {"code", GrpcCodeName(grpc_code)}}).Increment();
  latency_.Add({{"method", method}}, LatencyBuckets()).Observe(seconds);
}

void RpcMetrics::SetLifecycle(Lifecycle state) { lifecycle_.Set(static_cast<double>(state)); }

namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      start_ = std::chrono::steady_clock::now();
      started_ = true;
      metrics_->Started(method_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && started_) {
      const grpc::Status status = methods->GetSendStatus();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->Finished(method_, status.error_code(), seconds);
      started_ = false;
      LOG_DEBUG << "rpc " << method_ << " code=" << status.error_code()
                << " took_ms=" << seconds * 1e3
                << (status.ok() ? "" : " error=" + status.error_message());
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  bool started_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, metrics_->MethodLabel(info->method()));
  }

 private:
  RpcMetrics* metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace tartan
