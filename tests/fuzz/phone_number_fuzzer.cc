// Fuzzes phone parsing: ParsePhoneNumber() on an arbitrary calling code and
// number, and ParseE164() on arbitrary text.
//
// Input: the calling code, a 0x00 byte, the number (no 0x00: the whole input
// is the number with "+86"). Properties, beyond "no crash":
//   - a number parsed OK is canonical E.164: '+', 2 to 15 digits, made of
//     its country code and national number;
//   - parsing is idempotent: ParseE164(e164) and ParsePhoneNumber(country
//     code, national number) give the same number back;
//   - every failure is INVALID_ARGUMENT with api code 1001 naming a field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "server/common/api_error.h"
#include "server/phone/phone_number.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    __builtin_fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

bool AllDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

void CheckFailure(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument,
        "a failure is INVALID_ARGUMENT");
  Check(profile::ApiCodeOf(status) == profile::ApiCode::kInvalidArgument,
        "a failure carries api code 1001");
  Check(!profile::FieldOf(status).empty(), "a failure names its field");
}

void CheckCanonical(const profile::PhoneNumber& phone) {
  const std::string& e164 = phone.e164;
  Check(e164.size() >= 3 && e164.size() <= 16, "E.164 is 2 to 15 digits");
  Check(e164[0] == '+' && AllDigits(absl::string_view(e164).substr(1)),
        "E.164 is '+' and digits");
  Check(absl::StartsWith(phone.country_code, "+") &&
            AllDigits(absl::string_view(phone.country_code).substr(1)),
        "the country code is '+' and digits");
  Check(e164 == phone.country_code + phone.national_number,
        "E.164 is the country code and the national number");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const absl::string_view country_code =
      split == absl::string_view::npos ? "+86" : input.substr(0, split);
  const absl::string_view number =
      split == absl::string_view::npos ? input : input.substr(split + 1);

  absl::StatusOr<profile::PhoneNumber> phone =
      profile::ParsePhoneNumber(country_code, number, "new_phone_number");
  if (phone.ok()) {
    CheckCanonical(*phone);
    Check(number.size() <= profile::kMaxPhoneFieldBytes &&
              country_code.size() <= profile::kMaxPhoneFieldBytes,
          "no field over the cap parses");
    absl::StatusOr<profile::PhoneNumber> again = profile::ParseE164(phone->e164);
    Check(again.ok() && again->e164 == phone->e164 &&
              again->country_code == phone->country_code &&
              again->national_number == phone->national_number,
          "ParseE164 of a parsed number gives it back");
    absl::StatusOr<profile::PhoneNumber> retyped = profile::ParsePhoneNumber(
        phone->country_code, phone->national_number, "new_phone_number");
    Check(retyped.ok() && retyped->e164 == phone->e164,
          "the national number parses to the same number");
  } else {
    CheckFailure(phone.status());
    const std::string field = profile::FieldOf(phone.status());
    Check(field == "new_phone_number" || field == "new_phone_country_code",
          "the field named is the number's or the country code's");
  }

  absl::StatusOr<profile::PhoneNumber> e164 = profile::ParseE164(input);
  if (e164.ok()) {
    CheckCanonical(*e164);
    Check(e164->e164 == input, "ParseE164 accepts only canonical E.164");
  }
  return 0;
}
