// The texts of the messages this service sends, in the caller's language.
//
// The defaults name the app (--app_name), the action (linking this number,
// or confirming the account's current one) and the validity, and say not to
// share the code. --sms_origin=DOMAIN appends the origin-bound line of the
// WebOTP format ("@DOMAIN #CODE"), so that browsers and phones fill the code
// in for that site only. --sms_templates_file overrides any text, per
// language and purpose, with {app}, {code} and {minutes} placeholders:
//
//   {"en":    {"new_phone": "{app}: your code is {code}",
//              "old_phone": "{app}: confirm with {code}"},
//    "zh-CN": {"new_phone": "【{app}】验证码 {code}，{minutes} 分钟内有效"}}
//
//   absl::StatusOr<std::shared_ptr<const SmsTexts>> texts =
//       SmsTexts::New({.app_name = "Acme", .origin = "acme.example"});
//   std::string text = (*texts)->CodeText(Language::kEnglish,
//       CodePurpose::kNewPhone, "123456", absl::Minutes(5));
//   // Acme: 123456 is your code to link this number to your account. It
//   // expires in 5 min. Do not share it.
//   //
//   // @acme.example #123456
//
// Thread-safety: immutable once built.
#ifndef PROFILE_SERVER_SMS_SMS_TEXT_H_
#define PROFILE_SERVER_SMS_SMS_TEXT_H_

#include <array>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/common/language.h"

namespace profile {

struct SmsTextOptions {
  // --app_name: named in every text.
  std::string app_name = "Profile";
  // --sms_origin: a host name; empty for no WebOTP line.
  std::string origin;
  // --sms_templates_file: a JSON file of templates; empty for the defaults.
  std::string templates_file;
  // --revert_url_template: the link that undoes a phone change, with
  // {token} where the revert token goes ("https://account.example.com/
  // undo-phone?token={token}"); empty: notices show the token itself.
  std::string revert_url_template;
};

class SmsTexts {
 public:
  // Returns the texts. INVALID_ARGUMENT naming the flag at fault: an empty
  // or over-long app name, an origin that is not a host name, a templates
  // file that is not JSON of the shape above, names another language or
  // purpose, or holds a template without {code}.
  static absl::StatusOr<std::shared_ptr<const SmsTexts>> New(
      const SmsTextOptions& options);

  // Returns the default texts for app "Profile".
  static std::shared_ptr<const SmsTexts> Default();

  // Returns the text of `code` for `purpose`, valid for `ttl` (rounded up
  // to whole minutes, at least one).
  std::string CodeText(Language language, CodePurpose purpose,
                       absl::string_view code, absl::Duration ttl) const;

  // Returns the notice, without a code, to a number someone tried to link
  // to an account while another account holds it.
  std::string PhoneInUseText(Language language) const;

  // Returns the notice to the phone a change replaced: the app, the masked
  // new number, and how to undo it within `window` (the revert link, or the
  // token itself without --revert_url_template).
  std::string PhoneChangedText(Language language,
                               absl::string_view masked_new_phone,
                               absl::string_view revert_token,
                               absl::Duration window) const;

  // Returns the notice to the number a revert unlinked from the account.
  std::string PhoneUnlinkedText(Language language) const;

 private:
  SmsTexts() = default;

  // Indexed by [language][purpose - 1].
  std::array<std::array<std::string, 2>, 2> templates_;
  std::string app_name_;
  std::string origin_;
  std::string revert_url_template_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_TEXT_H_
