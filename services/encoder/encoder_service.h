// tartan.v1.Encoder over a ColbertEncoder behind a DynamicBatcher: request validation and
// limits, proto conversion, metrics.
#pragma once

#include <atomic>
#include <memory>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "services/encoder/batching/dynamic_batcher.h"
#include "services/encoder/lib/colbert/colbert_encoder.h"
#include "tartan/v1/encoder.grpc.pb.h"

namespace tartan::encoder {

struct EncoderServiceLimits {
  int max_texts_per_request = 256;
  int max_chars_per_text = 200000;  // bytes of UTF-8
  int max_pool_factor = 64;
};

class EncoderService final : public tartan::v1::Encoder::Service {
 public:
  EncoderService(const EncoderServiceLimits& limits, prometheus::Registry& registry);

  // Hands over the loaded model and its batcher; until then calls answer UNAVAILABLE.
  void SetModel(std::shared_ptr<const ColbertEncoder> encoder, const BatcherOptions& options);
  void SetModelLoadSeconds(double seconds) { load_seconds_.Set(seconds); }
  // Stops the batcher (queued work fails with UNAVAILABLE).
  void Shutdown();

  grpc::Status Encode(grpc::ServerContext* context, const tartan::v1::EncodeRequest* request,
                      tartan::v1::EncodeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const tartan::v1::GetModelInfoRequest* request,
                            tartan::v1::ModelInfo* response) override;

 private:
  // The RPCs' work in absl::Status; the overrides convert once (ToGrpcStatus).
  absl::Status DoEncode(const tartan::v1::EncodeRequest& request, absl::Time deadline,
                        tartan::v1::EncodeResponse* response);
  absl::Status DoGetModelInfo(tartan::v1::ModelInfo* response) const;
  // Request limits and fields against the loaded model; INVALID_ARGUMENT naming the field.
  absl::Status CheckEncodeRequest(const tartan::v1::EncodeRequest& request,
                                  const ModelInfo& info) const;

  struct Model {
    std::shared_ptr<const ColbertEncoder> encoder;
    std::unique_ptr<DynamicBatcher> batcher;
  };
  std::shared_ptr<Model> model() const { return std::atomic_load(&model_); }

  const EncoderServiceLimits limits_;
  std::shared_ptr<Model> model_;
  prometheus::Gauge& queue_depth_;
  prometheus::Histogram& queue_wait_;
  prometheus::Histogram& batch_texts_;
  prometheus::Histogram& batch_tokens_;
  prometheus::Histogram& batch_latency_;
  prometheus::Histogram& request_latency_;
  prometheus::Counter& tokens_;
  prometheus::Counter& texts_;
  prometheus::Counter& expired_;
  prometheus::Gauge& load_seconds_;
};

}  // namespace tartan::encoder
