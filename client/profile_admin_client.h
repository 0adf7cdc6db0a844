// ProfileAdminClient: the C++ client of profile.admin.v1.ProfileAdminService,
// support staff's operations on one account's phone.
//
// The same thin wrapper as ProfileClient (profile_client.h): every call gets
// a deadline and the call metadata (`x-request-id`, `x-authing-lang`,
// `authorization`), and answers with absl::StatusOr; a failed call carries
// the service's api code and request id, read with ApiCodeOf() and
// RequestIdOf(). It never sends `x-user-id`: the account is a field of each
// request, and the admin is who the channel's client certificate or the
// bearer token says (a certificate SAN in the server's
// --admin_allowed_names, or a JWT whose `scope` holds `profile.admin`).
// Anyone else gets PERMISSION_DENIED, api code 1003.
//
//   grpc::SslCredentialsOptions tls;  // pem_root_certs, pem_cert_chain, ...
//   profile::client::ProfileAdminClient client(
//       "profile.example.com:443", grpc::SslCredentials(tls),
//       profile::client::ProfileAdminClient::Options());
//
//   profile::admin::v1::ClearPhoneRequest request;
//   request.set_user_id("u1");
//   request.set_reason("ticket 4711: the holder lost the number");
//   absl::StatusOr<profile::admin::v1::ClearPhoneResponse> response =
//       client.ClearPhone(request);
//   if (!response.ok() &&
//       profile::client::ApiCodeOf(response.status()) == 2037) {
//     // The account has no phone.
//   }
//
// Retries. Over a channel from CreateProfileChannel() (or the constructor
// taking a target) the reads, GetUser and ListPhoneChanges, are retried
// when answered UNAVAILABLE, as GetProfile is: at most 4 attempts with
// backoff, within the call's deadline. The changes, SetPhone, ClearPhone
// and UnlockPhoneChanges, are never retried: the admin API takes no
// idempotency key, so a blind repeat of a change that happened but whose
// answer was lost would be a second change, with an audit record of its
// own, or a misleading error (a repeated ClearPhone answers
// FAILED_PRECONDITION, api code 2037: no phone). A caller that gets
// UNAVAILABLE or DEADLINE_EXCEEDED from a change reads the account
// (GetUser, ListPhoneChanges) to learn whether it happened before trying
// again.
//
// Thread-safety: a ProfileAdminClient is immutable after construction; any
// number of threads may call its methods concurrently (the calls block the
// calling thread until the RPC ends).
#ifndef PROFILE_CLIENT_PROFILE_ADMIN_CLIENT_H_
#define PROFILE_CLIENT_PROFILE_ADMIN_CLIENT_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/profile_client.h"
#include "profile/admin/v1/admin.grpc.pb.h"
#include "profile/admin/v1/admin.pb.h"

namespace profile {
namespace client {

class ProfileAdminClient {
 public:
  // How calls are made. Empty strings send no metadata. There is no user
  // id: the account is in each request.
  struct Options {
    // Sent as `x-request-id`, as ProfileClient::Options::request_id; the
    // audit record of a change keeps it.
    std::string request_id;
    // Sent as `x-authing-lang`, like "zh-CN" for Chinese messages.
    std::string language;
    // Deadline of each call, counted from its start, retries included.
    // Must be positive; absl::InfiniteDuration() means no deadline.
    absl::Duration timeout = absl::Seconds(5);
    // Sent as `authorization: Bearer <token>`: an admin's JWT (scope
    // `profile.admin`) for a server run with --auth=jwt. Empty when the
    // channel's client certificate is the admin's identity. Send it only
    // over TLS outside a test: it is a credential.
    std::string bearer_token;
  };

  // Calls the service over `channel` with default Options (no metadata,
  // 5 s deadline) or with `options`.
  explicit ProfileAdminClient(std::shared_ptr<grpc::ChannelInterface> channel);
  ProfileAdminClient(std::shared_ptr<grpc::ChannelInterface> channel,
                     Options options);

