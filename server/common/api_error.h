// Api errors: an absl::Status that also carries the API's fine-grained code.
//
// The core answers with canonical absl codes; the API's clients also need
// the identity platform's `apiCode` (2001 wrong code, 2035 phone taken...).
// ApiError() builds a Status carrying both, and the RPC layer turns it into a
// gRPC status plus trailing metadata `x-api-code`.
//
// This file is also the one catalogue of the api codes: each code's
// canonical code and its English and Chinese messages live in one table in
// api_error.cc, which the core, the stores and the service all use.
//
//   return ApiError(ApiCode::kWrongCode);  // "the verification code is wrong"
//   ...
//   ApiCode code = ApiCodeOf(status);  // kWrongCode
//   std::string text = LocalizedMessage(status, Language::kChinese);
//
// The numbers are pinned: clients outside this repository depend on them.
#ifndef PROFILE_SERVER_COMMON_API_ERROR_H_
#define PROFILE_SERVER_COMMON_API_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/common/language.h"

namespace profile {

enum class ApiCode : int {
  kOk = 0,
  // UNAUTHENTICATED: no usable caller identity in the metadata.
  kUnauthenticated = 1000,
  // INVALID_ARGUMENT: a malformed field (the message names it).
  kInvalidArgument = 1001,
  // UNAUTHENTICATED: the caller's sign-in is older than --max_auth_age (or
  // its time is unknown) for a call that changes the account.
  kSignInAgain = 1002,
  // PERMISSION_DENIED: the caller's client certificate names none of
  // --tls_client_allowed_names.
  kPermissionDenied = 1003,
  // INVALID_ARGUMENT: an x-idempotency-key reused with a different request.
  kIdempotencyKeyReused = 1004,
  // INVALID_ARGUMENT: the verification code is wrong.
  kWrongCode = 2001,
  // ALREADY_EXISTS: the new phone is bound to another account.
  kPhoneTaken = 2035,
  // FAILED_PRECONDITION: the account has no phone to verify.
  kNoCurrentPhone = 2037,
  // FAILED_PRECONDITION: the old phone does not match the account's phone.
  kOldPhoneMismatch = 2038,
  // RESOURCE_EXHAUSTED: codes requested too frequently.
  kTooFrequent = 2100,
  // UNAVAILABLE: the SMS could not be delivered.
  kSmsFailed = 2110,
  // INVALID_ARGUMENT: codes are not sent to numbers of this region
  // (--sms_allowed_regions).
  kRegionNotAllowed = 2120,
  // INVALID_ARGUMENT: codes are sent only to numbers that can be mobiles.
  kNotMobileNumber = 2121,
  // FAILED_PRECONDITION: the new phone equals the current phone.
  kSamePhone = 2230,
  // INVALID_ARGUMENT: the code expired, was used, burned or never sent.
  kCodeExpired = 2300,
  // NOT_FOUND: the update-phone token is unknown, expired or used.
  kTokenNotFound = 2310,
  // PERMISSION_DENIED: the update-phone token belongs to another user.
  kTokenOtherUser = 2311,
  // RESOURCE_EXHAUSTED: the server holds as many live tokens as allowed.
  kTooManyTokens = 2312,
  // NOT_FOUND: the revert token is unknown, expired or used.
  kRevertTokenNotFound = 2320,
  // FAILED_PRECONDITION: phone changes of the account are locked after a
  // revert (--change_lock_after_revert).
  kChangesLocked = 2330,
  // INTERNAL: a bug; details in the server log.
  kInternal = 5000,
  // CANCELLED: the caller cancelled the call before it was served.
  kCancelled = 5001,
  // UNAVAILABLE: a backend cannot be reached; retry later.
  kUnavailable = 5003,
  // DEADLINE_EXCEEDED: the call ran out of time.
  kDeadlineExceeded = 5004,
};

// Returns a non-OK status with the canonical code that belongs to `api_code`
// and the catalogue's English message for it.
// REQUIRES: api_code != ApiCode::kOk.
absl::Status ApiError(ApiCode api_code);

// Returns a non-OK status with the canonical code that belongs to `api_code`
// and `message`, for an error that says more than the catalogue's text. For kInvalidArgument, `field` names the offending request
// field. For kTooFrequent, `retry_after_seconds` says when to come back.
// REQUIRES: api_code != ApiCode::kOk.
absl::Status ApiError(ApiCode api_code, absl::string_view message,
                      absl::string_view field = "");
absl::Status TooFrequentError(absl::string_view message,
                              int retry_after_seconds);

// Returns INVALID_ARGUMENT, api code 1001, with the message
// "<field>: <why>" and FieldOf() == `field`.
absl::Status InvalidFieldError(absl::string_view field, absl::string_view why);

// Returns the api code a status carries; for a status without one, the code
// that fits its canonical code (kOk for OK, kInternal for unknown errors).
ApiCode ApiCodeOf(const absl::Status& status);

// Returns whether `number` is one of the catalogue's api codes (0, kOk,
// included), e.g. to keep a metric's label set bounded.
bool IsApiCode(int number);

// Returns the request field a kInvalidArgument status names, or "".
std::string FieldOf(const absl::Status& status);

// Returns the retry-after seconds a kTooFrequent status carries, or -1.
int RetryAfterOf(const absl::Status& status);

// Returns the canonical code that belongs to `api_code`.
absl::StatusCode CanonicalCodeOf(ApiCode api_code);

// Returns the catalogue's message for `api_code` in `language`.
absl::string_view ApiCodeMessage(ApiCode api_code, Language language);

// Returns the message a caller reading `language` gets for `status`: in
// English the status's own message, in Chinese the catalogue's message for
// its api code (with the field name for kInvalidArgument).
std::string LocalizedMessage(const absl::Status& status, Language language);

// Returns the success message: "success" or 操作成功.
absl::string_view SuccessMessage(Language language);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_API_ERROR_H_
