#include "server/service/profile_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/service/call_context.h"
#include "server/service/grpc_status.h"
#include "server/service/wire.h"

namespace profile {
namespace {

constexpr absl::string_view kServiceName = "profile.v1.ProfileService";

int32_t Seconds(absl::Duration d) {
  return static_cast<int32_t>(absl::ToInt64Seconds(d));
}

absl::Status Interrupted(grpc::CallbackServerContext* context) {
  if (context->IsCancelled()) {
    return ApiError(ApiCode::kCancelled, "the call was cancelled");
  }
  if (context->deadline() <= std::chrono::system_clock::now()) {
    return ApiError(ApiCode::kDeadlineExceeded, "the deadline has passed");
  }
  return absl::OkStatus();
}

}  // namespace

template <typename Request, typename Response>
grpc::ServerUnaryReactor* ProfileServiceImpl::Handle(
    absl::string_view method, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
    absl::FunctionRef<absl::Status(const Caller&, const Request&, Response&)>
        body) {
  const absl::Time start = absl::Now();
  const CallMetadata& metadata = context->client_metadata();
  Caller caller;
  caller.request_id = RequestIdFrom(metadata);
  caller.language = LanguageFrom(metadata);

  // Work for a caller who is gone is wasted, and a write it makes would be
  // acknowledged to nobody.
  Request request;
  Response response;
  absl::Status status = Interrupted(context);
  if (status.ok()) {
    absl::StatusOr<std::string> user_id =
        authenticator_->Authenticate(metadata);
    if (user_id.ok()) {
      caller.user_id = *std::move(user_id);
      status = ParseRequest(*raw_request, &request);
      if (status.ok()) status = body(caller, request, response);
    } else {
      status = user_id.status();
    }
  }

  context->AddTrailingMetadata("x-request-id", caller.request_id);
  grpc::Status grpc_status;
  if (status.ok()) {
    response.set_status_code(200);
    response.set_message(std::string(SuccessMessage(caller.language)));
    response.set_request_id(caller.request_id);
    SerializeResponse(response, raw_response);
  } else {
    grpc_status = ToGrpcStatus(status, caller.language, context);
  }

  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kUnknown ||
                            status.code() == absl::StatusCode::kUnavailable;
  const LogLevel level = server_fault ? LogLevel::kError : LogLevel::kDebug;
  if (LogEnabled(level)) {
    Log(level, server_fault ? std::string(status.message()) : "rpc",
        {{"grpc.service", kServiceName},
         {"grpc.method", method},
         {"grpc.code", absl::StatusCodeToString(status.code())},
         {"grpc.time_ms",
          absl::StrCat(absl::ToDoubleMilliseconds(absl::Now() - start))},
         {"request_id", caller.request_id},
         {"api_code", absl::StrCat(static_cast<int>(ApiCodeOf(status)))}});
  }

  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc_status);
  return reactor;
}

grpc::ServerUnaryReactor* ProfileServiceImpl::SendPhoneCode(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::SendPhoneCodeRequest, v1::SendPhoneCodeResponse>(
      "SendPhoneCode", context, raw_request, raw_response,
      [&](const Caller& caller, const v1::SendPhoneCodeRequest& request,
          v1::SendPhoneCodeResponse& response) {
        absl::StatusOr<SendCodeResult> result = core_->SendCode(
            caller, {request.phone_country_code(), request.phone_number(),
                     static_cast<int>(request.purpose())});
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
      "UpdatePhoneVerification", context, raw_request, raw_response,
      [&](const Caller& caller,
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
      "UpdatePhone", context, raw_request, raw_response,
      [&](const Caller& caller, const v1::UpdatePhoneRequest& request,
          v1::CommonResponse&) {
        return core_->Update(caller, request.update_phone_token());
      });
}

grpc::ServerUnaryReactor* ProfileServiceImpl::GetProfile(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<v1::GetProfileRequest, v1::GetProfileResponse>(
      "GetProfile", context, raw_request, raw_response,
      [&](const Caller& caller, const v1::GetProfileRequest&,
          v1::GetProfileResponse& response) {
        absl::StatusOr<ProfileView> view = core_->GetProfile(caller);
        if (!view.ok()) return view.status();
        v1::Profile* data = response.mutable_data();
        data->set_user_id(view->user_id);
        data->set_phone_country_code(view->phone_country_code);
        data->set_phone_number(view->phone_number);
        data->set_phone_e164(view->phone_e164);
        return absl::OkStatus();
      });
}

}  // namespace profile
