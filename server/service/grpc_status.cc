#include "server/service/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/api_error.h"
#include "server/service/call_context.h"

namespace profile {

grpc::Status ToGrpcStatus(const absl::Status& status, Language language,
                          grpc::CallbackServerContext* context) {
  if (status.ok()) return grpc::Status::OK;
  const ApiCode api_code = ApiCodeOf(status);
  context->AddTrailingMetadata("x-api-code",
                               absl::StrCat(static_cast<int>(api_code)));
  const int retry_after = RetryAfterOf(status);
  if (retry_after >= 0) {
    context->AddTrailingMetadata("retry-after", absl::StrCat(retry_after));
  }
  // Internal errors and backend failures keep their details (addresses,
  // SQL states) in the server log, not on the wire.
  std::string message;
  if (api_code == ApiCode::kInternal) {
    message = language == Language::kChinese ? "服务内部错误" : "internal error";
  } else if (api_code == ApiCode::kUnavailable) {
    message = language == Language::kChinese
                  ? "服务暂不可用，请稍后再试"
                  : "a backend is unavailable; retry later";
  } else if (api_code == ApiCode::kDeadlineExceeded &&
             status.code() == absl::StatusCode::kDeadlineExceeded) {
    message = language == Language::kChinese ? "请求超时"
                                             : "the call ran out of time";
  } else {
    message = LocalizedMessage(status, language);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::move(message));
}

}  // namespace profile
