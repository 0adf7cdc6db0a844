// ProfileServiceImpl: the gRPC face of PhoneChange.
//
// Each handler is thin: read the caller from metadata, turn the request
// proto into the core's input, make one core call, fill the response, and
// finish with ToGrpcStatus(). No business rule lives here.
//
//   ProfileServiceImpl service(&authenticator, &core, &executor,
//                              &send_executor, policy);
//   builder.RegisterService(&service);
//
// Before any handler body runs, every call passes CallerPolicy in one
// place (Handle()): a client certificate --tls_client_allowed_names lists
// (else PERMISSION_DENIED 1003), then the Authenticator, then, for the
// calls that change the account (SendPhoneCode, UpdatePhoneVerification,
// UpdatePhone; not GetProfile), a sign-in at most --max_auth_age old (else
// UNAUTHENTICATED 1002, "sign in again").
//
// Handlers run on gRPC's callback threads and never block: authentication
// and parsing happen there, and so does the core call when nothing it uses
// may wait (in-memory stores: a few microseconds under a mutex). A call that
// may wait (PhoneChange::MayBlock(): a network backend, a network SMS
// provider, a file) runs on the bounded Executor, which then finishes it.
//
// Thread-safety: gRPC calls the handlers concurrently; the collaborators are
// thread-safe.
#ifndef PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_
#define PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "profile/v1/profile.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/core/phone_change.h"

namespace profile {

// The generated service with every method taking raw bytes, so that the
// service parses requests itself (see wire.h).
using RawProfileService = v1::ProfileService::WithRawCallbackMethod_SendPhoneCode<
    v1::ProfileService::WithRawCallbackMethod_UpdatePhoneVerification<
        v1::ProfileService::WithRawCallbackMethod_UpdatePhone<
            v1::ProfileService::WithRawCallbackMethod_GetProfile<
                v1::ProfileService::WithRawCallbackMethod_RevertPhoneChange<
                    v1::ProfileService::Service>>>>>;

// What every caller must show besides its identity.
struct CallerPolicy {
  // --tls_client_allowed_names: the client certificate's DNS or URI SANs
  // must include one of these; empty: not checked.
  std::vector<std::string> client_allowed_names;
  // --admin_allowed_names: an admin's certificate is no user identity.
  std::vector<std::string> admin_allowed_names;
  // --max_auth_age: how old a sign-in may be for a call that changes the
  // account; zero: not checked.
  absl::Duration max_auth_age = absl::ZeroDuration();
  // The clock the sign-in age is measured by.
  std::shared_ptr<Clock> clock = SystemClock();
};

class ProfileServiceImpl final : public RawProfileService {
 public:
  // `executor` runs the calls that may block; `send_executor` those of
  // them that send a code (they wait on SMS providers, for as long as
  // --sms_timeout, so they get threads of their own, as many as
  // --sms_max_in_flight).
  // REQUIRES: all four outlive the service.
  ProfileServiceImpl(const Authenticator* authenticator, PhoneChange* core,
                     Executor* executor, Executor* send_executor,
                     CallerPolicy policy = {})
      : authenticator_(authenticator),
        core_(core),
        executor_(executor),
        send_executor_(send_executor),
        policy_(std::move(policy)) {}

  grpc::ServerUnaryReactor* SendPhoneCode(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* UpdatePhoneVerification(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* UpdatePhone(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* GetProfile(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

  // Needs no user identity (the revert token is the proof), but the
  // client certificate rules of CallerPolicy still apply.
  grpc::ServerUnaryReactor* RevertPhoneChange(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

 private:
  // Authenticates the caller, parses the request, runs
  // `body(caller, request, response)` (on the executor if `rpc` may block)
  // and finishes the call, filling the common response fields on success.
  template <typename Request, typename Response, typename Body>
  grpc::ServerUnaryReactor* Handle(absl::string_view method,
                                   PhoneChange::Rpc rpc,
                                   grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* raw_request,
                                   grpc::ByteBuffer* raw_response, Body body);

  template <typename Request, typename Response>
  struct Call;

  // Returns the caller `context` and `metadata` prove, as CallerPolicy
  // asks for `rpc`, or why not.
  absl::StatusOr<Identity> IdentifyCaller(PhoneChange::Rpc rpc,
                                          grpc::CallbackServerContext* context,
                                          const CallMetadata& metadata) const;

  // Finishes `call` with `status`: trailing metadata, the response, the log.
  template <typename Request, typename Response>
  void Finish(Call<Request, Response>& call, const absl::Status& status);

  const Authenticator* const authenticator_;
  PhoneChange* const core_;
  Executor* const executor_;
  Executor* const send_executor_;
  const CallerPolicy policy_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_
