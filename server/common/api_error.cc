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

// The catalogue: every api code with its canonical code and messages. The
// English message is the default text of ApiError(code); callers that know
// more (which flag, which field) pass their own English text, while callers
// reading Chinese always get the catalogue's.
struct ApiCodeInfo {
  ApiCode code;
  absl::StatusCode canonical;
  absl::string_view english;
  absl::string_view chinese;
};

constexpr ApiCodeInfo kCatalogue[] = {
    {ApiCode::kOk, absl::StatusCode::kOk, "success", "操作成功"},
    {ApiCode::kUnauthenticated, absl::StatusCode::kUnauthenticated,
     "the caller is not signed in", "未登录或身份无效"},
    {ApiCode::kInvalidArgument, absl::StatusCode::kInvalidArgument,
     "the request is invalid", "请求参数无效"},
    {ApiCode::kSignInAgain, absl::StatusCode::kUnauthenticated,
     "sign in again", "请重新登录"},
    {ApiCode::kPermissionDenied, absl::StatusCode::kPermissionDenied,
     "the caller is not allowed", "调用方无权访问"},
    {ApiCode::kIdempotencyKeyReused, absl::StatusCode::kInvalidArgument,
     "the x-idempotency-key was already used with a different request",
     "该幂等键已用于不同的请求"},
    {ApiCode::kWrongCode, absl::StatusCode::kInvalidArgument,
     "the verification code is wrong", "验证码错误"},
    {ApiCode::kPhoneTaken, absl::StatusCode::kAlreadyExists,
     "the new phone is bound to another account", "该手机号已被其他账号绑定"},
    {ApiCode::kNoCurrentPhone, absl::StatusCode::kFailedPrecondition,
     "the account has no phone", "当前账号未绑定手机号"},
    {ApiCode::kOldPhoneMismatch, absl::StatusCode::kFailedPrecondition,
     "the old phone is not the account's current phone",
     "旧手机号与账号绑定的手机号不一致"},
    {ApiCode::kTooFrequent, absl::StatusCode::kResourceExhausted,
     "too many requests; retry later", "请求过于频繁，请稍后再试"},
    {ApiCode::kSmsFailed, absl::StatusCode::kUnavailable,
     "the verification code could not be sent; retry later",
     "短信发送失败，请稍后再试"},
    {ApiCode::kRegionNotAllowed, absl::StatusCode::kInvalidArgument,
     "codes are not sent to numbers of this region",
     "不支持向该地区的号码发送验证码"},
    {ApiCode::kNotMobileNumber, absl::StatusCode::kInvalidArgument,
     "codes are sent only to mobile numbers", "仅支持向手机号码发送验证码"},
    {ApiCode::kSamePhone, absl::StatusCode::kFailedPrecondition,
     "the new phone is the account's current phone", "新手机号与当前手机号相同"},
    {ApiCode::kCodeExpired, absl::StatusCode::kInvalidArgument,
     "the verification code expired, was used, or was never sent; request a "
     "new one",
     "验证码已失效，请重新获取"},
    {ApiCode::kTokenNotFound, absl::StatusCode::kNotFound,
     "the update-phone token is unknown, expired or used",
     "修改手机号的凭证无效、已过期或已使用"},
    {ApiCode::kTokenOtherUser, absl::StatusCode::kPermissionDenied,
     "the update-phone token was issued to another user",
     "修改手机号的凭证不属于当前用户"},
    {ApiCode::kTooManyTokens, absl::StatusCode::kResourceExhausted,
     "too many phone changes are in progress; retry later",
     "服务繁忙，请稍后再试"},
    {ApiCode::kRevertTokenNotFound, absl::StatusCode::kNotFound,
     "the revert token is unknown, expired or used",
     "撤销凭证无效、已过期或已使用"},
    {ApiCode::kChangesLocked, absl::StatusCode::kFailedPrecondition,
     "phone changes of this account are locked after a revert; retry later",
     "该账号的手机号刚被撤销修改，暂时不能更改，请稍后再试"},
    {ApiCode::kInternal, absl::StatusCode::kInternal, "internal error",
     "服务内部错误"},
    {ApiCode::kCancelled, absl::StatusCode::kCancelled,
     "the call was cancelled", "请求已取消"},
    {ApiCode::kUnavailable, absl::StatusCode::kUnavailable,
     "a backend is unavailable; retry later", "服务暂不可用，请稍后再试"},
    {ApiCode::kDeadlineExceeded, absl::StatusCode::kDeadlineExceeded,
     "the call ran out of time", "请求超时"},
};

// Returns the catalogue entry of `api_code`, or that of kInternal for a
// number the catalogue does not know.
const ApiCodeInfo& InfoOf(ApiCode api_code) {
  for (const ApiCodeInfo& info : kCatalogue) {
    if (info.code == api_code) return info;
  }
  return InfoOf(ApiCode::kInternal);
}

}  // namespace

bool IsApiCode(int number) {
  for (const ApiCodeInfo& info : kCatalogue) {
    if (static_cast<int>(info.code) == number) return true;
  }
  return false;
}

absl::StatusCode CanonicalCodeOf(ApiCode api_code) {
  return InfoOf(api_code).canonical;
}

absl::string_view ApiCodeMessage(ApiCode api_code, Language language) {
  const ApiCodeInfo& info = InfoOf(api_code);
  return language == Language::kChinese ? info.chinese : info.english;
}

absl::Status ApiError(ApiCode api_code) {
  return ApiError(api_code, InfoOf(api_code).english);
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

std::string LocalizedMessage(const absl::Status& status, Language language) {
  if (language == Language::kEnglish) return std::string(status.message());
  const ApiCode code = ApiCodeOf(status);
  const std::string field = FieldOf(status);
  if (code == ApiCode::kInvalidArgument && !field.empty()) {
    return absl::StrCat(ApiCodeMessage(code, language), "：", field);
  }
  return std::string(ApiCodeMessage(code, language));
}

absl::string_view SuccessMessage(Language language) {
  return ApiCodeMessage(ApiCode::kOk, language);
}

}  // namespace profile
