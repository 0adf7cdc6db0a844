#include "client/bench/test_numbers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace profile::bench {

std::string FlowNumber(int j) { return absl::StrFormat("139%08d", j); }

std::string UserId(absl::string_view kind, int64_t i) {
  return absl::StrFormat("%s%018d", kind, i);
}

void SetVerification(absl::string_view number, absl::string_view pass_code,
                     v1::UpdatePhoneVerificationRequest* request) {
  request->set_new_phone_country_code(kCountryCode);
  request->set_new_phone_number(number.data(), number.size());
  request->set_new_phone_pass_code(pass_code.data(), pass_code.size());
}

void SetOldPhone(absl::string_view number, absl::string_view pass_code,
                 v1::UpdatePhoneVerificationRequest* request) {
  request->set_old_phone_country_code(kCountryCode);
  request->set_old_phone_number(number.data(), number.size());
  request->set_old_phone_pass_code(pass_code.data(), pass_code.size());
}

std::string TestPhoneCodes(int flow_users, const std::string& code) {
  std::vector<std::string> pairs;
  pairs.push_back(absl::StrCat(kCountryCode, kVerifyNumber, ":", code));
  for (int j = 0; j < 2 * flow_users; ++j) {
    pairs.push_back(absl::StrCat(kCountryCode, FlowNumber(j), ":", code));
  }
  return absl::StrJoin(pairs, ",");
}

}  // namespace profile::bench
