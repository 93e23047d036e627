// Parallel unary calls to every shard under one deadline, on gRPC's callback API: all calls
// start at once, the caller waits for the last to finish (or the deadline to cancel it).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/shard_clients.h"

namespace tartan::router {

template <typename Response>
struct ShardCall {
  grpc::ClientContext context;
  Response response;
  grpc::Status status;
  double seconds = 0;
};

// start(stub, context, response, done) must begin one async call and arrange for done(status).
template <typename Response>
std::vector<std::unique_ptr<ShardCall<Response>>> FanOut(
    const ShardSet& set, absl::Time deadline,
    const std::function<void(tartan::v1::Indexer::Stub*, grpc::ClientContext*, Response*,
                             std::function<void(grpc::Status)>)>& start) {
  std::vector<std::unique_ptr<ShardCall<Response>>> calls;
  absl::Mutex mu;
  size_t pending = set.shards.size();
  const auto begin = std::chrono::steady_clock::now();
  calls.reserve(set.shards.size());
  for (size_t i = 0; i < set.shards.size(); ++i) {
    calls.push_back(std::make_unique<ShardCall<Response>>());
    calls.back()->context.set_deadline(absl::ToChronoTime(deadline));
  }
  for (size_t i = 0; i < set.shards.size(); ++i) {
    ShardCall<Response>* call = calls[i].get();
    start(set.shards[i]->stub.get(), &call->context, &call->response,
          [call, &mu, &pending, begin](grpc::Status status) {
            call->status = std::move(status);
            call->seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
            absl::MutexLock lock(&mu);
            --pending;
          });
  }
  // The deadline on each context guarantees every callback runs.
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &pending));
  return calls;
}

}  // namespace tartan::router
