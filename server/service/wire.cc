#include "server/service/wire.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/common/text.h"

namespace profile {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::internal::WireFormatLite;

absl::Status Malformed() {
  return ApiError(ApiCode::kInvalidArgument,
                  "the request body is not a valid message of this method");
}

std::string Flatten(const grpc::ByteBuffer& raw) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!raw.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// Walks a body that failed to parse to say which field is at fault.
absl::Status Diagnose(const std::string& bytes, const Descriptor& descriptor) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    const FieldDescriptor* field =
        descriptor.FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    if (field != nullptr && field->type() == FieldDescriptor::TYPE_STRING &&
        WireFormatLite::GetTagWireType(tag) ==
            WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string value;
      if (!WireFormatLite::ReadString(&in, &value)) return Malformed();
      if (!IsValidUtf8(value)) {
        return InvalidFieldError(field->name(), "is not valid UTF-8");
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return Malformed();
    }
  }
  return Malformed();
}

// Request messages are flat: every string field is a top-level singular one.
absl::Status CheckLengths(const google::protobuf::Message& message) {
  const Descriptor& descriptor = *message.GetDescriptor();
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  std::string scratch;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor* field = descriptor.field(i);
    if (field->type() != FieldDescriptor::TYPE_STRING || field->is_repeated()) {
      continue;
    }
    const std::string& value =
        reflection.GetStringReference(message, field, &scratch);
    const size_t max = field->name() == "reason" ? kMaxReasonRequestBytes
                                                 : kMaxRequestStringBytes;
    if (value.size() > max) {
      return InvalidFieldError(field->name(),
                               absl::StrCat("is longer than ", max, " bytes"));
    }
  }
  return absl::OkStatus();
}

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename,
                        int line, const std::string& message) {
  Log(level >= google::protobuf::LOGLEVEL_FATAL ? LogLevel::kError
                                                : LogLevel::kDebug,
      "protobuf", {{"detail", message}});
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& raw,
                          google::protobuf::Message* message) {
  if (!raw.Valid()) {
    // gRPC hands a raw handler no buffer at all (unlike an empty message)
    // when the stream ended before one whole message arrived: none was sent,
    // or its frame was cut short. That is not an empty request.
    return ApiError(ApiCode::kInvalidArgument,
                    "the request body is missing or incomplete");
  }
  // The reader only reads the buffer's slices (the const_cast is for its
  // signature): no copy of the buffer to read from.
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&raw));
  if (message->ParseFromZeroCopyStream(&reader)) {
    // No string is longer than the bytes it was read from: a body of at
    // most the smallest cap needs no look at its fields.
    if (static_cast<uint64_t>(reader.ByteCount()) <= kMaxRequestStringBytes) {
      return absl::OkStatus();
    }
    return CheckLengths(*message);
  }
  message->Clear();
  return Diagnose(Flatten(raw), *message->GetDescriptor());
}

void SerializeResponse(const google::protobuf::Message& message,
                       grpc::ByteBuffer* raw) {
  // Straight into one slice, as gRPC serializes a small message itself: no
  // string to copy it from, no buffer to copy.
  grpc::Slice slice(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  grpc::ByteBuffer bytes(&slice, 1);
  raw->Swap(&bytes);
}

void RouteProtobufLogs() {
  google::protobuf::SetLogHandler(&ProtobufLogHandler);
}

}  // namespace profile
