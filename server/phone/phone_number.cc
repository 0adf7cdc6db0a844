#include "server/phone/phone_number.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "phonenumbers/phonenumber.pb.h"
#include "phonenumbers/phonenumberutil.h"
#include "server/common/api_error.h"
#include "server/common/stack_key.h"

namespace profile {
namespace {

using ::i18n::phonenumbers::PhoneNumberUtil;

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
  if (text.empty()) return InvalidFieldError(field, "is required");
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
    return InvalidFieldError(field, "is not a known calling code like \"+86\"");
  }
  PhoneNumberUtil::GetInstance()->GetRegionCodeForCountryCode(code, &region);
  if (region == "ZZ") {
    return InvalidFieldError(field, "is not a known calling code like \"+86\"");
  }
  return code;
}

// Successful parses, keyed by the exact input text. libphonenumber spends
// 10 to 20 us per number on ICU regular expressions, and the same numbers
// come back: a code is sent to a number, then verified with it; a profile's
// stored phone is read again and again. A parse depends only on its input
// (the field name only shapes errors, which are never cached), so a hit is
// exactly what parsing would return. Bounded: a full shard starts over.
class ParseCache {
 public:
  std::optional<PhoneNumber> Find(absl::string_view key) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.phones.find(key);
    if (it == shard.phones.end()) return std::nullopt;
    return it->second;
  }

  void Insert(absl::string_view key, const PhoneNumber& phone) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    if (shard.phones.size() >= kEntriesPerShard) shard.phones.clear();
    shard.phones.try_emplace(std::string(key), phone);
  }

 private:
  static constexpr size_t kShards = 16;  // a power of two
  static constexpr size_t kEntriesPerShard = 1024;

  struct Shard {
    absl::Mutex mu;
    // Looked up by a key on the stack: a hit allocates nothing.
    absl::flat_hash_map<std::string, PhoneNumber> phones ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(absl::string_view key) {
    // Not absl::Hash, which the map uses too: a shard chosen by its low
    // bits would leave the map fewer bits to tell its entries apart by.
    const std::string_view bytes(key.data(), key.size());
    return shards_[std::hash<std::string_view>()(bytes) & (kShards - 1)];
  }

  std::array<Shard, kShards> shards_;
};

ParseCache& Cache() {
  static ParseCache* const cache = new ParseCache();
  return *cache;
}

// The cache key of a parse: which function, then its inputs, separated by
// a byte that neither input may hold.
StackKey CacheKey(char kind, absl::string_view a, absl::string_view b) {
  return StackKey({absl::string_view(&kind, 1), a, "|", b});
}

PhoneNumberType TypeOf(PhoneNumberUtil::PhoneNumberType type) {
  switch (type) {
    case PhoneNumberUtil::FIXED_LINE:
      return PhoneNumberType::kFixedLine;
    case PhoneNumberUtil::MOBILE:
      return PhoneNumberType::kMobile;
    case PhoneNumberUtil::FIXED_LINE_OR_MOBILE:
      return PhoneNumberType::kFixedLineOrMobile;
    case PhoneNumberUtil::TOLL_FREE:
      return PhoneNumberType::kTollFree;
    case PhoneNumberUtil::PREMIUM_RATE:
      return PhoneNumberType::kPremiumRate;
    case PhoneNumberUtil::SHARED_COST:
      return PhoneNumberType::kSharedCost;
    case PhoneNumberUtil::VOIP:
      return PhoneNumberType::kVoip;
    case PhoneNumberUtil::PERSONAL_NUMBER:
      return PhoneNumberType::kPersonalNumber;
    case PhoneNumberUtil::PAGER:
      return PhoneNumberType::kPager;
    case PhoneNumberUtil::UAN:
      return PhoneNumberType::kUan;
    case PhoneNumberUtil::VOICEMAIL:
      return PhoneNumberType::kVoicemail;
    case PhoneNumberUtil::UNKNOWN:
      break;
  }
  return PhoneNumberType::kUnknown;
}

