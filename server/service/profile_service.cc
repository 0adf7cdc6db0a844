#include "server/service/profile_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/service/call_context.h"
#include "server/service/grpc_status.h"
#include "server/service/wire.h"
#include "server/tls/tls_credentials.h"

namespace profile {
namespace {

constexpr absl::string_view kServiceName = "profile.v1.ProfileService";

// The API's purposes have the numbers of CodePurpose; any other is
// unspecified, which the core refuses.
CodePurpose CodePurposeOf(v1::PhoneCodePurpose purpose) {
  switch (purpose) {
    case v1::PHONE_CODE_PURPOSE_NEW_PHONE:
      return CodePurpose::kNewPhone;
    case v1::PHONE_CODE_PURPOSE_OLD_PHONE:
      return CodePurpose::kOldPhone;
    default:
      return CodePurpose::kUnspecified;
  }
}

int32_t Seconds(absl::Duration d) {
  return static_cast<int32_t>(absl::ToInt64Seconds(d));
}

// The calls that change the account: --max_auth_age applies to them.
bool ChangesAccount(PhoneChange::Rpc rpc) {
  return rpc != PhoneChange::Rpc::kGetProfile;
}

absl::Status Interrupted(grpc::CallbackServerContext* context) {
  if (context->IsCancelled()) {
    return ApiError(ApiCode::kCancelled);
  }
  if (context->deadline() <= std::chrono::system_clock::now()) {
    return ApiError(ApiCode::kDeadlineExceeded, "the deadline has passed");
  }
  return absl::OkStatus();
}

}  // namespace

// One call's state, kept alive until the call finishes, wherever that is.
template <typename Request, typename Response>
struct ProfileServiceImpl::Call {
  Call()
      : arena(OneBlockArena()),
        request(*google::protobuf::Arena::CreateMessage<Request>(&arena)),
        response(*google::protobuf::Arena::CreateMessage<Response>(&arena)) {}

  // The messages of a call take well under a KiB: one block holds them.
  // (A block inside the Call would make it too large for malloc's
  // per-thread cache, which costs more than the block's own allocation.)
  static google::protobuf::ArenaOptions OneBlockArena() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 1024;
    return options;
  }

  absl::Time start;
  absl::string_view method;
  grpc::CallbackServerContext* context;
  // DefaultReactor() constructs the reactor anew on every call, so it is
  // asked for once and kept here.
  grpc::ServerUnaryReactor* reactor;
  grpc::ByteBuffer* raw_response;
  Caller caller;
  // The messages live on an arena: each string field and submessage would
  // otherwise be an allocation of its own.
  google::protobuf::Arena arena;
  Request& request;
  Response& response;
};

absl::StatusOr<Identity> ProfileServiceImpl::IdentifyCaller(
    PhoneChange::Rpc rpc, grpc::CallbackServerContext* context,
    const CallMetadata& metadata) const {
  if (!policy_.client_allowed_names.empty()) {
    const std::shared_ptr<const grpc::AuthContext> peer =
        context->auth_context();
    absl::Status allowed =
        CheckClientAllowed(peer.get(), policy_.client_allowed_names);
    if (!allowed.ok()) return allowed;
  }
  // Admin credentials never stand for a user: a support console that may
  // set any account's phone must not act as one account here.
  if (!policy_.admin_allowed_names.empty() &&
      !ClientNameIn(context->auth_context().get(),
                    policy_.admin_allowed_names)
           .empty()) {
    return ApiError(ApiCode::kPermissionDenied,
                    "an admin's certificate is not a user identity");
  }
  // The revert token is the proof: the old phone's holder may have lost the
  // account, and has no identity to show.
  if (rpc == PhoneChange::Rpc::kRevert) return Identity();
  absl::StatusOr<Identity> identity = authenticator_->Identify(metadata);
  if (identity.ok() && HasAdminScope(*identity)) {
    return ApiError(ApiCode::kPermissionDenied,
                    "a token with the scope profile.admin is not a user "
                    "identity");
  }
  if (!identity.ok() || !ChangesAccount(rpc)) return identity;
  absl::Status fresh = CheckSignInAge(*identity, policy_.max_auth_age,
                                      policy_.clock->Now());
  if (!fresh.ok()) return fresh;
  return identity;
}

template <typename Request, typename Response, typename Body>
grpc::ServerUnaryReactor* ProfileServiceImpl::Handle(
    absl::string_view method, PhoneChange::Rpc rpc,
    grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
    Body body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_shared<Call<Request, Response>>();
  call->start = absl::Now();
  call->method = method;
  call->context = context;
  call->reactor = reactor;
  call->raw_response = raw_response;
  const CallMetadata& metadata = context->client_metadata();
  call->caller.request_id = RequestIdFrom(metadata);
  call->caller.language = LanguageFrom(metadata);
  call->caller.trace = TraceContextFrom(metadata);
  call->caller.deadline = absl::FromChrono(context->deadline());

  // Work for a caller who is gone is wasted, and a write it makes would be
  // acknowledged to nobody.
  absl::Status status = Interrupted(context);
  if (status.ok()) {
    absl::StatusOr<Identity> identity =
        IdentifyCaller(rpc, context, metadata);
    if (identity.ok()) {
      call->caller.user_id = std::move(identity->user_id);
      status = ParseRequest(*raw_request, &call->request);
      if (status.ok() && (rpc == PhoneChange::Rpc::kSendCode ||
                          rpc == PhoneChange::Rpc::kRevert)) {
        absl::StatusOr<std::string> key = IdempotencyKeyFrom(metadata);
        status = key.status();
        if (key.ok()) call->caller.idempotency_key = *std::move(key);
        absl::StatusOr<std::string> ip = ClientIpFrom(metadata);
        if (status.ok()) status = ip.status();
        if (ip.ok()) call->caller.client_ip = *std::move(ip);
      }
    } else {
      status = identity.status();
    }
  }
  if (!status.ok() || !core_->MayBlock(rpc)) {
    if (status.ok()) status = body(call->caller, call->request, call->response);
    Finish(*call, status);
    return reactor;
  }
  const bool send = rpc == PhoneChange::Rpc::kSendCode;
  Executor* const executor = send ? send_executor_ : executor_;
  const bool scheduled = executor->TrySchedule([this, call, body] {
    // The call may have waited in the queue past its deadline.
    absl::Status status = Interrupted(call->context);
    if (status.ok()) status = body(call->caller, call->request, call->response);
    Finish(*call, status);
  });
  if (!scheduled) {
    Finish(*call, send ? ApiError(ApiCode::kSmsFailed,
                                  "too many codes are being sent; retry later")
                       : ApiError(ApiCode::kUnavailable,
                                  "the server is overloaded; retry later"));
  }
  return reactor;
}

