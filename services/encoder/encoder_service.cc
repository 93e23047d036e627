#include "services/encoder/encoder_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/api/request_checks.h"
#include "common/api/token_vectors.h"
#include "common/server/grpc_status.h"
#include "common/server/rpc_metrics.h"
#include "common/status_macros.h"
#include "services/encoder/encoder_info.h"

namespace tartan::encoder {

EncoderService::EncoderService(const EncoderServiceLimits& limits, prometheus::Registry& registry)
    : limits_(limits),
      queue_depth_(UnlabelledGauge(registry, "encoder", "queue_texts",
                                   "Texts waiting in the batching queue")),
      queue_wait_(UnlabelledHistogram(registry, "encoder", "queue_wait_seconds",
                                      "Time requests wait to be batched", LatencyBuckets())),
      batch_texts_(UnlabelledHistogram(registry, "encoder", "batch_texts",
                                       "Texts per encoded batch",
                                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      batch_tokens_(
          UnlabelledHistogram(registry, "encoder", "batch_tokens", "Tokens per encoded batch",
                              {32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768})),
      batch_latency_(UnlabelledHistogram(registry, "encoder", "batch_latency_seconds",
                                         "Model time per batch (tokenize, forward, head)",
                                         LatencyBuckets())),
      request_latency_(UnlabelledHistogram(registry, "encoder", "encode_latency_seconds",
                                           "Encode request latency, queueing included",
                                           LatencyBuckets())),
      tokens_(UnlabelledCounter(registry, "encoder", "tokens_total",
                                "Tokens run through the model (rate() = tokens per second)")),
      texts_(UnlabelledCounter(registry, "encoder", "texts_total", "Texts encoded")),
      expired_(UnlabelledCounter(
          registry, "encoder", "expired_total",
          "Requests dropped because their deadline passed (in the queue or while encoding)")),
      load_seconds_(UnlabelledGauge(registry, "encoder", "model_load_seconds",
                                    "Time taken to load the model")) {}

void EncoderService::SetModel(std::shared_ptr<const ColbertEncoder> encoder,
                              const BatcherOptions& options) {
  auto model = std::make_shared<Model>();
  model->encoder = std::move(encoder);
  BatcherObserver observer;
  observer.queue_depth = [this](int depth) { queue_depth_.Set(depth); };
  observer.queue_wait = [this](double seconds) { queue_wait_.Observe(seconds); };
  observer.batch_done = [this](int texts, int tokens, double seconds) {
    batch_texts_.Observe(texts);
    batch_tokens_.Observe(tokens);
    batch_latency_.Observe(seconds);
    tokens_.Increment(tokens);
    texts_.Increment(texts);
  };
  observer.expired = [this] { expired_.Increment(); };
  model->batcher = std::make_unique<DynamicBatcher>(model->encoder.get(), options, observer);
  std::atomic_store(&model_, std::move(model));
}

void EncoderService::Shutdown() { std::atomic_store(&model_, std::shared_ptr<Model>()); }

grpc::Status EncoderService::Encode(grpc::ServerContext* context,
                                    const tartan::v1::EncodeRequest* request,
                                    tartan::v1::EncodeResponse* response) {
  return ToGrpcStatus(DoEncode(*request, absl::FromChrono(context->deadline()), response));
}

absl::Status EncoderService::CheckEncodeRequest(const tartan::v1::EncodeRequest& request,
                                                const ModelInfo& info) const {
  if (request.texts_size() == 0) {
    return absl::InvalidArgumentError("texts: at least one text is required");
  }
  if (request.texts_size() > limits_.max_texts_per_request) {
    return absl::InvalidArgumentError(
        absl::StrCat("texts: ", request.texts_size(),
                     " exceeds max_texts_per_request=", limits_.max_texts_per_request));
  }
  for (int i = 0; i < request.texts_size(); ++i) {
    if (request.texts(i).size() > static_cast<size_t>(limits_.max_chars_per_text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("texts[", i, "]: ", request.texts(i).size(),
                       " bytes exceeds max_chars_per_text=", limits_.max_chars_per_text));
    }
  }
  if (request.kind() != tartan::v1::QUERY && request.kind() != tartan::v1::DOCUMENT) {
    return absl::InvalidArgumentError("kind must be QUERY or DOCUMENT");
  }
  if (request.dtype() != tartan::v1::DTYPE_UNSPECIFIED && request.dtype() != tartan::v1::FLOAT32 &&
      request.dtype() != tartan::v1::FLOAT16) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype: ", static_cast<int>(request.dtype()),
                     " is not one of DTYPE_UNSPECIFIED, FLOAT32, FLOAT16"));
  }
  if (request.pool_factor() > static_cast<uint32_t>(limits_.max_pool_factor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool_factor must be <= ", limits_.max_pool_factor));
  }
  if (request.kind() == tartan::v1::QUERY && request.pool_factor() > 1) {
    return absl::InvalidArgumentError("pool_factor applies to documents only");
  }
  if (!request.prompt_name().empty() && !info.prompts.contains(request.prompt_name())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown prompt_name '",
                                                   api::ClientText(request.prompt_name()),
                                                   "' (see GetModelInfo.prompts)"));
  }
  return absl::OkStatus();
}

