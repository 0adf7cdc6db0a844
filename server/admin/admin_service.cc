#include "server/admin/admin_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/service/call_context.h"
#include "server/service/grpc_status.h"
#include "server/service/wire.h"
#include "server/tls/tls_credentials.h"

namespace profile {
namespace {

namespace adminv1 = ::profile::admin::v1;

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

template <typename Request, typename Response>
struct AdminCall {
  absl::string_view method;
  grpc::CallbackServerContext* context;
  grpc::ServerUnaryReactor* reactor;
  grpc::ByteBuffer* raw_response;
  AdminCaller caller;
  Request request;
  Response response;
};

template <typename Request, typename Response>
void Finish(AdminCall<Request, Response>& call, const absl::Status& status) {
  call.context->AddTrailingMetadata("x-request-id", call.caller.request_id);
  grpc::Status grpc_status;
  if (status.ok()) {
    call.response.set_status_code(200);
    call.response.set_message(
        std::string(SuccessMessage(Language::kEnglish)));
    call.response.set_request_id(call.caller.request_id);
    SerializeResponse(call.response, call.raw_response);
  } else {
    grpc_status = ToGrpcStatus(status, Language::kEnglish, call.context);
  }
  if (!status.ok() && (status.code() == absl::StatusCode::kInternal ||
                       status.code() == absl::StatusCode::kUnavailable)) {
    Log(LogLevel::kError, status.message(),
        {{"grpc.service", "profile.admin.v1.ProfileAdminService"},
         {"grpc.method", call.method},
         {"request_id", call.caller.request_id}});
  }
  call.reactor->Finish(grpc_status);
}

}  // namespace

absl::StatusOr<std::string> AdminServiceImpl::IdentifyAdmin(
    grpc::CallbackServerContext* context) const {
  const std::shared_ptr<const grpc::AuthContext> peer =
      context->auth_context();
  std::string name = ClientNameIn(peer.get(), policy_.allowed_names);
  if (!name.empty()) return name;
  if (policy_.jwt != nullptr) {
    absl::StatusOr<Identity> identity =
        policy_.jwt->Identify(context->client_metadata());
    if (identity.ok() && HasAdminScope(*identity)) {
      return absl::StrCat("jwt:", identity->user_id);
    }
  }
  return ApiError(ApiCode::kPermissionDenied,
                  "only admins may call ProfileAdminService: a client "
                  "certificate named in --admin_allowed_names, or a JWT with "
                  "the scope profile.admin");
}

template <typename Request, typename Response, typename Body>
grpc::ServerUnaryReactor* AdminServiceImpl::Handle(
    absl::string_view method, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
    Body body) {
  auto call = std::make_shared<AdminCall<Request, Response>>();
  call->method = method;
  call->context = context;
  call->reactor = context->DefaultReactor();
  call->raw_response = raw_response;
  call->caller.request_id = RequestIdFrom(context->client_metadata());
  grpc::ServerUnaryReactor* reactor = call->reactor;
  absl::StatusOr<std::string> admin = IdentifyAdmin(context);
  absl::Status status = admin.status();
  if (admin.ok()) {
    call->caller.admin = *std::move(admin);
    status = ParseRequest(*raw_request, &call->request);
  }
  if (!status.ok() || !admin_->MayBlock()) {
    if (status.ok()) status = body(call->caller, call->request, call->response);
    Finish(*call, status);
    return reactor;
  }
  if (!executor_->TrySchedule([call, body] {
        Finish(*call, body(call->caller, call->request, call->response));
      })) {
    Finish(*call, ApiError(ApiCode::kUnavailable,
                           "the server is overloaded; retry later"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetUser(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<adminv1::GetUserRequest, adminv1::GetUserResponse>(
      "GetUser", context, raw_request, raw_response,
      [this](const AdminCaller& caller, const adminv1::GetUserRequest& request,
             adminv1::GetUserResponse& response) {
        absl::StatusOr<AdminUserView> view =
            admin_->GetUser(caller, request.user_id());
        if (!view.ok()) return view.status();
        adminv1::User* user = response.mutable_data();
        user->set_user_id(view->profile.user_id);
        user->set_phone_country_code(view->profile.phone_country_code);
        user->set_phone_number(view->profile.phone_number);
        user->set_phone_e164(view->profile.phone_e164);
        const bool locked = view->locked_until != absl::InfinitePast();
        user->set_phone_changes_locked(locked);
        if (locked) {
          user->set_phone_changes_locked_until(Rfc3339(view->locked_until));
        }
        user->set_has_live_update_token(view->has_live_token);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetPhone(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<adminv1::SetPhoneRequest, adminv1::SetPhoneResponse>(
      "SetPhone", context, raw_request, raw_response,
      [this](const AdminCaller& caller,
             const adminv1::SetPhoneRequest& request,
             adminv1::SetPhoneResponse&) {
        return admin_->SetPhone(caller, request.user_id(),
                                request.phone_country_code(),
                                request.phone_number(), request.reason());
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ClearPhone(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<adminv1::ClearPhoneRequest, adminv1::ClearPhoneResponse>(
      "ClearPhone", context, raw_request, raw_response,
      [this](const AdminCaller& caller,
             const adminv1::ClearPhoneRequest& request,
             adminv1::ClearPhoneResponse&) {
        return admin_->ClearPhone(caller, request.user_id(), request.reason());
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::UnlockPhoneChanges(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<adminv1::UnlockPhoneChangesRequest,
                adminv1::UnlockPhoneChangesResponse>(
      "UnlockPhoneChanges", context, raw_request, raw_response,
      [this](const AdminCaller& caller,
             const adminv1::UnlockPhoneChangesRequest& request,
             adminv1::UnlockPhoneChangesResponse&) {
        return admin_->Unlock(caller, request.user_id(), request.reason());
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListPhoneChanges(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return Handle<adminv1::ListPhoneChangesRequest,
                adminv1::ListPhoneChangesResponse>(
      "ListPhoneChanges", context, raw_request, raw_response,
      [this](const AdminCaller& caller,
             const adminv1::ListPhoneChangesRequest& request,
             adminv1::ListPhoneChangesResponse& response) {
        absl::StatusOr<AdminChangesPage> page = admin_->ListChanges(
            caller, request.user_id(), request.page_size(),
            request.page_token());
        if (!page.ok()) return page.status();
        for (const ChangeEntry& entry : page->changes) {
          adminv1::PhoneChange* change = response.add_changes();
          change->set_changed_at(Rfc3339(entry.at));
          change->set_old_phone(MaskPhone(entry.old_phone));
          change->set_new_phone(MaskPhone(entry.new_phone));
          change->set_actor(entry.actor);
          change->set_action(entry.action);
          change->set_reason(entry.reason);
          change->set_request_id(entry.request_id);
        }
        response.set_next_page_token(page->next_page_token);
        return absl::OkStatus();
      });
}

}  // namespace profile
