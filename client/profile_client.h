// ProfileClient: the C++ client of profile.v1.ProfileService.
//
// A thin wrapper over the generated stub. Every call gets a deadline and the
// call metadata the service reads (`x-user-id` or `authorization`,
// `x-request-id`, `x-authing-lang`, `x-idempotency-key`), and answers with
// absl::StatusOr. A failed call keeps
// the gRPC canonical code and message; the service's fine-grained api code,
// its request id and, for RESOURCE_EXHAUSTED, the retry-after seconds come
// from the trailing metadata and ride on the absl::Status as payloads, read
// back with ApiCodeOf(), RequestIdOf() and RetryAfterOf().
//
//   profile::client::ProfileClient::Options options;
//   options.user_id = "u1";
//   profile::client::ProfileClient client(
//       grpc::CreateChannel("127.0.0.1:50051",
//                           grpc::InsecureChannelCredentials()),
//       options);
//
//   profile::v1::SendPhoneCodeRequest request;
//   request.set_phone_country_code("+86");
//   request.set_phone_number("18800008888");
//   request.set_purpose(profile::v1::PHONE_CODE_PURPOSE_NEW_PHONE);
//   absl::StatusOr<profile::v1::SendPhoneCodeResponse> response =
//       client.SendPhoneCode(request);
//   if (!response.ok() &&
//       profile::client::ApiCodeOf(response.status()) == 2100) {
//     // Too frequent: come back in RetryAfterOf(response.status()) seconds.
//   }
//
// Retries. A channel made by CreateProfileChannel() (or with
// ProfileChannelArguments(), or the constructor taking a target) carries a
// gRPC service config that retries calls answered UNAVAILABLE (api code
// 5003, an overloaded server, a connection that broke before an answer),
// at most 4 attempts in all with exponential backoff (0.1 s, then up to
// 1 s, jittered), within the call's deadline, for the methods that are safe
// to repeat:
//   - GetProfile: reads only;
//   - UpdatePhone: the token makes it safe. The server answers a retry of a
//     change that succeeded with OK again and changes nothing twice;
//   - SendPhoneCode: only with an idempotency key, so this client always
//     sends one: Options::idempotency_key, or, when that is empty, a fresh
//     random key per call. Every attempt of one call carries the same key,
//     so the server texts at most once and answers a retry with the first
//     answer. A key is per logical call: reusing one with a different
//     request is INVALID_ARGUMENT, api code 1004.
// UpdatePhoneVerification is never retried: a repeat would fail on the
// code the first attempt used up. Nor is RevertPhoneChange: a revert token
// is single use and the server keeps no answer to replay, so a repeat of a
// revert that succeeded but whose answer was lost answers NOT_FOUND (api
// code 2320); a caller that gets UNAVAILABLE or DEADLINE_EXCEEDED from it
// must read the profile to learn whether the revert happened. A service
// config applies per method and cannot look at metadata, which is why
// SendPhoneCode always has a key. The same channel serves
// ProfileAdminClient (profile_admin_client.h), whose reads GetUser and
// ListPhoneChanges are retried likewise and whose changes never are. A
// channel made otherwise (grpc::CreateChannel()) does not retry.
//
// Thread-safety: a ProfileClient is immutable after construction; any number
// of threads may call its methods concurrently (the calls block the calling
// thread until the RPC ends).
//
// Everything lives in namespace profile::client so that it never collides
// with the server's internal helpers in namespace profile.
#ifndef PROFILE_CLIENT_PROFILE_CLIENT_H_
#define PROFILE_CLIENT_PROFILE_CLIENT_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

namespace profile {
namespace client {

class ProfileClient {
 public:
  // How calls are made. Empty strings send no metadata.
  struct Options {
    // Sent as `x-user-id`: the caller's identity, trusted by the server.
    // Without it (and without other credentials) calls fail with
    // UNAUTHENTICATED.
    std::string user_id;
    // Sent as `x-request-id`: an id to correlate the call with the server's
    // logs; the server uses it when it is 1..64 chars of [A-Za-z0-9._:-].
    std::string request_id;
    // Sent as `x-authing-lang`, like "zh-CN" for Chinese messages.
    std::string language;
    // Deadline of each call, counted from its start, retries included.
    // Must be positive; absl::InfiniteDuration() means no deadline.
    absl::Duration timeout = absl::Seconds(5);
    // Sent as `authorization: Bearer <token>`: the caller's JWT, for a
    // server run with --auth=jwt (which ignores `x-user-id`). Send it only
    // over TLS outside a test: it is a credential.
    std::string bearer_token;
    // Sent as `x-idempotency-key` on SendPhoneCode (1 to 64 characters of
    // [A-Za-z0-9._:-]): the same key and request within the code's TTL get
    // the first answer again and text nothing. Empty: a fresh random key for
    // each call. Other methods send none.
    std::string idempotency_key;
  };

