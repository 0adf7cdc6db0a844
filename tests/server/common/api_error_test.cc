#include "server/common/api_error.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ApiCodeTest, NumbersArePinned) {
  // Clients outside this repository depend on these exact numbers.
  EXPECT_EQ(static_cast<int>(ApiCode::kOk), 0);
  EXPECT_EQ(static_cast<int>(ApiCode::kUnauthenticated), 1000);
  EXPECT_EQ(static_cast<int>(ApiCode::kInvalidArgument), 1001);
  EXPECT_EQ(static_cast<int>(ApiCode::kSignInAgain), 1002);
  EXPECT_EQ(static_cast<int>(ApiCode::kPermissionDenied), 1003);
  EXPECT_EQ(static_cast<int>(ApiCode::kIdempotencyKeyReused), 1004);
  EXPECT_EQ(static_cast<int>(ApiCode::kWrongCode), 2001);
  EXPECT_EQ(static_cast<int>(ApiCode::kPhoneTaken), 2035);
  EXPECT_EQ(static_cast<int>(ApiCode::kNoCurrentPhone), 2037);
  EXPECT_EQ(static_cast<int>(ApiCode::kOldPhoneMismatch), 2038);
  EXPECT_EQ(static_cast<int>(ApiCode::kTooFrequent), 2100);
  EXPECT_EQ(static_cast<int>(ApiCode::kSmsFailed), 2110);
  EXPECT_EQ(static_cast<int>(ApiCode::kRegionNotAllowed), 2120);
  EXPECT_EQ(static_cast<int>(ApiCode::kNotMobileNumber), 2121);
  EXPECT_EQ(static_cast<int>(ApiCode::kSamePhone), 2230);
  EXPECT_EQ(static_cast<int>(ApiCode::kCodeExpired), 2300);
  EXPECT_EQ(static_cast<int>(ApiCode::kTokenNotFound), 2310);
  EXPECT_EQ(static_cast<int>(ApiCode::kTokenOtherUser), 2311);
  EXPECT_EQ(static_cast<int>(ApiCode::kTooManyTokens), 2312);
  EXPECT_EQ(static_cast<int>(ApiCode::kRevertTokenNotFound), 2320);
  EXPECT_EQ(static_cast<int>(ApiCode::kChangesLocked), 2330);
  EXPECT_EQ(static_cast<int>(ApiCode::kInternal), 5000);
  EXPECT_EQ(static_cast<int>(ApiCode::kCancelled), 5001);
  EXPECT_EQ(static_cast<int>(ApiCode::kUnavailable), 5003);
  EXPECT_EQ(static_cast<int>(ApiCode::kDeadlineExceeded), 5004);
}

TEST(CanonicalCodeOfTest, MapsEveryApiCode) {
  const std::vector<std::pair<ApiCode, absl::StatusCode>> table = {
      {ApiCode::kOk, absl::StatusCode::kOk},
      {ApiCode::kUnauthenticated, absl::StatusCode::kUnauthenticated},
      {ApiCode::kInvalidArgument, absl::StatusCode::kInvalidArgument},
      {ApiCode::kSignInAgain, absl::StatusCode::kUnauthenticated},
      {ApiCode::kPermissionDenied, absl::StatusCode::kPermissionDenied},
      {ApiCode::kIdempotencyKeyReused, absl::StatusCode::kInvalidArgument},
      {ApiCode::kWrongCode, absl::StatusCode::kInvalidArgument},
      {ApiCode::kPhoneTaken, absl::StatusCode::kAlreadyExists},
      {ApiCode::kNoCurrentPhone, absl::StatusCode::kFailedPrecondition},
      {ApiCode::kOldPhoneMismatch, absl::StatusCode::kFailedPrecondition},
      {ApiCode::kTooFrequent, absl::StatusCode::kResourceExhausted},
      {ApiCode::kSmsFailed, absl::StatusCode::kUnavailable},
      {ApiCode::kRegionNotAllowed, absl::StatusCode::kInvalidArgument},
      {ApiCode::kNotMobileNumber, absl::StatusCode::kInvalidArgument},
      {ApiCode::kSamePhone, absl::StatusCode::kFailedPrecondition},
      {ApiCode::kCodeExpired, absl::StatusCode::kInvalidArgument},
      {ApiCode::kTokenNotFound, absl::StatusCode::kNotFound},
      {ApiCode::kTokenOtherUser, absl::StatusCode::kPermissionDenied},
      {ApiCode::kTooManyTokens, absl::StatusCode::kResourceExhausted},
      {ApiCode::kRevertTokenNotFound, absl::StatusCode::kNotFound},
      {ApiCode::kChangesLocked, absl::StatusCode::kFailedPrecondition},
      {ApiCode::kInternal, absl::StatusCode::kInternal},
      {ApiCode::kCancelled, absl::StatusCode::kCancelled},
      {ApiCode::kUnavailable, absl::StatusCode::kUnavailable},
      {ApiCode::kDeadlineExceeded, absl::StatusCode::kDeadlineExceeded},
  };
  for (const auto& [api_code, canonical] : table) {
    EXPECT_EQ(CanonicalCodeOf(api_code), canonical)
        << "api code " << static_cast<int>(api_code);
  }
}

TEST(IsApiCodeTest, KnowsTheCatalogueOnly) {
  for (int number : {0, 1000, 1001, 2001, 2110, 2312, 5000, 5003, 5004}) {
    EXPECT_TRUE(IsApiCode(number)) << number;
  }
  for (int number : {-1, 1, 999, 2000, 5002, 9999}) {
    EXPECT_FALSE(IsApiCode(number)) << number;
  }
}

