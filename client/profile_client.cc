#include "client/profile_client.h"

#include <cassert>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/status.h>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"

namespace profile {
namespace client {
namespace {

// Call metadata the service reads and writes.
constexpr char kUserIdKey[] = "x-user-id";
constexpr char kRequestIdKey[] = "x-request-id";
constexpr char kLanguageKey[] = "x-authing-lang";
constexpr char kIdempotencyKey[] = "x-idempotency-key";
constexpr char kAuthorizationKey[] = "authorization";
constexpr char kApiCodeKey[] = "x-api-code";
constexpr char kRetryAfterKey[] = "retry-after";

// Payload type URLs on the statuses this client returns. Distinct from the
// server's own payloads so that the two never read each other's encoding.
constexpr absl::string_view kApiCodeUrl = "type.profile.client/api-code";
constexpr absl::string_view kRequestIdUrl = "type.profile.client/request-id";
constexpr absl::string_view kRetryAfterUrl = "type.profile.client/retry-after";

using Stub = v1::ProfileService::StubInterface;

// gRPC refuses metadata values outside printable ASCII; catching them here
// gives the caller a clear INVALID_ARGUMENT instead of an opaque failure.
absl::Status CheckMetadataValue(absl::string_view name,
                                absl::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      // A credential is never echoed.
      if (name == "bearer_token") {
        return absl::InvalidArgumentError(
            "bearer_token must be printable ASCII");
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be printable ASCII, got \"",
                       absl::CEscape(value), "\""));
    }
  }
  return absl::OkStatus();
}

// The retry policy of the header comment. gRPC retries only attempts the
// server answered without sending headers (as this service's errors are),
// and never past the call's deadline. UpdatePhoneVerification and
// RevertPhoneChange are left out on purpose: neither is safe to repeat.
constexpr char kServiceConfig[] = R"json({
  "methodConfig": [{
    "name": [
      {"service": "profile.v1.ProfileService", "method": "GetProfile"},
      {"service": "profile.v1.ProfileService", "method": "SendPhoneCode"},
      {"service": "profile.v1.ProfileService", "method": "UpdatePhone"}
    ],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

// Sets the deadline and metadata of one call from `options`;
// `idempotency_key`, if not empty, goes out as x-idempotency-key.
absl::Status PrepareContext(const ProfileClient::Options& options,
                            absl::string_view idempotency_key,
                            grpc::ClientContext* context) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ",
                     absl::FormatDuration(options.timeout)));
  }
  const struct {
    const char* key;
    absl::string_view name;
    std::string value;
  } metadata[] = {
      {kUserIdKey, "user_id", options.user_id},
      {kRequestIdKey, "request_id", options.request_id},
      {kLanguageKey, "language", options.language},
      {kIdempotencyKey, "idempotency_key", std::string(idempotency_key)},
      {kAuthorizationKey, "bearer_token",
       options.bearer_token.empty() ? std::string()
                                    : "Bearer " + options.bearer_token},
  };
  for (const auto& entry : metadata) {
    if (entry.value.empty()) continue;
    absl::Status valid = CheckMetadataValue(entry.name, entry.value);
    if (!valid.ok()) return valid;
    context->AddMetadata(entry.key, entry.value);
  }
  if (options.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  }
  return absl::OkStatus();
}

// Returns the first value of trailing metadata `key`, or "".
std::string Trailer(const grpc::ClientContext& context, const char* key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(key);
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Returns the absl code of a gRPC code: the two share the canonical
// numbering; anything out of range (not sent by a conforming peer) is
// UNKNOWN.
absl::StatusCode CanonicalCode(grpc::StatusCode code) {
  const int raw = static_cast<int>(code);
  if (raw < 0 || raw > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(raw);
}

// Returns the absl::Status of a failed call, with the trailing metadata the
// service sent as payloads.
// REQUIRES: !status.ok().
absl::Status FromRpcStatus(const grpc::Status& status,
                           const grpc::ClientContext& context,
                           const ProfileClient::Options& options) {
  assert(!status.ok());
  absl::Status result(CanonicalCode(status.error_code()),
                      status.error_message());

  int api_code = 0;
  if (absl::SimpleAtoi(Trailer(context, kApiCodeKey), &api_code) &&
      api_code > 0) {
    result.SetPayload(kApiCodeUrl, absl::Cord(absl::StrCat(api_code)));
  }
  std::string request_id = Trailer(context, kRequestIdKey);
  if (request_id.empty()) request_id = options.request_id;
  if (!request_id.empty()) {
    result.SetPayload(kRequestIdUrl, absl::Cord(request_id));
  }
  int retry_after = -1;
  if (absl::SimpleAtoi(Trailer(context, kRetryAfterKey), &retry_after) &&
      retry_after >= 0) {
    result.SetPayload(kRetryAfterUrl, absl::Cord(absl::StrCat(retry_after)));
  }
  return result;
}

// A blocking unary method of the generated stub.
template <typename Request, typename Response>
using SyncMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&,
                                          Response*);

// Makes one unary call of `method` through `stub` with `options` (and
// `idempotency_key` as x-idempotency-key unless empty); gRPC may make it
// in several attempts, each with the same metadata.
template <typename Request, typename Response>
absl::StatusOr<Response> Call(Stub* stub, SyncMethod<Request, Response> method,
                              const Request& request,
                              const ProfileClient::Options& options,
                              absl::string_view idempotency_key = "") {
  grpc::ClientContext context;
  absl::Status prepared = PrepareContext(options, idempotency_key, &context);
  if (!prepared.ok()) return prepared;
  Response response;
  grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromRpcStatus(status, context, options);
  return response;
}

// Returns the integer payload at `url`, or `missing`.
int IntPayload(const absl::Status& status, absl::string_view url, int missing) {
  absl::optional<absl::Cord> payload = status.GetPayload(url);
  int value = 0;
  if (!payload.has_value() ||
      !absl::SimpleAtoi(std::string(*payload), &value)) {
    return missing;
  }
  return value;
}

}  // namespace