PhoneNumber ToPhoneNumber(const ::i18n::phonenumbers::PhoneNumber& parsed) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber phone;
  util.Format(parsed, PhoneNumberUtil::E164, &phone.e164);
  phone.country_code = absl::StrCat("+", parsed.country_code());
  util.GetNationalSignificantNumber(parsed, &phone.national_number);
  // Both are UNKNOWN / "ZZ" for an invalid (fictional) number.
  util.GetRegionCodeForNumber(parsed, &phone.region);
  phone.type = TypeOf(util.GetNumberType(parsed));
  return phone;
}

absl::StatusOr<PhoneNumber> ParsePhoneNumberUncached(
    absl::string_view country_code, absl::string_view number,
    absl::string_view field, const FictionalNumbers* fictional,
    bool* is_fictional);
absl::StatusOr<PhoneNumber> ParseE164Uncached(absl::string_view e164);

bool AllDigits(absl::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isdigit(c); });
}

}  // namespace

absl::string_view PhoneNumberTypeName(PhoneNumberType type) {
  switch (type) {
    case PhoneNumberType::kMobile:
      return "mobile";
    case PhoneNumberType::kFixedLineOrMobile:
      return "fixed_line_or_mobile";
    case PhoneNumberType::kFixedLine:
      return "fixed_line";
    case PhoneNumberType::kTollFree:
      return "toll_free";
    case PhoneNumberType::kPremiumRate:
      return "premium_rate";
    case PhoneNumberType::kSharedCost:
      return "shared_cost";
    case PhoneNumberType::kVoip:
      return "voip";
    case PhoneNumberType::kPersonalNumber:
      return "personal_number";
    case PhoneNumberType::kPager:
      return "pager";
    case PhoneNumberType::kUan:
      return "uan";
    case PhoneNumberType::kVoicemail:
      return "voicemail";
    case PhoneNumberType::kUnknown:
      break;
  }
  return "unknown";
}

bool IsKnownRegion(absl::string_view region) {
  // GetCountryCodeForRegion() is 0 for "ZZ", "001" and anything unknown;
  // the metadata's codes are upper case.
  return region.size() == 2 && absl::ascii_isupper(region[0]) &&
         absl::ascii_isupper(region[1]) &&
         PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(
             std::string(region)) != 0;
}

bool IsReservedFictionalNumber(absl::string_view e164) {
  // Ofcom: +44 7700 900000 to 900999, for drama.
  if (absl::ConsumePrefix(&e164, "+447700900")) {
    return e164.size() == 3 && AllDigits(e164);
  }
  // NANP: NXX-555-0100 to 0199, for fiction, behind any area code.
  if (!absl::ConsumePrefix(&e164, "+1") || e164.size() != 10 ||
      !AllDigits(e164)) {
    return false;
  }
  const absl::string_view area = e164.substr(0, 3);
  return area[0] >= '2' && area[1] != '9' &&
         !(area[1] == '1' && area[2] == '1') &&
         e164.substr(3, 5) == "55501";
}

absl::StatusOr<PhoneNumber> ParsePhoneNumber(
    absl::string_view country_code, absl::string_view number,
    absl::string_view field, const FictionalNumbers* fictional) {
  // Only inputs that pass every check below are ever cached, and "|" passes
  // none, so the key is unambiguous.
  const StackKey key = CacheKey('p', country_code, number);
  if (std::optional<PhoneNumber> hit = Cache().Find(key.view())) return *hit;
  // A fictional number is valid only for the callers that accept it: it is
  // never cached (the cache holds what every caller would get).
  bool is_fictional = false;
  absl::StatusOr<PhoneNumber> phone = ParsePhoneNumberUncached(
      country_code, number, field, fictional, &is_fictional);
  if (phone.ok() && !is_fictional) Cache().Insert(key.view(), *phone);
  return phone;
}

