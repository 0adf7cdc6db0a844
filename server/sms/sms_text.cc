#include "server/sms/sms_text.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace profile {

std::string CodeText(Language language, absl::string_view code,
                     absl::Duration ttl) {
  const int64_t minutes = std::max<int64_t>(
      1, absl::ToInt64Minutes(absl::Ceil(ttl, absl::Minutes(1))));
  if (language == Language::kChinese) {
    return absl::StrCat("您的验证码是 ", code, "，", minutes,
                        " 分钟内有效。请勿告诉他人。");
  }
  return absl::StrCat("Your verification code is ", code, ". It expires in ",
                      minutes, " minute", minutes == 1 ? "" : "s",
                      ". Do not share it.");
}

}  // namespace profile
