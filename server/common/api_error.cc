#include "server/common/api_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace profile {
namespace {

constexpr absl::string_view kApiCodeUrl = "type.profile.v1/api-code";
constexpr absl::string_view kFieldUrl = "type.profile.v1/field";
constexpr absl::string_view kRetryAfterUrl = "type.profile.v1/retry-after";

int IntPayload(const absl::Status& status, absl::string_view url) {
  auto payload = status.GetPayload(url);
  int value = -1;
  if (!payload.has_value() ||
      !absl::SimpleAtoi(std::string(*payload), &value)) {
    return -1;
  }
  return value;
}

}  // namespace

absl::StatusCode CanonicalCodeOf(ApiCode api_code) {
  switch (api_code) {
    case ApiCode::kOk:
      return absl::StatusCode::kOk;
    case ApiCode::kUnauthenticated:
      return absl::StatusCode::kUnauthenticated;
    case ApiCode::kInvalidArgument:
    case ApiCode::kWrongCode:
    case ApiCode::kCodeExpired:
      return absl::StatusCode::kInvalidArgument;
    case ApiCode::kPhoneTaken:
      return absl::StatusCode::kAlreadyExists;
    case ApiCode::kNoCurrentPhone:
    case ApiCode::kOldPhoneMismatch:
    case ApiCode::kSamePhone:
      return absl::StatusCode::kFailedPrecondition;
    case ApiCode::kTooFrequent:
    case ApiCode::kTooManyTokens:
      return absl::StatusCode::kResourceExhausted;
    case ApiCode::kSmsFailed:
    case ApiCode::kUnavailable:
      return absl::StatusCode::kUnavailable;
    case ApiCode::kTokenNotFound:
      return absl::StatusCode::kNotFound;
    case ApiCode::kTokenOtherUser:
      return absl::StatusCode::kPermissionDenied;
    case ApiCode::kDeadlineExceeded:
      return absl::StatusCode::kDeadlineExceeded;
    case ApiCode::kInternal:
      return absl::StatusCode::kInternal;
    case ApiCode::kCancelled:
      return absl::StatusCode::kCancelled;
  }
  return absl::StatusCode::kInternal;
}

absl::Status ApiError(ApiCode api_code, absl::string_view message,
                      absl::string_view field) {
  absl::Status status(CanonicalCodeOf(api_code), message);
  status.SetPayload(kApiCodeUrl,
                    absl::Cord(absl::StrCat(static_cast<int>(api_code))));
  if (!field.empty()) status.SetPayload(kFieldUrl, absl::Cord(field));
  return status;
}

absl::Status TooFrequentError(absl::string_view message,
                              int retry_after_seconds) {
  absl::Status status = ApiError(ApiCode::kTooFrequent, message);
  status.SetPayload(kRetryAfterUrl,
                    absl::Cord(absl::StrCat(retry_after_seconds)));
  return status;
}

absl::Status InvalidFieldError(absl::string_view field,
                               absl::string_view why) {
  return ApiError(ApiCode::kInvalidArgument, absl::StrCat(field, ": ", why),
                  field);
}

ApiCode ApiCodeOf(const absl::Status& status) {
  int code = IntPayload(status, kApiCodeUrl);
  if (code >= 0) return static_cast<ApiCode>(code);
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return ApiCode::kOk;
    case absl::StatusCode::kUnauthenticated:
      return ApiCode::kUnauthenticated;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return ApiCode::kInvalidArgument;
    case absl::StatusCode::kUnavailable:
      return ApiCode::kUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return ApiCode::kDeadlineExceeded;
    case absl::StatusCode::kCancelled:
      return ApiCode::kCancelled;
    default:
      return ApiCode::kInternal;
  }
}

std::string FieldOf(const absl::Status& status) {
  auto payload = status.GetPayload(kFieldUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

int RetryAfterOf(const absl::Status& status) {
  return IntPayload(status, kRetryAfterUrl);
}

}  // namespace profile
