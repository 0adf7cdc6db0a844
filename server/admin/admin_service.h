// The gRPC face of ProfileAdmin: profile.admin.v1.ProfileAdminService, on
// the public API's port, for support staff only.
//
// An admin is a caller whose verified client certificate carries a DNS or
// URI SAN listed in --admin_allowed_names, or, with --auth=jwt, whose
// bearer token holds the scope `profile.admin`; everyone else is
// PERMISSION_DENIED, api code 1003. `x-user-id` is never read here: the
// account comes from the request, the admin from the credentials.
//
// Requests are parsed from raw bytes like the public API's (wire.h), so a
// malformed field is INVALID_ARGUMENT naming it; calls that may block run
// on the executor.
//
// Thread-safety: as any gRPC service.
#ifndef PROFILE_SERVER_ADMIN_ADMIN_SERVICE_H_
#define PROFILE_SERVER_ADMIN_ADMIN_SERVICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/byte_buffer.h"
#include "profile/admin/v1/admin.grpc.pb.h"
#include "server/admin/profile_admin.h"
#include "server/auth/authenticator.h"
#include "server/common/executor.h"

namespace profile {

using RawProfileAdminService =
    admin::v1::ProfileAdminService::WithRawCallbackMethod_GetUser<
        admin::v1::ProfileAdminService::WithRawCallbackMethod_SetPhone<
            admin::v1::ProfileAdminService::WithRawCallbackMethod_ClearPhone<
                admin::v1::ProfileAdminService::
                    WithRawCallbackMethod_UnlockPhoneChanges<
                        admin::v1::ProfileAdminService::
                            WithRawCallbackMethod_ListPhoneChanges<
                                admin::v1::ProfileAdminService::Service>>>>>;

struct AdminPolicy {
  // --admin_allowed_names: client certificate SANs of admins.
  std::vector<std::string> allowed_names;
  // With --auth=jwt, the authenticator whose tokens may carry the admin
  // scope; null otherwise.
  const Authenticator* jwt = nullptr;
};

class AdminServiceImpl final : public RawProfileAdminService {
 public:
  // REQUIRES: `admin`, `executor` and `policy.jwt` outlive the service.
  AdminServiceImpl(ProfileAdmin* admin, Executor* executor, AdminPolicy policy)
      : admin_(admin), executor_(executor), policy_(std::move(policy)) {}

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SetPhone(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ClearPhone(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UnlockPhoneChanges(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListPhoneChanges(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

 private:
  // Identifies the admin, parses the request, runs `body` (on the executor
  // if the stores may block) and finishes the call.
  template <typename Request, typename Response, typename Body>
  grpc::ServerUnaryReactor* Handle(absl::string_view method,
                                   grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* raw_request,
                                   grpc::ByteBuffer* raw_response, Body body);

  // Returns the admin's identity, or PERMISSION_DENIED (1003).
  absl::StatusOr<std::string> IdentifyAdmin(
      grpc::CallbackServerContext* context) const;

  ProfileAdmin* const admin_;
  Executor* const executor_;
  const AdminPolicy policy_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_ADMIN_ADMIN_SERVICE_H_
