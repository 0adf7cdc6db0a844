#include "server/phone/phone_number.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "phonenumbers/phonenumber.pb.h"
#include "phonenumbers/phonenumberutil.h"
#include "server/common/api_error.h"

namespace profile {
namespace {

using ::i18n::phonenumbers::PhoneNumberUtil;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return ApiError(ApiCode::kInvalidArgument, absl::StrCat(field, ": ", why),
                  field);
}

// Only what people type into a phone field: ASCII digits and the usual
// separators. Letters (vanity numbers), full-width digits and control
// characters are refused before libphonenumber normalizes them away.
bool HasOnlyPhoneCharacters(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != ' ' &&
        c != '-' && c != '(' && c != ')' && c != '.' && c != '+') {
      return false;
    }
  }
  return true;
}

// Parses "+86", "86" or "0086" into 86.
absl::StatusOr<int> ParseCallingCode(absl::string_view text,
                                     absl::string_view field) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return Invalid(field, "is required");
  if (absl::ConsumePrefix(&text, "+")) {
  } else {
    absl::ConsumePrefix(&text, "00");
  }
  int code = 0;
  std::string region;
  if (text.empty() || text.size() > 3 || text.front() == '0' ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(text, &code)) {
    return Invalid(field, "is not a known calling code like \"+86\"");
  }
  PhoneNumberUtil::GetInstance()->GetRegionCodeForCountryCode(code, &region);
  if (region == "ZZ") {
    return Invalid(field, "is not a known calling code like \"+86\"");
  }
  return code;
}

PhoneNumber ToPhoneNumber(const ::i18n::phonenumbers::PhoneNumber& parsed) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber phone;
  util.Format(parsed, PhoneNumberUtil::E164, &phone.e164);
  phone.country_code = absl::StrCat("+", parsed.country_code());
  util.GetNationalSignificantNumber(parsed, &phone.national_number);
  return phone;
}

}  // namespace

absl::StatusOr<PhoneNumber> ParsePhoneNumber(absl::string_view country_code,
                                             absl::string_view number,
                                             absl::string_view field) {
  const std::string cc_field =
      absl::StrReplaceAll(field, {{"number", "country_code"}});
  if (country_code.size() > kMaxPhoneFieldBytes) {
    return Invalid(cc_field, "is too long");
  }
  if (!HasOnlyPhoneCharacters(country_code)) {
    return Invalid(cc_field, "may hold only \"+\" and digits");
  }
  absl::StatusOr<int> calling_code = ParseCallingCode(country_code, cc_field);
  if (!calling_code.ok()) return calling_code.status();

  if (number.size() > kMaxPhoneFieldBytes) return Invalid(field, "is too long");
  if (!HasOnlyPhoneCharacters(number)) {
    return Invalid(field,
                   "may hold only digits, spaces, dashes, dots and "
                   "parentheses");
  }
  if (absl::StripAsciiWhitespace(number).empty()) {
    return Invalid(field, "is required");
  }

  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::string region;
  util.GetRegionCodeForCountryCode(*calling_code, &region);
  ::i18n::phonenumbers::PhoneNumber parsed;
  // Non-geographic calling codes (+800, +882...) have no region ("001") to
  // parse a national number against: parse the international form instead.
  const std::string text =
      region == "001" ? absl::StrCat("+", *calling_code, number)
                      : std::string(number);
  if (util.Parse(text, region == "001" ? "ZZ" : region, &parsed) !=
      PhoneNumberUtil::NO_PARSING_ERROR) {
    return Invalid(field, "is not a phone number");
  }
  if (static_cast<int>(parsed.country_code()) != *calling_code) {
    return Invalid(field, absl::StrCat("does not belong to calling code +",
                                       *calling_code));
  }
  if (!util.IsValidNumber(parsed)) {
    return Invalid(field, "is not a valid number for its country");
  }
  return ToPhoneNumber(parsed);
}

absl::StatusOr<PhoneNumber> ParseE164(absl::string_view e164) {
  if (e164.size() < 2 || e164.size() > 16 || e164.front() != '+' ||
      !std::all_of(e164.begin() + 1, e164.end(),
                   [](char c) { return absl::ascii_isdigit(c); })) {
    return Invalid("phone", absl::StrCat("\"", e164, "\" is not E.164"));
  }
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  ::i18n::phonenumbers::PhoneNumber parsed;
  if (util.Parse(std::string(e164), "ZZ", &parsed) !=
          PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(parsed)) {
    return Invalid("phone", absl::StrCat("\"", e164, "\" is not valid"));
  }
  PhoneNumber phone = ToPhoneNumber(parsed);
  if (phone.e164 != e164) {
    return Invalid("phone", absl::StrCat("\"", e164, "\" is not canonical"));
  }
  return phone;
}

}  // namespace profile
