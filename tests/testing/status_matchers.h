// GoogleTest matchers for absl::Status and absl::StatusOr.
//
//   EXPECT_THAT(store->Take(hash, "u1"), IsOk());
//   EXPECT_THAT(core.Verify(caller, input),
//               StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode));
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
//                                HasSubstr("new_phone_number")));
#ifndef PROFILE_TESTS_TESTING_STATUS_MATCHERS_H_
#define PROFILE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "server/common/api_error.h"

namespace profile::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

// Matches a status with canonical code `code` and api code `api_code`.
MATCHER_P2(StatusIs, code, api_code,
           std::string("has code ") + absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status << ", api code "
                   << static_cast<int>(ApiCodeOf(status));
  if constexpr (std::is_same_v<std::decay_t<decltype(api_code)>, ApiCode>) {
    return status.code() == code && ApiCodeOf(status) == api_code;
  } else {
    return status.code() == code &&
           ::testing::ExplainMatchResult(
               api_code, std::string(status.message()), result_listener);
  }
}

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_STATUS_MATCHERS_H_
