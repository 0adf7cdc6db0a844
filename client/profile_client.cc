#include "client/profile_client.h"

#include <cassert>
#include <utility>

#include <grpcpp/create_channel.h>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "client/internal/unary_call.h"

namespace profile {
namespace client {
namespace {

using Stub = v1::ProfileService::StubInterface;
using internal::UnaryCall;

// The retry policy of the header comment. gRPC retries only attempts the
// server answered without sending headers (as this service's errors are),
// and never past the call's deadline. UpdatePhoneVerification and
// RevertPhoneChange are left out on purpose: neither is safe to repeat.
// The admin API's reads share the policy (profile_admin_client.h); its
// changes are left out, as they take no idempotency key.
constexpr char kServiceConfig[] = R"json({
  "methodConfig": [{
    "name": [
      {"service": "profile.v1.ProfileService", "method": "GetProfile"},
      {"service": "profile.v1.ProfileService", "method": "SendPhoneCode"},
      {"service": "profile.v1.ProfileService", "method": "UpdatePhone"},
      {"service": "profile.admin.v1.ProfileAdminService",
       "method": "GetUser"},
      {"service": "profile.admin.v1.ProfileAdminService",
       "method": "ListPhoneChanges"}
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
  return UnaryCall(stub_.get(), &Stub::SendPhoneCode, request, options, key);
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
  return UnaryCall(stub_.get(), &Stub::UpdatePhoneVerification, request,
                   options);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::UpdatePhone(
    const v1::UpdatePhoneRequest& request) const {
  return UpdatePhone(request, options_);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::UpdatePhone(
    const v1::UpdatePhoneRequest& request, const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::UpdatePhone, request, options);
}

absl::StatusOr<v1::GetProfileResponse> ProfileClient::GetProfile(
    const v1::GetProfileRequest& request) const {
  return GetProfile(request, options_);
}

absl::StatusOr<v1::GetProfileResponse> ProfileClient::GetProfile(
    const v1::GetProfileRequest& request, const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::GetProfile, request, options);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::RevertPhoneChange(
    const v1::RevertPhoneChangeRequest& request) const {
  return RevertPhoneChange(request, options_);
}

absl::StatusOr<v1::CommonResponse> ProfileClient::RevertPhoneChange(
    const v1::RevertPhoneChangeRequest& request,
    const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::RevertPhoneChange, request, options);
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
  return IntPayload(status, internal::kApiCodeUrl, 0);
}

std::string RequestIdOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload =
      status.GetPayload(internal::kRequestIdUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

int RetryAfterOf(const absl::Status& status) {
  return IntPayload(status, internal::kRetryAfterUrl, -1);
}

}  // namespace client
}  // namespace profile