template <typename Request, typename Response>
void ProfileServiceImpl::Finish(Call<Request, Response>& call,
                                const absl::Status& status) {
  const Caller& caller = call.caller;
  call.context->AddTrailingMetadata("x-request-id", caller.request_id);
  grpc::Status grpc_status;
  if (status.ok()) {
    call.response.set_status_code(200);
    call.response.set_message(std::string(SuccessMessage(caller.language)));
    call.response.set_request_id(caller.request_id);
    SerializeResponse(call.response, call.raw_response);
  } else {
    grpc_status = ToGrpcStatus(status, caller.language, call.context);
  }

  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kUnknown ||
                            status.code() == absl::StatusCode::kUnavailable;
  const LogLevel level = server_fault ? LogLevel::kError : LogLevel::kDebug;
  if (LogEnabled(level)) {
    Log(level, server_fault ? std::string(status.message()) : "rpc",
        {{"grpc.service", kServiceName},
         {"grpc.method", call.method},
         {"grpc.code", absl::StatusCodeToString(status.code())},
         {"grpc.time_ms",
          absl::StrCat(absl::ToDoubleMilliseconds(absl::Now() - call.start))},
         {"request_id", caller.request_id},
         {"api_code", absl::StrCat(static_cast<int>(ApiCodeOf(status)))}},
        caller.trace);
  }
  call.reactor->Finish(grpc_status);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::SendPhoneCode(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::SendPhoneCodeRequest, v1::SendPhoneCodeResponse>(
      "SendPhoneCode", PhoneChange::Rpc::kSendCode, context, raw_request, raw_response,
      [this](const Caller& caller, const v1::SendPhoneCodeRequest& request,
          v1::SendPhoneCodeResponse& response) {
        absl::StatusOr<SendCodeResult> result = core_->SendCode(
            caller, {request.phone_country_code(), request.phone_number(),
                     CodePurposeOf(request.purpose())});
        if (!result.ok()) return result.status();
        response.mutable_data()->set_expires_in(Seconds(result->expires_in));
        response.mutable_data()->set_resend_after(
            Seconds(result->resend_after));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ProfileServiceImpl::UpdatePhoneVerification(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::UpdatePhoneVerificationRequest,
                v1::UpdatePhoneVerificationResponse>(
      "UpdatePhoneVerification", PhoneChange::Rpc::kVerify, context, raw_request, raw_response,
      [this](const Caller& caller,
             const v1::UpdatePhoneVerificationRequest& request,
          v1::UpdatePhoneVerificationResponse& response) {
        absl::StatusOr<VerifyResult> result = core_->Verify(
            caller,
            {request.new_phone_country_code(), request.new_phone_number(),
             request.new_phone_pass_code(), request.old_phone_country_code(),
             request.old_phone_number(), request.old_phone_pass_code()});
        if (!result.ok()) return result.status();
        response.mutable_data()->set_update_phone_token(
            std::move(result->token));
        response.mutable_data()->set_token_expires_in(
            Seconds(result->expires_in));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ProfileServiceImpl::UpdatePhone(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::UpdatePhoneRequest, v1::CommonResponse>(
      "UpdatePhone", PhoneChange::Rpc::kUpdate, context, raw_request, raw_response,
      [this](const Caller& caller, const v1::UpdatePhoneRequest& request,
          v1::CommonResponse&) {
        return core_->Update(caller, request.update_phone_token());
      });
}

grpc::ServerUnaryReactor* ProfileServiceImpl::GetProfile(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::GetProfileRequest, v1::GetProfileResponse>(
      "GetProfile", PhoneChange::Rpc::kGetProfile, context, raw_request, raw_response,
      [this](const Caller& caller, const v1::GetProfileRequest&,
          v1::GetProfileResponse& response) {
        absl::StatusOr<ProfileView> view = core_->GetProfile(caller);
        if (!view.ok()) return view.status();
        v1::Profile* data = response.mutable_data();
        data->set_user_id(std::move(view->user_id));
        data->set_phone_country_code(std::move(view->phone_country_code));
        data->set_phone_number(std::move(view->phone_number));
        data->set_phone_e164(std::move(view->phone_e164));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ProfileServiceImpl::RevertPhoneChange(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::RevertPhoneChangeRequest, v1::CommonResponse>(
      "RevertPhoneChange", PhoneChange::Rpc::kRevert, context, raw_request,
      raw_response,
      [this](const Caller& caller, const v1::RevertPhoneChangeRequest& request,
             v1::CommonResponse&) {
        return core_->Revert(caller, request.revert_token());
      });
}

}  // namespace profile