ProfileClient::ProfileClient(std::shared_ptr<grpc::ChannelInterface> channel)
    : ProfileClient(std::move(channel), Options()) {}

ProfileClient::ProfileClient(std::shared_ptr<grpc::ChannelInterface> channel,
                             Options options)
    : ProfileClient(v1::ProfileService::NewStub(std::move(channel)),
                    std::move(options)) {}

ProfileClient::ProfileClient(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials, Options options)
    : ProfileClient(CreateProfileChannel(target, std::move(credentials)),
                    std::move(options)) {}

ProfileClient::ProfileClient(std::unique_ptr<Stub> stub)
    : ProfileClient(std::move(stub), Options()) {}

ProfileClient::ProfileClient(std::unique_ptr<Stub> stub, Options options)
    : stub_(std::move(stub)), options_(std::move(options)) {
  assert(stub_ != nullptr);
}

absl::StatusOr<v1::SendPhoneCodeResponse> ProfileClient::SendPhoneCode(
    const v1::SendPhoneCodeRequest& request) const {
  return SendPhoneCode(request, options_);
}

absl::StatusOr<v1::SendPhoneCodeResponse> ProfileClient::SendPhoneCode(
    const v1::SendPhoneCodeRequest& request, const Options& options) const {
  // One key per logical call: every retry of this call reuses it.
  const std::string key = options.idempotency_key.empty()
                              ? NewIdempotencyKey()
                              : options.idempotency_key;
  return Call(stub_.get(), &Stub::SendPhoneCode, request, options, key);
}

absl::StatusOr<v1::UpdatePhoneVerificationResponse>
ProfileClient::UpdatePhoneVerification(
    const v1::UpdatePhoneVerificationRequest& request) const {
  return UpdatePhoneVerification(request, options_);
}

absl::StatusOr<v1::UpdatePhoneVerificationResponse>
ProfileClient::UpdatePhoneVerification(
    const v1::UpdatePhoneVerificationRequest& request,
    const Options& options) const {
  return Call(stub_.get(), &Stub::UpdatePhoneVerification, request, options);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::UpdatePhone(
    const v1::UpdatePhoneRequest& request) const {
  return UpdatePhone(request, options_);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::UpdatePhone(
    const v1::UpdatePhoneRequest& request, const Options& options) const {
  return Call(stub_.get(), &Stub::UpdatePhone, request, options);
}

absl::StatusOr<v1::GetProfileResponse> ProfileClient::GetProfile(
    const v1::GetProfileRequest& request) const {
  return GetProfile(request, options_);
}

absl::StatusOr<v1::GetProfileResponse> ProfileClient::GetProfile(
    const v1::GetProfileRequest& request, const Options& options) const {
  return Call(stub_.get(), &Stub::GetProfile, request, options);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::RevertPhoneChange(
    const v1::RevertPhoneChangeRequest& request) const {
  return RevertPhoneChange(request, options_);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::RevertPhoneChange(
    const v1::RevertPhoneChangeRequest& request,
    const Options& options) const {
  return Call(stub_.get(), &Stub::RevertPhoneChange, request, options);
}

grpc::ChannelArguments ProfileChannelArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetServiceConfigJSON(kServiceConfig);
  return arguments;
}

std::shared_ptr<grpc::Channel> CreateProfileChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return grpc::CreateCustomChannel(target, std::move(credentials),
                                   ProfileChannelArguments());
}

std::string NewIdempotencyKey() {
  // Unique, not secret: a key only names a call among its user's calls.
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  uint64_t high, low;
  {
    absl::MutexLock lock(&mu);
    high = absl::Uniform<uint64_t>(*gen);
    low = absl::Uniform<uint64_t>(*gen);
  }
  return absl::StrCat(absl::Hex(high, absl::kZeroPad16),
                      absl::Hex(low, absl::kZeroPad16));
}

int ApiCodeOf(const absl::Status& status) {
  return IntPayload(status, kApiCodeUrl, 0);
}

std::string RequestIdOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRequestIdUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

int RetryAfterOf(const absl::Status& status) {
  return IntPayload(status, kRetryAfterUrl, -1);
}

}  // namespace client
}  // namespace profile
