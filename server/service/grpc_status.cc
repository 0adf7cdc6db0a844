#include "server/service/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/api_error.h"

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
  // SQL states) in the server log, not on the wire: the caller gets the
  // catalogue's text.
  const bool keep_details =
      api_code != ApiCode::kInternal && api_code != ApiCode::kUnavailable &&
      !(api_code == ApiCode::kDeadlineExceeded &&
        status.code() == absl::StatusCode::kDeadlineExceeded);
  std::string message = keep_details
                            ? LocalizedMessage(status, language)
                            : std::string(ApiCodeMessage(api_code, language));
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::move(message));
}

}  // namespace profile
