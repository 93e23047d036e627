// gRPC answers a request it cannot parse (for instance a proto3 string field holding invalid
// UTF-8, or messages nested deeper than the parser's recursion limit) with INTERNAL and an
// empty message, before any handler runs. That is the client's mistake, not ours: this
// interceptor rewrites exactly that status to INVALID_ARGUMENT with a message saying why.
// Handlers never return INTERNAL without a message (ToGrpcStatus keeps it).
//
// On a client stream, gRPC reports an unparsable message to the handler only as a failed
// Read(), exactly like the end of the stream, and a later Read() would return the message
// after it. ReadStreamMessage tells the two apart, so a stream handler can fail on message i
// instead of acknowledging a stream it silently cut short.
#pragma once

#include <memory>

#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/sync_stream.h>

namespace tartan {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ParseErrorInterceptorFactory();

// kIdleTimeout: only from StreamSlot::Read (stream_limiter.h).
enum class StreamRead { kMessage, kEnd, kUnparsable, kIdleTimeout };

// Reads the next message of a client stream into `message`. How it tells a parse failure from
// the end of the stream: gRPC parses with Message::ParseFromZeroCopyStream, which clears the
// message first; at the end of the stream it does not touch the message. A marker (an unknown
// field) set before Read therefore survives only the end of the stream.
template <typename Request>
StreamRead ReadStreamMessage(grpc::ServerReaderInterface<Request>* reader, Request* message) {
  constexpr int kMarkerField = 536870911;  // the largest field number; never in our protos
  message->Clear();
  message->GetReflection()->MutableUnknownFields(message)->AddVarint(kMarkerField, 1);
  if (reader->Read(message)) return StreamRead::kMessage;
  const google::protobuf::UnknownFieldSet& unknown =
      message->GetReflection()->GetUnknownFields(*message);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == kMarkerField) return StreamRead::kEnd;
  }
  return StreamRead::kUnparsable;
}

// The message for an unparsable stream message or request.
inline constexpr char kUnparsableMessage[] =
    "the message could not be parsed (a proto3 string field holds invalid UTF-8, or messages "
    "are nested deeper than the parser's limit of 100, e.g. a filter)";

}  // namespace tartan
