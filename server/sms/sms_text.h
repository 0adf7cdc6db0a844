// The texts of the messages this service sends, in the caller's language.
//
//   std::string text = CodeText(Language::kChinese, "123456",
//                               absl::Minutes(5));
//   // 您的验证码是 123456，5 分钟内有效。请勿告诉他人。
//
// Thread-safety: pure functions.
#ifndef PROFILE_SERVER_SMS_SMS_TEXT_H_
#define PROFILE_SERVER_SMS_SMS_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/language.h"

namespace profile {

// Returns the text of a verification code valid for `ttl`, rounded up to
// whole minutes (at least one).
std::string CodeText(Language language, absl::string_view code,
                     absl::Duration ttl);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_TEXT_H_