  // Calls the service at `target` over a channel from
  // CreateProfileChannel(): with the retries of the header comment.
  ProfileAdminClient(const std::string& target,
                     std::shared_ptr<grpc::ChannelCredentials> credentials,
                     Options options);

  // Calls the service through `stub`, e.g. a
  // profile::admin::v1::MockProfileAdminServiceStub in tests.
  // REQUIRES: stub != nullptr.
  explicit ProfileAdminClient(
      std::unique_ptr<admin::v1::ProfileAdminService::StubInterface> stub);
  ProfileAdminClient(
      std::unique_ptr<admin::v1::ProfileAdminService::StubInterface> stub,
      Options options);

  ProfileAdminClient(const ProfileAdminClient&) = delete;
  ProfileAdminClient& operator=(const ProfileAdminClient&) = delete;
  ProfileAdminClient(ProfileAdminClient&&) = default;
  ProfileAdminClient& operator=(ProfileAdminClient&&) = default;

  // Each RPC returns the response on a gRPC OK, else a non-OK status with
  // the same canonical code and message and the payloads read by
  // ApiCodeOf() / RequestIdOf(). The one-argument forms use the Options
  // given at construction; the others use `options` for this call only. An
  // Options that cannot be sent (a non-positive timeout, a metadata value
  // with characters outside printable ASCII) fails with INVALID_ARGUMENT
  // without calling the server. The request is sent as given: the server
  // checks it (e.g. an empty reason is INVALID_ARGUMENT, api code 1001).

  // Reads an account. Retried on UNAVAILABLE.
  absl::StatusOr<admin::v1::GetUserResponse> GetUser(
      const admin::v1::GetUserRequest& request) const;
  absl::StatusOr<admin::v1::GetUserResponse> GetUser(
      const admin::v1::GetUserRequest& request, const Options& options) const;

  // Binds a number without codes. Never retried.
  absl::StatusOr<admin::v1::SetPhoneResponse> SetPhone(
      const admin::v1::SetPhoneRequest& request) const;
  absl::StatusOr<admin::v1::SetPhoneResponse> SetPhone(
      const admin::v1::SetPhoneRequest& request, const Options& options) const;

  // Unbinds the account's phone. Never retried.
  absl::StatusOr<admin::v1::ClearPhoneResponse> ClearPhone(
      const admin::v1::ClearPhoneRequest& request) const;
  absl::StatusOr<admin::v1::ClearPhoneResponse> ClearPhone(
      const admin::v1::ClearPhoneRequest& request,
      const Options& options) const;

  // Lifts the lock a revert put on the account's phone changes. Never
  // retried.
  absl::StatusOr<admin::v1::UnlockPhoneChangesResponse> UnlockPhoneChanges(
      const admin::v1::UnlockPhoneChangesRequest& request) const;
  absl::StatusOr<admin::v1::UnlockPhoneChangesResponse> UnlockPhoneChanges(
      const admin::v1::UnlockPhoneChangesRequest& request,
      const Options& options) const;

  // Lists one page of the account's phone changes, newest first. Retried
  // on UNAVAILABLE.
  absl::StatusOr<admin::v1::ListPhoneChangesResponse> ListPhoneChanges(
      const admin::v1::ListPhoneChangesRequest& request) const;
  absl::StatusOr<admin::v1::ListPhoneChangesResponse> ListPhoneChanges(
      const admin::v1::ListPhoneChangesRequest& request,
      const Options& options) const;

  // Returns the Options given at construction.
  const Options& options() const { return options_; }

  // Returns the underlying generated stub. Owned by this client.
  admin::v1::ProfileAdminService::StubInterface* stub() const {
    return stub_.get();
  }

 private:
  std::unique_ptr<admin::v1::ProfileAdminService::StubInterface> stub_;
  Options options_;
};

}  // namespace client
}  // namespace profile

#endif  // PROFILE_CLIENT_PROFILE_ADMIN_CLIENT_H_
