// Internal to the client library, not public API: the one way its clients
// (ProfileClient, ProfileAdminClient) make a blocking unary call. The
// deadline and the call metadata come from a ProfileClient::Options; a
// failed call keeps its canonical code and message, and the service's
// trailing metadata rides on the absl::Status as the payloads that
// ApiCodeOf(), RequestIdOf() and RetryAfterOf() read.
//
//   absl::StatusOr<admin::v1::GetUserResponse> response = internal::UnaryCall(
//       stub, &admin::v1::ProfileAdminService::StubInterface::GetUser,
//       request, options);
//
// Thread-safety: free functions without state; safe to call concurrently.
#ifndef PROFILE_CLIENT_INTERNAL_UNARY_CALL_H_
#define PROFILE_CLIENT_INTERNAL_UNARY_CALL_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/profile_client.h"

namespace profile {
namespace client {
namespace internal {

// Payload type URLs on the statuses the clients return. Distinct from the
// server's own payloads so that the two never read each other's encoding.
inline constexpr absl::string_view kApiCodeUrl = "type.profile.client/api-code";
inline constexpr absl::string_view kRequestIdUrl =
    "type.profile.client/request-id";
inline constexpr absl::string_view kRetryAfterUrl =
    "type.profile.client/retry-after";

// Sets the deadline and metadata of one call from `options`;
// `idempotency_key`, if not empty, goes out as x-idempotency-key. Returns
// INVALID_ARGUMENT, and sets nothing that matters, for a non-positive
// timeout or a metadata value outside printable ASCII.
absl::Status PrepareContext(const ProfileClient::Options& options,
                            absl::string_view idempotency_key,
                            grpc::ClientContext* context);

// Returns the absl::Status of a failed call, with the trailing metadata the
// service sent as payloads (the request id falls back to the one `options`
// sent).
// REQUIRES: !status.ok().
absl::Status FromRpcStatus(const grpc::Status& status,
                           const grpc::ClientContext& context,
                           const ProfileClient::Options& options);

// Makes one unary call of `method` through `stub` with `options` (and
// `idempotency_key` as x-idempotency-key unless empty); gRPC may make it
// in several attempts, each with the same metadata.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> UnaryCall(
    Stub* stub,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    const Request& request, const ProfileClient::Options& options,
    absl::string_view idempotency_key = "") {
  grpc::ClientContext context;
  absl::Status prepared = PrepareContext(options, idempotency_key, &context);
  if (!prepared.ok()) return prepared;
  Response response;
  grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromRpcStatus(status, context, options);
  return response;
}

}  // namespace internal
}  // namespace client
}  // namespace profile

#endif  // PROFILE_CLIENT_INTERNAL_UNARY_CALL_H_
