// Metric families every service shares, declared in one place:
//   tartan_<service>_rpcs_total{method,code}         counter (code: gRPC code name, "OK", ...)
//   tartan_<service>_rpc_latency_seconds{method}     histogram
//   tartan_<service>_rpcs_in_flight{method}          gauge
//   tartan_<service>_info{version,model,dim}         gauge (always 1; SetServiceInfo)
//   tartan_<service>_lifecycle_state                 gauge (0 STARTING .. 3 DRAINING)
// They are fed by a gRPC server interceptor, so handlers need no bookkeeping. Method labels
// are restricted to the methods the server registered (bounded cardinality).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/container/flat_hash_set.h"
#include "common/server/lifecycle.h"

namespace tartan {

// Latency buckets in seconds: 100 µs .. 30 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

class RpcMetrics {
 public:
  RpcMetrics(prometheus::Registry& registry, const std::string& service);

  // Full method names ("/tartan.v1.Indexer/Search") that get their own label; others are
  // counted as "other".
  void AllowMethod(const std::string& full_method) { allowed_.insert(full_method); }
  std::string MethodLabel(const char* full_method) const;

  void Started(const std::string& method);
  void Finished(const std::string& method, int grpc_code, double seconds);
  void SetLifecycle(Lifecycle state);

  // Factory to hand to grpc::ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  absl::flat_hash_set<std::string> allowed_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Gauge& lifecycle_;
};

// The gRPC status code's name as Prometheus label value: "OK", "UNAVAILABLE", ...
std::string GrpcCodeName(int grpc_code);

// Sets tartan_<service>_info{version, model, dim} to 1, replacing the family's earlier series:
// the model and dim are known only once loaded ("" until then; model "" where the service does
// not know it). `extra` adds labels of the service's own (bounded values only).
void SetServiceInfo(prometheus::Registry& registry, const std::string& service,
                    const std::string& model, const std::string& dim,
                    std::map<std::string, std::string> extra = {});

// "tartan_<service>_<what>" — the naming rule for every family.
std::string MetricName(const std::string& service, const std::string& what);

// A family of one unlabelled metric, tartan_<service>_<what>, registered in `registry`.
prometheus::Counter& UnlabelledCounter(prometheus::Registry& registry, const std::string& service,
                                       const std::string& what, const std::string& help);
prometheus::Gauge& UnlabelledGauge(prometheus::Registry& registry, const std::string& service,
                                   const std::string& what, const std::string& help);
prometheus::Histogram& UnlabelledHistogram(prometheus::Registry& registry,
                                           const std::string& service, const std::string& what,
                                           const std::string& help,
                                           prometheus::Histogram::BucketBoundaries buckets);

}  // namespace tartan
