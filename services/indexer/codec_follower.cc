#include "services/indexer/codec_follower.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/server/grpc_status.h"
#include "common/status_macros.h"
#include "grpcpp/create_channel.h"
#include "services/indexer/lib/segment_file.h"
#include "tartan/v1/indexer.grpc.pb.h"

namespace tartan::indexer {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(60);

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

CodecFollower::CodecFollower(CodecFollowerOptions options, std::shared_ptr<index::Shard> shard)
    : opts_(std::move(options)), shard_(std::move(shard)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(opts_.max_message_bytes);
  channel_ = grpc::CreateCustomChannel(opts_.source, opts_.credentials, args);
}

CodecFollower::~CodecFollower() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string CodecFollower::AdoptedCodecPath(const std::string& data_dir) {
  return data_dir + "/adopted-codec.tseg";
}

void CodecFollower::Start() {
  thread_ = std::thread([this] { Loop(); });
}

absl::Status CodecFollower::PollOnce(bool* is_source) {
  *is_source = false;
  const std::shared_ptr<const index::Codec> current = shard_->codec();
  tartan::v1::GetCodecRequest request;
  request.set_known_codec_id(current ? current->id : 0);
  tartan::v1::GetCodecResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return absl::CancelledError("stopping");
    call_ = &context;
  }
  const grpc::Status status =
      tartan::v1::Indexer::NewStub(channel_)->GetCodec(&context, request, &response);
  {
    std::lock_guard<std::mutex> l(mu_);
    call_ = nullptr;
  }
  if (!status.ok()) return FromGrpcStatus(status);
  if (response.instance_id() == opts_.instance_id) {
    *is_source = true;
    return absl::OkStatus();
  }
  if (response.codec_id() == 0 || (current && response.codec_id() == current->id))
    return absl::OkStatus();
  if (response.codec_file().empty()) {
    return absl::DataLossError(
        absl::StrCat("codec ", response.codec_id(), " came without its file"));
  }
  // Checked (the file's checksum) before it is used, and renamed into place once adopted, so
  // that a restart starts on it.
  const std::string path = AdoptedCodecPath(opts_.data_dir);
  const std::string incoming = path + ".incoming";
  RETURN_IF_ERROR(WriteFile(incoming, response.codec_file()));
  absl::StatusOr<std::shared_ptr<index::SegmentFile>> file = index::SegmentFile::Open(incoming);
  if (!file.ok()) {
    std::remove(incoming.c_str());
    return absl::DataLossError(
        absl::StrCat("the source's codec file is unreadable: ", file.status().message()));
  }
  const std::shared_ptr<const index::Codec> codec = (*file)->codec();
  if (codec->id != response.codec_id()) {
    std::remove(incoming.c_str());
    return absl::DataLossError(absl::StrCat("the source announced codec ", response.codec_id(),
                                            " and sent codec ", codec->id));
  }
  RETURN_IF_ERROR(shard_->AdoptCodec(codec));
  std::error_code ec;
  std::filesystem::rename(incoming, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", incoming, ": ", ec.message()));
  LOG_INFO << "adopted codec " << codec->id << " from " << opts_.source << " ("
           << codec->num_centroids << " centroids)";
  return absl::OkStatus();
}

void CodecFollower::Loop() {
  absl::Status last = absl::OkStatus();
  while (true) {
    bool is_source = false;
    absl::Status status = PollOnce(&is_source);
    if (is_source) {
      LOG_INFO << "--codec_source " << opts_.source
               << " is this shard: it trains the index's codec for the other shards";
      return;
    }
    // Log a failure once per kind, not on every poll while the source is down.
    if (!status.ok() && status.code() != last.code())
      LOG_WARNING << "codec source " << opts_.source << ": " << status;
    last = status;
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, opts_.poll_interval, [this] { return stop_; })) return;
  }
}

}  // namespace tartan::indexer
