// ProfileServiceImpl: the gRPC face of PhoneChange.
//
// Each handler is thin: read the caller from metadata, turn the request
// proto into the core's input, make one core call, fill the response, and
// finish with ToGrpcStatus(). No business rule lives here.
//
//   ProfileServiceImpl service(&authenticator, &core);
//   builder.RegisterService(&service);
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

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/byte_buffer.h"
#include "profile/v1/profile.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/common/executor.h"
#include "server/core/phone_change.h"

namespace profile {

// The generated service with every method taking raw bytes, so that the
// service parses requests itself (see wire.h).
using RawProfileService = v1::ProfileService::WithRawCallbackMethod_SendPhoneCode<
    v1::ProfileService::WithRawCallbackMethod_UpdatePhoneVerification<
        v1::ProfileService::WithRawCallbackMethod_UpdatePhone<
            v1::ProfileService::WithRawCallbackMethod_GetProfile<
                v1::ProfileService::Service>>>>;

class ProfileServiceImpl final : public RawProfileService {
 public:
  // `executor` runs the calls that may block; `send_executor` those of
  // them that send a code (they wait on SMS providers, for as long as
  // --sms_timeout, so they get threads of their own, as many as
  // --sms_max_in_flight).
  // REQUIRES: all four outlive the service.
  ProfileServiceImpl(const Authenticator* authenticator, PhoneChange* core,
                     Executor* executor, Executor* send_executor)
      : authenticator_(authenticator),
        core_(core),
        executor_(executor),
        send_executor_(send_executor) {}

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

  // Finishes `call` with `status`: trailing metadata, the response, the log.
  template <typename Request, typename Response>
  void Finish(Call<Request, Response>& call, const absl::Status& status);

  const Authenticator* const authenticator_;
  PhoneChange* const core_;
  Executor* const executor_;
  Executor* const send_executor_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_
