// Phone numbers: parsing what users type into a canonical E.164 number.
//
//   absl::StatusOr<PhoneNumber> phone =
//       ParsePhoneNumber("+86", "138-0013 8000", "new_phone_number");
//   // phone->e164 == "+8613800138000"
//
// Parsing uses libphonenumber with the metadata of the region that owns the
// calling code, so national formats ("(415) 555-0100", "07400 123456" with
// its trunk 0) and the international "00" prefix are understood. Anything
// that is not a valid, possible number of that country is INVALID_ARGUMENT
// (api code 1001) naming the request field.
//
// Thread-safety: every function is safe to call concurrently.
#ifndef PROFILE_SERVER_PHONE_PHONE_NUMBER_H_
#define PROFILE_SERVER_PHONE_PHONE_NUMBER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

// A validated phone number.
struct PhoneNumber {
  // "+8613800138000".
  std::string e164;
  // "+86".
  std::string country_code;
  // "13800138000": the national significant number.
  std::string national_number;

  friend bool operator==(const PhoneNumber& a, const PhoneNumber& b) {
    return a.e164 == b.e164;
  }
};

// The longest country code or number text accepted, in bytes.
inline constexpr size_t kMaxPhoneFieldBytes = 32;

// Parses a calling code ("+86", "86" or "0086") and a number typed by a
// user. `field` names the number's request field in errors; the country
// code's field is named by replacing "number" with "country_code".
absl::StatusOr<PhoneNumber> ParsePhoneNumber(absl::string_view country_code,
                                             absl::string_view number,
                                             absl::string_view field);

// Parses a number already in E.164 ("+8613800138000"), as read back from a
// store or a flag.
absl::StatusOr<PhoneNumber> ParseE164(absl::string_view e164);

}  // namespace profile

#endif  // PROFILE_SERVER_PHONE_PHONE_NUMBER_H_