absl::Status EncoderService::DoEncode(const tartan::v1::EncodeRequest& request, absl::Time deadline,
                                      tartan::v1::EncodeResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  auto current = model();
  if (!current) return absl::UnavailableError("model is loading");
  RETURN_IF_ERROR(CheckEncodeRequest(request, current->encoder->info()));

  EncodeParams params;
  params.is_query = request.kind() == tartan::v1::QUERY;
  if (!request.prompt_name().empty()) params.prompt_name = request.prompt_name();
  params.pool_factor = std::max<int>(1, static_cast<int>(request.pool_factor()));
  std::vector<std::string> texts(request.texts().begin(), request.texts().end());
  std::future<EncodeResult> future = current->batcher->Submit(std::move(texts), params, deadline);
  ASSIGN_OR_RETURN(std::vector<EncodedText> encoded_texts, future.get());
  for (const EncodedText& encoded : encoded_texts) {
    auto* out = response->add_results();
    api::EncodeTokenVectors(encoded.vectors.data(), encoded.num_tokens, encoded.dim,
                            request.dtype(), out->mutable_vectors());
    if (request.return_token_ids()) {
      out->mutable_token_ids()->Add(encoded.ids.begin(), encoded.ids.end());
    }
  }
  request_latency_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

grpc::Status EncoderService::GetModelInfo(grpc::ServerContext* context,
                                          const tartan::v1::GetModelInfoRequest* request,
                                          tartan::v1::ModelInfo* response) {
  return ToGrpcStatus(DoGetModelInfo(response));
}

absl::Status EncoderService::DoGetModelInfo(tartan::v1::ModelInfo* response) const {
  auto current = model();
  if (!current) return absl::UnavailableError("model is loading");
  const ModelInfo& info = current->encoder->info();
  response->set_name(info.name);
  response->set_architecture(info.architecture);
  response->set_dim(info.dim);
  response->set_query_length(info.query_length);
  response->set_document_length(info.document_length);
  response->set_query_prefix(info.query_prefix);
  response->set_document_prefix(info.document_prefix);
  response->mutable_prompts()->insert(info.prompts.begin(), info.prompts.end());
  response->set_default_prompt_name(info.default_prompt_name.value_or(""));
  response->set_do_query_expansion(info.do_query_expansion);
  response->set_attend_to_expansion_tokens(info.attend_to_expansion_tokens);
  FillKernelInfo(info, response);  // precision picked and requested, BLAS core, oneDNN ISA
  response->set_max_texts_per_request(limits_.max_texts_per_request);
  response->set_max_chars_per_text(limits_.max_chars_per_text);
  return absl::OkStatus();
}

}  // namespace tartan::encoder