  // Calls the service over `channel` with default Options (no metadata,
  // 5 s deadline) or with `options`.
  explicit ProfileClient(std::shared_ptr<grpc::ChannelInterface> channel);
  ProfileClient(std::shared_ptr<grpc::ChannelInterface> channel,
                Options options);

  // Calls the service at `target` over a channel from
  // CreateProfileChannel(): with retries.
  ProfileClient(const std::string& target,
                std::shared_ptr<grpc::ChannelCredentials> credentials,
                Options options);

  // Calls the service through `stub`, e.g. a
  // profile::v1::MockProfileServiceStub in tests.
  // REQUIRES: stub != nullptr.
  explicit ProfileClient(
      std::unique_ptr<v1::ProfileService::StubInterface> stub);
  ProfileClient(std::unique_ptr<v1::ProfileService::StubInterface> stub,
                Options options);

  ProfileClient(const ProfileClient&) = delete;
  ProfileClient& operator=(const ProfileClient&) = delete;
  ProfileClient(ProfileClient&&) = default;
  ProfileClient& operator=(ProfileClient&&) = default;

  // Each RPC returns the response on a gRPC OK, else a non-OK status with
  // the same canonical code and message and the payloads read by
  // ApiCodeOf() / RequestIdOf() / RetryAfterOf(). The one-argument forms use
  // the Options given at construction; the others use `options` for this
  // call only. An Options that cannot be sent (a non-positive timeout, a
  // metadata value with characters outside printable ASCII) fails with
  // INVALID_ARGUMENT without calling the server.
  absl::StatusOr<v1::SendPhoneCodeResponse> SendPhoneCode(
      const v1::SendPhoneCodeRequest& request) const;
  absl::StatusOr<v1::SendPhoneCodeResponse> SendPhoneCode(
      const v1::SendPhoneCodeRequest& request, const Options& options) const;

  absl::StatusOr<v1::UpdatePhoneVerificationResponse> UpdatePhoneVerification(
      const v1::UpdatePhoneVerificationRequest& request) const;
  absl::StatusOr<v1::UpdatePhoneVerificationResponse> UpdatePhoneVerification(
      const v1::UpdatePhoneVerificationRequest& request,
      const Options& options) const;

  absl::StatusOr<v1::CommonResponse> UpdatePhone(
      const v1::UpdatePhoneRequest& request) const;
  absl::StatusOr<v1::CommonResponse> UpdatePhone(
      const v1::UpdatePhoneRequest& request, const Options& options) const;

  absl::StatusOr<v1::GetProfileResponse> GetProfile(
      const v1::GetProfileRequest& request) const;
  absl::StatusOr<v1::GetProfileResponse> GetProfile(
      const v1::GetProfileRequest& request, const Options& options) const;

  // Undoes a phone change with the revert token texted to the phone it
  // removed. The token is the proof: the server reads no user identity for
  // it, so Options::user_id and Options::bearer_token may be empty (they
  // are sent if set, and ignored). Never retried (see the top of this
  // file): a second call with a token already spent is NOT_FOUND, api code
  // 2320.
  absl::StatusOr<v1::CommonResponse> RevertPhoneChange(
      const v1::RevertPhoneChangeRequest& request) const;
  absl::StatusOr<v1::CommonResponse> RevertPhoneChange(
      const v1::RevertPhoneChangeRequest& request,
      const Options& options) const;

  // Returns the Options given at construction.
  const Options& options() const { return options_; }

  // Returns the underlying generated stub, for callers that want the raw
  // API (they then set deadline and metadata themselves). Owned by this
  // client.
  v1::ProfileService::StubInterface* stub() const { return stub_.get(); }

 private:
  std::unique_ptr<v1::ProfileService::StubInterface> stub_;
  Options options_;
};

// Returns the channel arguments that carry the retry service config
// described at the top of this file, for grpc::CreateCustomChannel().
grpc::ChannelArguments ProfileChannelArguments();

// Returns a channel to `target` with ProfileChannelArguments().
std::shared_ptr<grpc::Channel> CreateProfileChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials);

// Returns a fresh random idempotency key (32 characters of [0-9a-f]).
std::string NewIdempotencyKey();

// Returns the service's fine-grained api code a failed call carries (the
// `x-api-code` trailing metadata, e.g. 2001 for a wrong code), or 0 if
// there is none (OK, or an error that never reached the service).
int ApiCodeOf(const absl::Status& status);

// Returns the request id of a failed call: the server's `x-request-id`
// trailing metadata, else the id the call sent, else "".
std::string RequestIdOf(const absl::Status& status);

// Returns the seconds to wait before retrying a failed call (the
// `retry-after` trailing metadata that comes with RESOURCE_EXHAUSTED), or -1
// if there is none.
int RetryAfterOf(const absl::Status& status);

}  // namespace client
}  // namespace profile

#endif  // PROFILE_CLIENT_PROFILE_CLIENT_H_
