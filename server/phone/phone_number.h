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
// A parsed number also carries its type and region as the metadata says
// (computed once, at parse, and cached with it): the core texts codes only
// to numbers that may be mobiles, of the allowed regions
// (server/core/phone_change.h).
//
//   phone->type == PhoneNumberType::kMobile; phone->region == "CN"
//
// Test numbers. QA teams use numbers reserved for fiction, which
// libphonenumber rightly calls invalid: Ofcom's drama range
// +44 7700 900000 to 900999 and NANP's 555-0100 to 555-0199 behind any area
// code (+1 NXX 555 01XX). A request may name one only when the deployment
// configured it (--test_phone_codes): the caller passes that allow-set, and
// every other number still needs libphonenumber's validity check.
//
//   FictionalNumbers accepted = {"+447700900123"};
//   ParsePhoneNumber("+44", "07700 900123", "phone_number", &accepted);  // OK
//   ParsePhoneNumber("+44", "07700 900124", "phone_number", &accepted);
//   // INVALID_ARGUMENT: not a valid number
//
// Thread-safety: every function is safe to call concurrently.
#ifndef PROFILE_SERVER_PHONE_PHONE_NUMBER_H_
#define PROFILE_SERVER_PHONE_PHONE_NUMBER_H_

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

// What a number is, as libphonenumber's metadata says from its digits alone
// (PhoneNumberUtil::PhoneNumberType). Where mobiles and fixed lines share
// ranges (NANP, +1), a number is kFixedLineOrMobile.
enum class PhoneNumberType {
  kUnknown = 0,  // also every reserved fictional number
  kMobile,
  kFixedLineOrMobile,
  kFixedLine,
  kTollFree,
  kPremiumRate,
  kSharedCost,
  kVoip,
  kPersonalNumber,
  kPager,
  kUan,
  kVoicemail,
};

// Returns "mobile", "fixed_line_or_mobile", "toll_free"... for messages.
absl::string_view PhoneNumberTypeName(PhoneNumberType type);

// A validated phone number.
struct PhoneNumber {
  // "+8613800138000".
  std::string e164;
  // "+86".
  std::string country_code;
  // "13800138000": the national significant number.
  std::string national_number;
  // "CN": the ISO 3166-1 alpha-2 region the number belongs to
  // (libphonenumber's GetRegionCodeForNumber); "001" for non-geographic
  // numbers (+800...), "ZZ" for a fictional one.
  std::string region;
  // Computed once, at parse.
  PhoneNumberType type = PhoneNumberType::kUnknown;

  // Returns true if the number can be a mobile (kMobile or
  // kFixedLineOrMobile): only those may be texted a code.
  bool MayBeMobile() const {
    return type == PhoneNumberType::kMobile ||
           type == PhoneNumberType::kFixedLineOrMobile;
  }

  friend bool operator==(const PhoneNumber& a, const PhoneNumber& b) {
    return a.e164 == b.e164;
  }
};

// The longest country code or number text accepted, in bytes.
inline constexpr size_t kMaxPhoneFieldBytes = 32;

// E.164 numbers in the reserved fictional ranges that requests may name.
using FictionalNumbers = absl::flat_hash_set<std::string>;

// Returns true if `e164` ("+447700900123") lies in a range reserved for
// fiction: +447700900000 to +447700900999, or +1 NXX 555 0100 to 0199 with
// a well-formed area code NXX (N 2 to 9, middle digit 0 to 8, not N11).
bool IsReservedFictionalNumber(absl::string_view e164);

// Parses a calling code ("+86", "86" or "0086") and a number typed by a
// user. `field` names the number's request field in errors; the country
// code's field is named by replacing "number" with "country_code". A number
// libphonenumber calls invalid is accepted only if it is in `fictional`
// (null: none), which should hold only reserved fictional numbers.
absl::StatusOr<PhoneNumber> ParsePhoneNumber(
    absl::string_view country_code, absl::string_view number,
    absl::string_view field, const FictionalNumbers* fictional = nullptr);

// Returns true if `region` is an ISO 3166-1 alpha-2 code ("CN", "US")
// libphonenumber has metadata for.
bool IsKnownRegion(absl::string_view region);

// Parses a number already in E.164 ("+8613800138000"), as read back from a
// store or a flag: a valid number, or one in a reserved fictional range
// (only a configured test number can have been stored as one).
absl::StatusOr<PhoneNumber> ParseE164(absl::string_view e164);

}  // namespace profile

#endif  // PROFILE_SERVER_PHONE_PHONE_NUMBER_H_
