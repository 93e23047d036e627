#include "tests/integration/cluster/local_cluster.h"

#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tartan::testing {
namespace fs = std::filesystem;

void SetDeadline(grpc::ClientContext* context, double seconds) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

// Unit vectors, [rows, dim] row-major, as TokenVectors.
tartan::v1::TokenVectors RandomVectors(std::mt19937* rng, int rows, int dim) {
  std::normal_distribution<float> normal;
  std::vector<float> values(static_cast<size_t>(rows) * dim);
  for (int r = 0; r < rows; ++r) {
    float norm = 0;
    for (int c = 0; c < dim; ++c) {
      values[r * dim + c] = normal(*rng);
      norm += values[r * dim + c] * values[r * dim + c];
    }
    for (int c = 0; c < dim; ++c) values[r * dim + c] /= std::sqrt(norm);
  }
  tartan::v1::TokenVectors out;
  out.set_rows(rows);
  out.set_dim(dim);
  out.set_dtype(tartan::v1::FLOAT32);
  out.set_data(values.data(), values.size() * sizeof(float));
  return out;
}

std::string LexicalTestModel(const std::string& work_dir) {
  const std::string shared = SharedDir();
  if (shared.empty()) return "";
  const std::string dir = work_dir + "/lexical-model";
  if (fs::exists(dir + "/model.safetensors")) return dir;
  const std::string command = absl::StrCat(
      BinaryPath("tartanctl"), " make-test-model --lexical --out ", dir, " --vocab-from ", shared,
      "/data/modernbert-tokenizer > ", work_dir, "/make-test-model.log 2>&1");
  if (std::system(command.c_str()) != 0) return "";
  return dir;
}

LocalCluster::~LocalCluster() {
  router_.Kill();
  for (auto& shard : shards_) shard.Kill();
  encoder_.Kill();
}

std::unique_ptr<tartan::v1::Indexer::Stub> LocalCluster::ShardStub(int i) const {
  return tartan::v1::Indexer::NewStub(
      grpc::CreateChannel(shard_addresses_[i], grpc::InsecureChannelCredentials()));
}

absl::StatusOr<ServiceProcess> LocalCluster::StartShard(int i, int port) {
  std::vector<std::string> args = {absl::StrCat("--index_dir=", work_dir_, "/shard", i),
                                   absl::StrCat("--dim=", options_.dim), "--threads=1",
                                   absl::StrCat("--shard_name=shard", i)};
  if (options_.allow_exact_search) args.push_back("--allow_exact_search");
  if (options_.share_codec && i > 0) {
    args.push_back("--codec_source=" + shard_addresses_[0]);
    args.push_back("--codec_poll_s=0.5");
  }
  args.insert(args.end(), options_.indexer_args.begin(), options_.indexer_args.end());
  return ServiceProcess::Start(BinaryPath("tartan-indexer"), args, work_dir_, 60, port);
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(const std::string& model_dir,
                                                                  const std::string& work_dir,
                                                                  const Options& options) {
  std::unique_ptr<LocalCluster> cluster(new LocalCluster());
  cluster->work_dir_ = work_dir;
  cluster->options_ = options;
  auto encoder = ServiceProcess::Start(BinaryPath("tartan-encoder"),
                                       {"--model=" + model_dir, "--threads=1"}, work_dir, 120);
  if (!encoder.ok()) return encoder.status();
  cluster->encoder_ = std::move(*encoder);
  for (int i = 0; i < options.shards; ++i) {
    auto shard = cluster->StartShard(i, 0);
    if (!shard.ok()) return shard.status();
    cluster->shard_addresses_.push_back(shard->address());
    cluster->shards_.push_back(std::move(*shard));
  }
  std::vector<std::string> router_args = {
      "--encoder=" + cluster->encoder_.address(),
      "--shards=" + absl::StrJoin(cluster->shard_addresses_, ",")};
  if (options.allow_exact_search) router_args.push_back("--allow_exact_search");
  router_args.insert(router_args.end(), options.router_args.begin(), options.router_args.end());
  auto router = ServiceProcess::Start(BinaryPath("tartan-router"), router_args, work_dir, 30);
  if (!router.ok()) return router.status();
  cluster->router_ = std::move(*router);
  cluster->router_stub_ = tartan::v1::Router::NewStub(
      grpc::CreateChannel(cluster->router_.address(), grpc::InsecureChannelCredentials()));
  cluster->encoder_stub_ = tartan::v1::Encoder::NewStub(
      grpc::CreateChannel(cluster->encoder_.address(), grpc::InsecureChannelCredentials()));
  // Ready when the encoder has its model and every shard answers.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  absl::Status last = absl::UnavailableError("not started");
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    tartan::v1::ClusterStatusResponse status;
    grpc::Status rpc = cluster->router_stub_->ClusterStatus(&context, {}, &status);
    bool ready = rpc.ok() && status.encoder_healthy();
    for (const auto& shard : status.shards()) ready = ready && shard.healthy();
    if (ready) return cluster;
    last = absl::UnavailableError(rpc.ok() ? "encoder or a shard not ready" : rpc.error_message());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::DeadlineExceededError(absl::StrCat("cluster not ready: ", last.message(),
                                                  "\nencoder log:\n", cluster->encoder_.ReadLog()));
}

void LocalCluster::KillShard(int i) { shards_[i].Kill(); }

absl::Status LocalCluster::StopShard(int i) {
  auto code = shards_[i].Stop();
  if (!code.ok()) return code.status();
  if (*code != 0) return absl::InternalError(absl::StrCat("shard exited with ", *code));
  return absl::OkStatus();
}

absl::Status LocalCluster::RestartShard(int i) {
  const int port = std::stoi(shard_addresses_[i].substr(shard_addresses_[i].rfind(':') + 1));
  auto shard = StartShard(i, port);
  if (!shard.ok()) return shard.status();
  shards_[i] = std::move(*shard);
  return absl::OkStatus();
}

absl::Status LocalCluster::WaitUntilComplete(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    tartan::v1::SearchRequest request;
    request.set_text("ready");
    request.set_k(1);
    tartan::v1::SearchResponse response;
    grpc::Status status = router_stub_->Search(&context, request, &response);
    if (status.ok() && !response.partial()) return absl::OkStatus();
    last = status.ok() ? "partial" : status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::DeadlineExceededError("cluster not complete: " + last);
}

}  // namespace tartan::testing
