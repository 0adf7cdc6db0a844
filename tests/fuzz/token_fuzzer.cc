// Fuzzes what decodes attacker-chosen bytes before any business rule runs:
//   - ParseRequest() (server/service/wire.h) of a raw body into each request
//     message, as the service does with every gRPC body;
//   - the JWT authenticator on an arbitrary `authorization` value (base64url
//     and JSON decoding, signature checks) with an HS256 secret the input
//     cannot know.
//
// Input: the first byte picks the request type and whether the rest is also
// tried as a bearer token. Properties, beyond "no crash":
//   - a body either parses, with every string field valid UTF-8 and at most
//     kMaxRequestStringBytes, and serializes to a body that parses to the
//     same message; or it is INVALID_ARGUMENT with api code 1001;
//   - a JWT is never accepted (the input cannot sign it), and every refusal
//     is UNAUTHENTICATED with api code 1000.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "profile/v1/profile.pb.h"
#include "server/auth/jwt_authenticator.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/common/text.h"
#include "server/service/wire.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    __builtin_fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

grpc::ByteBuffer Buffer(absl::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

std::unique_ptr<google::protobuf::Message> NewRequest(int type) {
  switch (type % 4) {
    case 0:
      return std::make_unique<profile::v1::SendPhoneCodeRequest>();
    case 1:
      return std::make_unique<profile::v1::UpdatePhoneVerificationRequest>();
    case 2:
      return std::make_unique<profile::v1::UpdatePhoneRequest>();
    default:
      return std::make_unique<profile::v1::GetProfileRequest>();
  }
}

void FuzzBody(int type, absl::string_view body) {
  std::unique_ptr<google::protobuf::Message> request = NewRequest(type);
  absl::Status parsed = profile::ParseRequest(Buffer(body), request.get());
  if (!parsed.ok()) {
    Check(parsed.code() == absl::StatusCode::kInvalidArgument,
          "a body that does not parse is INVALID_ARGUMENT");
    Check(profile::ApiCodeOf(parsed) == profile::ApiCode::kInvalidArgument,
          "a body that does not parse carries api code 1001");
    return;
  }
  const google::protobuf::Descriptor& descriptor = *request->GetDescriptor();
  const google::protobuf::Reflection& reflection = *request->GetReflection();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor.field(i);
    if (field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
      continue;
    }
    const std::string value = reflection.GetString(*request, field);
    Check(profile::IsValidUtf8(value), "a parsed string is valid UTF-8");
    Check(value.size() <= profile::kMaxRequestStringBytes,
          "a parsed string is within the cap");
  }
  std::unique_ptr<google::protobuf::Message> again = NewRequest(type);
  Check(profile::ParseRequest(Buffer(request->SerializeAsString()),
                              again.get())
            .ok(),
        "a parsed message serializes to a body that parses");
  Check(google::protobuf::util::MessageDifferencer::Equals(*request, *again),
        "a parsed message round-trips");
}

const profile::Authenticator& Jwt() {
  static const profile::Authenticator* const jwt = [] {
    profile::JwtOptions options;
    options.hs256_secret = std::string(32, '\x5a');
    options.issuer = "https://login.example.com/";
    options.audience = "profile-service";
    auto made = profile::NewJwtAuthenticator(options);
    if (!made.ok()) std::abort();
    return made->release();
  }();
  return *jwt;
}

void FuzzJwt(absl::string_view value) {
  std::multimap<grpc::string_ref, grpc::string_ref> metadata;
  metadata.emplace("authorization",
                   grpc::string_ref(value.data(), value.size()));
  absl::StatusOr<std::string> user = Jwt().Authenticate(metadata);
  Check(!user.ok(), "no JWT the input could forge is accepted");
  Check(user.status().code() == absl::StatusCode::kUnauthenticated,
        "a refused JWT is UNAUTHENTICATED");
  Check(profile::ApiCodeOf(user.status()) ==
            profile::ApiCode::kUnauthenticated,
        "a refused JWT carries api code 1000");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // As the server does: protobuf's complaints about invalid UTF-8 go to the
  // JSON log at debug level, here below the minimum level.
  profile::RouteProtobufLogs();
  profile::SetMinLogLevel(profile::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  FuzzBody(data[0], rest);
  if (data[0] & 0x80) FuzzJwt(rest);
  return 0;
}
