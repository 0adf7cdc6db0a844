// ProfileServiceImpl: the gRPC face of PhoneChange.
//
// Each handler is thin: read the caller from metadata, turn the request
// proto into the core's input, make one core call, fill the response, and
// finish with ToGrpcStatus(). No business rule lives here.
//
//   ProfileServiceImpl service(&authenticator, &core);
//   builder.RegisterService(&service);
//
// Handlers run on gRPC's callback threads and never block: the in-memory
// stores only take short mutexes.
//
// Thread-safety: gRPC calls the handlers concurrently; the collaborators are
// thread-safe.
#ifndef PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_
#define PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/byte_buffer.h"
#include "profile/v1/profile.grpc.pb.h"
#include "server/auth/authenticator.h"
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
  // REQUIRES: both outlive the service.
  ProfileServiceImpl(const Authenticator* authenticator, PhoneChange* core)
      : authenticator_(authenticator), core_(core) {}

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
  // Authenticates the caller, parses the request, runs `body` and finishes
  // the call, filling the common response fields on success.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Handle(
      absl::string_view method, grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
      absl::FunctionRef<absl::Status(const Caller&, const Request&,
                                     Response&)>
          body);

  const Authenticator* const authenticator_;
  PhoneChange* const core_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SERVICE_PROFILE_SERVICE_H_