absl::StatusOr<PhoneNumber> ParseE164(absl::string_view e164) {
  if (e164.size() > 16) return ParseE164Uncached(e164);
  const StackKey key = CacheKey('e', e164, "");
  if (std::optional<PhoneNumber> hit = Cache().Find(key.view())) return *hit;
  absl::StatusOr<PhoneNumber> phone = ParseE164Uncached(e164);
  if (phone.ok()) Cache().Insert(key.view(), *phone);
  return phone;
}

namespace {

absl::StatusOr<PhoneNumber> ParsePhoneNumberUncached(
    absl::string_view country_code, absl::string_view number,
    absl::string_view field, const FictionalNumbers* fictional,
    bool* is_fictional) {
  const std::string cc_field =
      absl::StrReplaceAll(field, {{"number", "country_code"}});
  if (country_code.size() > kMaxPhoneFieldBytes) {
    return InvalidFieldError(cc_field, "is too long");
  }
  if (!HasOnlyPhoneCharacters(country_code)) {
    return InvalidFieldError(cc_field, "may hold only \"+\" and digits");
  }
  absl::StatusOr<int> calling_code = ParseCallingCode(country_code, cc_field);
  if (!calling_code.ok()) return calling_code.status();

  if (number.size() > kMaxPhoneFieldBytes) {
    return InvalidFieldError(field, "is too long");
  }
  if (!HasOnlyPhoneCharacters(number)) {
    return InvalidFieldError(field,
                   "may hold only digits, spaces, dashes, dots and "
                   "parentheses");
  }
  if (absl::StripAsciiWhitespace(number).empty()) {
    return InvalidFieldError(field, "is required");
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
    return InvalidFieldError(field, "is not a phone number");
  }
  if (static_cast<int>(parsed.country_code()) != *calling_code) {
    return InvalidFieldError(
        field,
        absl::StrCat("does not belong to calling code +", *calling_code));
  }
  PhoneNumber phone = ToPhoneNumber(parsed);
  // E.164 allows 15 digits. libphonenumber keeps up to 17 national digits
  // and Japan's patterns accept some of them ("+81" ".006683 7369- 10400"
  // formats as 18 digits), so its own verdict is not enough.
  if (phone.e164.size() > 16 ||
      phone.e164 != phone.country_code + phone.national_number) {
    return InvalidFieldError(field, "is not a valid number for its country");
  }
  // libphonenumber's IsValidNumber() is exactly GetNumberType() != UNKNOWN
  // (both match the national number against the region's patterns), and
  // ToPhoneNumber() asked for the type: asking again was a third of a
  // parse's regular expressions.
  if (phone.type == PhoneNumberType::kUnknown) {
    *is_fictional = fictional != nullptr && fictional->contains(phone.e164);
    if (!*is_fictional) {
      return InvalidFieldError(field, "is not a valid number for its country");
    }
  }
  return phone;
}

absl::StatusOr<PhoneNumber> ParseE164Uncached(absl::string_view e164) {
  if (e164.size() < 2 || e164.size() > 16 || e164.front() != '+' ||
      !AllDigits(e164.substr(1))) {
    return InvalidFieldError("phone",
                             absl::StrCat("\"", e164, "\" is not E.164"));
  }
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  ::i18n::phonenumbers::PhoneNumber parsed;
  if (util.Parse(std::string(e164), "ZZ", &parsed) !=
      PhoneNumberUtil::NO_PARSING_ERROR) {
    return InvalidFieldError("phone",
                             absl::StrCat("\"", e164, "\" is not valid"));
  }
  PhoneNumber phone = ToPhoneNumber(parsed);
  // Valid exactly when its type is known (see ParsePhoneNumberUncached()).
  if (phone.type == PhoneNumberType::kUnknown &&
      !IsReservedFictionalNumber(e164)) {
    return InvalidFieldError("phone",
                             absl::StrCat("\"", e164, "\" is not valid"));
  }
  if (phone.e164 != e164) {
    return InvalidFieldError("phone",
                             absl::StrCat("\"", e164, "\" is not canonical"));
  }
  return phone;
}

}  // namespace
}  // namespace profile
