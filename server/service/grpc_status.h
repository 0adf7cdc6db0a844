// The one place where a core absl::Status becomes a gRPC status.
//
//   reactor->Finish(ToGrpcStatus(status, language, context));
//
// The canonical code carries over; the message is localized; the api code
// (and, for RESOURCE_EXHAUSTED, `retry-after`) go to trailing metadata.
// Internal errors keep their details in the server log, not on the wire.
//
// Thread-safety: call from the RPC's own reaction only.
#ifndef PROFILE_SERVER_SERVICE_GRPC_STATUS_H_
#define PROFILE_SERVER_SERVICE_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/common/language.h"

namespace profile {

// Returns the gRPC status for `status` and adds its trailing metadata
// (`x-api-code`, `retry-after`) to `context`.
grpc::Status ToGrpcStatus(const absl::Status& status, Language language,
                          grpc::CallbackServerContext* context);

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_GRPC_STATUS_H_
