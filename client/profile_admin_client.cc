#include "client/profile_admin_client.h"

#include <cassert>
#include <utility>

#include "client/internal/unary_call.h"

namespace profile {
namespace client {
namespace {

using Stub = admin::v1::ProfileAdminService::StubInterface;
using internal::UnaryCall;

// Returns the metadata of an admin call in the shape the shared call
// machinery reads: never a user id (the account is in the request) nor an
// idempotency key.
ProfileClient::Options CallOptions(const ProfileAdminClient::Options& options) {
  ProfileClient::Options call;
  call.request_id = options.request_id;
  call.language = options.language;
  call.timeout = options.timeout;
  call.bearer_token = options.bearer_token;
  return call;
}

}  // namespace

ProfileAdminClient::ProfileAdminClient(
    std::shared_ptr<grpc::ChannelInterface> channel)
    : ProfileAdminClient(std::move(channel), Options()) {}

ProfileAdminClient::ProfileAdminClient(
    std::shared_ptr<grpc::ChannelInterface> channel, Options options)
    : ProfileAdminClient(
          admin::v1::ProfileAdminService::NewStub(std::move(channel)),
          std::move(options)) {}

ProfileAdminClient::ProfileAdminClient(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials, Options options)
    : ProfileAdminClient(CreateProfileChannel(target, std::move(credentials)),
                         std::move(options)) {}

ProfileAdminClient::ProfileAdminClient(std::unique_ptr<Stub> stub)
    : ProfileAdminClient(std::move(stub), Options()) {}

ProfileAdminClient::ProfileAdminClient(std::unique_ptr<Stub> stub,
                                       Options options)
    : stub_(std::move(stub)), options_(std::move(options)) {
  assert(stub_ != nullptr);
}

absl::StatusOr<admin::v1::GetUserResponse> ProfileAdminClient::GetUser(
    const admin::v1::GetUserRequest& request) const {
  return GetUser(request, options_);
}

absl::StatusOr<admin::v1::GetUserResponse> ProfileAdminClient::GetUser(
    const admin::v1::GetUserRequest& request, const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::GetUser, request, CallOptions(options));
}

absl::StatusOr<admin::v1::SetPhoneResponse> ProfileAdminClient::SetPhone(
    const admin::v1::SetPhoneRequest& request) const {
  return SetPhone(request, options_);
}

absl::StatusOr<admin::v1::SetPhoneResponse> ProfileAdminClient::SetPhone(
    const admin::v1::SetPhoneRequest& request, const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::SetPhone, request,
                   CallOptions(options));
}

absl::StatusOr<admin::v1::ClearPhoneResponse> ProfileAdminClient::ClearPhone(
    const admin::v1::ClearPhoneRequest& request) const {
  return ClearPhone(request, options_);
}

absl::StatusOr<admin::v1::ClearPhoneResponse> ProfileAdminClient::ClearPhone(
    const admin::v1::ClearPhoneRequest& request,
    const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::ClearPhone, request,
                   CallOptions(options));
}

absl::StatusOr<admin::v1::UnlockPhoneChangesResponse>
ProfileAdminClient::UnlockPhoneChanges(
    const admin::v1::UnlockPhoneChangesRequest& request) const {
  return UnlockPhoneChanges(request, options_);
}

absl::StatusOr<admin::v1::UnlockPhoneChangesResponse>
ProfileAdminClient::UnlockPhoneChanges(
    const admin::v1::UnlockPhoneChangesRequest& request,
    const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::UnlockPhoneChanges, request,
                   CallOptions(options));
}

absl::StatusOr<admin::v1::ListPhoneChangesResponse>
ProfileAdminClient::ListPhoneChanges(
    const admin::v1::ListPhoneChangesRequest& request) const {
  return ListPhoneChanges(request, options_);
}

absl::StatusOr<admin::v1::ListPhoneChangesResponse>
ProfileAdminClient::ListPhoneChanges(
    const admin::v1::ListPhoneChangesRequest& request,
    const Options& options) const {
  return UnaryCall(stub_.get(), &Stub::ListPhoneChanges, request,
                   CallOptions(options));
}

}  // namespace client
}  // namespace profile