TEST(ApiErrorTest, CarriesCanonicalCodeApiCodeAndMessage) {
  for (ApiCode api_code :
       {ApiCode::kUnauthenticated, ApiCode::kInvalidArgument,
        ApiCode::kIdempotencyKeyReused, ApiCode::kWrongCode, ApiCode::kPhoneTaken, ApiCode::kNoCurrentPhone,
        ApiCode::kOldPhoneMismatch, ApiCode::kTooFrequent,
        ApiCode::kSmsFailed, ApiCode::kRegionNotAllowed,
        ApiCode::kNotMobileNumber, ApiCode::kSamePhone, ApiCode::kCodeExpired,
        ApiCode::kTokenNotFound, ApiCode::kTokenOtherUser,
        ApiCode::kTooManyTokens, ApiCode::kRevertTokenNotFound,
        ApiCode::kChangesLocked, ApiCode::kInternal, ApiCode::kCancelled,
        ApiCode::kUnavailable, ApiCode::kDeadlineExceeded}) {
    absl::Status status = ApiError(api_code, "something went wrong");
    EXPECT_THAT(status, StatusIs(CanonicalCodeOf(api_code), api_code));
    EXPECT_EQ(status.message(), "something went wrong");
    EXPECT_EQ(FieldOf(status), "");
    EXPECT_EQ(RetryAfterOf(status), -1);
  }
}

TEST(ApiErrorTest, SignInAgainSaysSoInBothLanguages) {
  const absl::Status status = ApiError(ApiCode::kSignInAgain);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kSignInAgain));
  EXPECT_EQ(status.message(), "sign in again");
  EXPECT_EQ(LocalizedMessage(status, Language::kChinese), "请重新登录");
  EXPECT_THAT(ApiError(ApiCode::kPermissionDenied),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       ApiCode::kPermissionDenied));
}

TEST(ApiErrorTest, InvalidArgumentNamesTheField) {
  absl::Status status =
      ApiError(ApiCode::kInvalidArgument, "new_phone_number: is required",
               "new_phone_number");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               ApiCode::kInvalidArgument));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("new_phone_number")));
  EXPECT_EQ(FieldOf(status), "new_phone_number");
}

TEST(ApiErrorTest, ApiCodeSurvivesCopies) {
  absl::Status original = ApiError(ApiCode::kTokenOtherUser, "not yours");
  absl::Status copy = original;
  EXPECT_THAT(copy, StatusIs(absl::StatusCode::kPermissionDenied,
                             ApiCode::kTokenOtherUser));
  absl::StatusOr<int> status_or = original;
  EXPECT_THAT(status_or, StatusIs(absl::StatusCode::kPermissionDenied,
                                  ApiCode::kTokenOtherUser));
}

TEST(TooFrequentErrorTest, CarriesRetryAfter) {
  absl::Status status = TooFrequentError("slow down", 42);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                               ApiCode::kTooFrequent));
  EXPECT_EQ(status.message(), "slow down");
  EXPECT_EQ(RetryAfterOf(status), 42);
  EXPECT_EQ(FieldOf(status), "");
}

TEST(TooFrequentErrorTest, ZeroRetryAfterIsKept) {
  EXPECT_EQ(RetryAfterOf(TooFrequentError("now", 0)), 0);
}

TEST(ApiCodeOfTest, OkIsOk) {
  EXPECT_EQ(ApiCodeOf(absl::OkStatus()), ApiCode::kOk);
  EXPECT_THAT(absl::OkStatus(), IsOk());
}

TEST(ApiCodeOfTest, PlainStatusesMapByCanonicalCode) {
  EXPECT_EQ(ApiCodeOf(absl::UnauthenticatedError("x")),
            ApiCode::kUnauthenticated);
  EXPECT_EQ(ApiCodeOf(absl::InvalidArgumentError("x")),
            ApiCode::kInvalidArgument);
  EXPECT_EQ(ApiCodeOf(absl::OutOfRangeError("x")), ApiCode::kInvalidArgument);
  EXPECT_EQ(ApiCodeOf(absl::UnavailableError("x")), ApiCode::kUnavailable);
  EXPECT_EQ(ApiCodeOf(absl::DeadlineExceededError("x")),
            ApiCode::kDeadlineExceeded);
  EXPECT_EQ(ApiCodeOf(absl::CancelledError("x")), ApiCode::kCancelled);
  EXPECT_EQ(ApiCodeOf(absl::InternalError("x")), ApiCode::kInternal);
  EXPECT_EQ(ApiCodeOf(absl::UnknownError("x")), ApiCode::kInternal);
  EXPECT_EQ(ApiCodeOf(absl::NotFoundError("x")), ApiCode::kInternal);
  EXPECT_EQ(ApiCodeOf(absl::PermissionDeniedError("x")), ApiCode::kInternal);
}

TEST(ApiCodeOfTest, PlainStatusesCarryNoFieldOrRetryAfter) {
  absl::Status status = absl::InvalidArgumentError("x");
  EXPECT_EQ(FieldOf(status), "");
  EXPECT_EQ(RetryAfterOf(status), -1);
  EXPECT_EQ(FieldOf(absl::OkStatus()), "");
  EXPECT_EQ(RetryAfterOf(absl::OkStatus()), -1);
}

TEST(ApiCodeOfTest, GarbledPayloadFallsBackToCanonicalCode) {
  absl::Status status = absl::InvalidArgumentError("x");
  status.SetPayload("type.profile.v1/api-code", absl::Cord("not a number"));
  EXPECT_EQ(ApiCodeOf(status), ApiCode::kInvalidArgument);
  status.SetPayload("type.profile.v1/retry-after", absl::Cord("soon"));
  EXPECT_EQ(RetryAfterOf(status), -1);
}

}  // namespace
}  // namespace profile
