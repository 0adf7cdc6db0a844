// Request and response bodies on the wire.
//
// The service takes its requests as raw bytes instead of letting gRPC parse
// them, because gRPC answers a body it cannot parse with a bare status and
// no hint. A proto3 string that is not valid UTF-8 is the common case, and
// users deserve INVALID_ARGUMENT naming the field:
//
//   v1::UpdatePhoneRequest request;
//   absl::Status parsed = ParseRequest(*raw_request, &request);
//   // INVALID_ARGUMENT, api code 1001:
//   // "update_phone_token: is not valid UTF-8"
//
// Thread-safety: pure functions.
#ifndef PROFILE_SERVER_SERVICE_WIRE_H_
#define PROFILE_SERVER_SERVICE_WIRE_H_

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace profile {

// The longest string any request field may hold, in bytes: the largest of
// the fields' own caps (a token or a user id, 128). Fields the core ignores,
// like the old-phone fields without --verify_old_phone, are capped too.
inline constexpr size_t kMaxRequestStringBytes = 128;
// Except an admin's `reason` (admin.proto), which may hold 512.
inline constexpr size_t kMaxReasonRequestBytes = 512;

// Parses `raw` into `message`. Returns INVALID_ARGUMENT (api code 1001)
// naming the field for a string that is not valid UTF-8 or longer than
// kMaxRequestStringBytes, saying the body is missing for a call that ended
// before one whole message arrived, and saying the body is malformed for
// anything else that does not parse.
absl::Status ParseRequest(const grpc::ByteBuffer& raw,
                          google::protobuf::Message* message);

// Serializes `message` into `raw`.
void SerializeResponse(const google::protobuf::Message& message,
                       grpc::ByteBuffer* raw);

// Routes protobuf's own log lines into the server's JSON log at debug level,
// so that hostile bodies cannot flood stderr with unstructured text.
void RouteProtobufLogs();

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_WIRE_H_
