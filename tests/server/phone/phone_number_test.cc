#include "server/phone/phone_number.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kField[] = "new_phone_number";
constexpr char kCountryField[] = "new_phone_country_code";

// Numbers below were checked against libphonenumber 8.12's metadata: each
// "valid" one passes PhoneNumberUtil::IsValidNumber. (The Ofcom drama range
// 07700 900xxx is NOT valid in that metadata, so UK tests use 07400 123456,
// the metadata's own example mobile.)

struct ValidCase {
  const char* country_code;
  const char* number;
  const char* e164;
  const char* national;
};

class ParsePhoneNumberValidTest : public ::testing::TestWithParam<ValidCase> {
};

TEST_P(ParsePhoneNumberValidTest, ParsesToE164) {
  const ValidCase& c = GetParam();
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber(c.country_code, c.number, kField);
  ASSERT_THAT(phone, IsOk()) << "[" << c.country_code << "] [" << c.number
                             << "]";
  EXPECT_EQ(phone->e164, c.e164);
  EXPECT_EQ(phone->national_number, c.national);
  // The calling code is always reported with "+", however it was typed.
  EXPECT_EQ(phone->country_code,
            std::string(c.e164).substr(
                0, std::string(c.e164).size() - std::string(c.national).size()));
}

INSTANTIATE_TEST_SUITE_P(
    China, ParsePhoneNumberValidTest,
    ::testing::Values(
        ValidCase{"+86", "13800138000", "+8613800138000", "13800138000"},
        ValidCase{"+86", "138 0013 8000", "+8613800138000", "13800138000"},
        ValidCase{"+86", "138-0013-8000", "+8613800138000", "13800138000"},
        ValidCase{"+86", "138.0013.8000", "+8613800138000", "13800138000"},
        ValidCase{"+86", "(138) 0013 8000", "+8613800138000", "13800138000"},
        ValidCase{"+86", "  138 0013 8000  ", "+8613800138000",
                  "13800138000"},
        ValidCase{"86", "13800138000", "+8613800138000", "13800138000"},
        ValidCase{"0086", "13800138000", "+8613800138000", "13800138000"},
        ValidCase{" +86 ", "13800138000", "+8613800138000", "13800138000"},
        // The number itself typed with the calling code.
        ValidCase{"+86", "+86 138 0013 8000", "+8613800138000",
                  "13800138000"},
        // ...or with the international prefix 00 dialled from China.
        ValidCase{"+86", "0086 138 0013 8000", "+8613800138000",
                  "13800138000"},
        ValidCase{"+86", "(0086) 138 0013 8000", "+8613800138000",
                  "13800138000"},
        ValidCase{"+86", "139 1234 5678", "+8613912345678", "13912345678"},
        // A Beijing landline with its trunk 0.
        ValidCase{"+86", "010 1234 5678", "+861012345678", "1012345678"}));

INSTANTIATE_TEST_SUITE_P(
    OtherCountries, ParsePhoneNumberValidTest,
    ::testing::Values(
        ValidCase{"+1", "(415) 555-0100", "+14155550100", "4155550100"},
        ValidCase{"+1", "415-555-0100", "+14155550100", "4155550100"},
        ValidCase{"+1", "415.555.0100", "+14155550100", "4155550100"},
        ValidCase{"1", "4155550100", "+14155550100", "4155550100"},
        // With the US trunk prefix 1.
        ValidCase{"+1", "1 (415) 555-0100", "+14155550100", "4155550100"},
        ValidCase{"+1", "+1 (415) 555-0100", "+14155550100", "4155550100"},
        // UK national format with the trunk 0.
        ValidCase{"+44", "07400 123456", "+447400123456", "7400123456"},
        ValidCase{"+44", "7400 123456", "+447400123456", "7400123456"},
        ValidCase{"0044", "07400 123456", "+447400123456", "7400123456"},
        ValidCase{"+44", "020 7946 0018", "+442079460018", "2079460018"},
        ValidCase{"+49", "030 123456", "+4930123456", "30123456"}));

TEST(ParsePhoneNumberTest, AcceptsExactly32Bytes) {
  const std::string number = "138 0013 8000" + std::string(19, ' ');
  ASSERT_EQ(number.size(), kMaxPhoneFieldBytes);
  absl::StatusOr<PhoneNumber> phone = ParsePhoneNumber("+86", number, kField);
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->e164, "+8613800138000");
}

TEST(ParsePhoneNumberTest, EqualityIsByE164) {
  absl::StatusOr<PhoneNumber> a =
      ParsePhoneNumber("+86", "138 0013 8000", kField);
  absl::StatusOr<PhoneNumber> b =
      ParsePhoneNumber("0086", "(138)-0013-8000", kField);
  absl::StatusOr<PhoneNumber> c =
      ParsePhoneNumber("+86", "139 1234 5678", kField);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(c, IsOk());
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a == *c);
}

struct InvalidCase {
  const char* name;
  std::string country_code;
  std::string number;
  // The field the error must name.
  const char* field;
};

class ParsePhoneNumberInvalidTest
    : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(ParsePhoneNumberInvalidTest, IsInvalidArgumentNamingTheField) {
  const InvalidCase& c = GetParam();
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber(c.country_code, c.number, kField);
  EXPECT_THAT(phone, StatusIs(absl::StatusCode::kInvalidArgument,
                              ApiCode::kInvalidArgument));
  EXPECT_THAT(phone, StatusIs(absl::StatusCode::kInvalidArgument,
                              HasSubstr(c.field)));
  EXPECT_EQ(FieldOf(phone.status()), c.field);
}

INSTANTIATE_TEST_SUITE_P(
    BadNumbers, ParsePhoneNumberInvalidTest,
    ::testing::Values(
        InvalidCase{"Empty", "+86", "", kField},
        InvalidCase{"Blank", "+86", "   ", kField},
        InvalidCase{"VanityLetters", "+1", "1-800-FLOWERS", kField},
        InvalidCase{"Letters", "+86", "138abc38000", kField},
        InvalidCase{"FullWidthDigits", "+86",
                    "\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x90\xEF\xBC"
                    "\x90\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x90\xEF"
                    "\xBC\x90\xEF\xBC\x90",  // １３８００１３８０００
                    kField},
        InvalidCase{"ArabicIndicDigits", "+86",
                    "\xD9\xA1\xD9\xA3\xD9\xA8\xD9\xA0\xD9\xA0\xD9\xA1\xD9\xA3"
                    "\xD9\xA8\xD9\xA0\xD9\xA0\xD9\xA0",
                    kField},
        InvalidCase{"TooLong33Bytes", "+86",
                    "138 0013 8000" + std::string(20, ' '), kField},
        InvalidCase{"TooLongDigits", "+86",
                    std::string(40, '1'), kField},
        InvalidCase{"OtherCountryWithPlus", "+86", "+1 415 555 0100", kField},
        InvalidCase{"OtherCountryWithPlusUk", "+1", "+44 7400 123456",
                    kField},
        InvalidCase{"OtherCountryWithIddPrefix", "+1",
                    "011 86 138 0013 8000", kField},
        InvalidCase{"OtherCountryWith00Prefix", "+86",
                    "0044 7400 123456", kField},
        InvalidCase{"TooShortForChina", "+86", "1380013800", kField},
        InvalidCase{"TooLongForChina", "+86", "138001380001", kField},
        InvalidCase{"FiveDigits", "+86", "12345", kField},
        InvalidCase{"OneDigit", "+86", "1", kField},
        InvalidCase{"ServiceNumber", "+86", "110", kField},
        InvalidCase{"AllZeros", "+86", "00000000000", kField},
        InvalidCase{"ImpossibleChinaMobile", "+86", "12345678901", kField},
        InvalidCase{"UsWithoutAreaCode", "+1", "555 0100", kField},
        InvalidCase{"UsAreaCodeStartingWith0", "+1", "(012) 555-0100",
                    kField},
        InvalidCase{"UsTooLong", "+1", "(415) 555-0100 1", kField},
        InvalidCase{"Tab", "+86", "138\t0013 8000", kField},
        InvalidCase{"Newline", "+86", "13800138000\n", kField},
        InvalidCase{"Nul", "+86", std::string("138\0" "00138000", 12), kField},
        InvalidCase{"Escape", "+86", "\x1B[0m13800138000", kField},
        InvalidCase{"BidiOverride", "+86", "\xE2\x80\xAE" "13800138000",
                    kField},
        InvalidCase{"InvalidUtf8", "+86", "138\xFF" "00138000", kField},
        InvalidCase{"Extension", "+1", "415 555 0100 ext. 12", kField},
        InvalidCase{"Slash", "+86", "138/0013/8000", kField},
        InvalidCase{"Star", "+86", "*13800138000", kField},
        InvalidCase{"Hash", "+86", "13800138000#", kField},
        // libphonenumber calls it a valid Japanese number, 18 digits long
        // (found by phone_number_fuzzer).
        InvalidCase{"OverFifteenDigitsE164", "+81 ", ".006683 7369- 10400",
                    kField}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) {
      return std::string(info.param.name);
    });

INSTANTIATE_TEST_SUITE_P(
    BadCountryCodes, ParsePhoneNumberInvalidTest,
    ::testing::Values(
        InvalidCase{"Empty", "", "13800138000", kCountryField},
        InvalidCase{"Blank", "  ", "13800138000", kCountryField},
        InvalidCase{"PlusOnly", "+", "13800138000", kCountryField},
        InvalidCase{"ZeroZeroOnly", "00", "13800138000", kCountryField},
        InvalidCase{"UnknownCallingCode", "+999", "13800138000",
                    kCountryField},
        InvalidCase{"UnknownWithoutPlus", "999", "13800138000",
                    kCountryField},
        InvalidCase{"Zero", "+0", "13800138000", kCountryField},
        InvalidCase{"FourDigits", "+8600", "13800138000", kCountryField},
        InvalidCase{"PlusAndZeroZero", "+0086", "13800138000",
                    kCountryField},
        InvalidCase{"DoublePlus", "++86", "13800138000", kCountryField},
        InvalidCase{"Letters", "CN", "13800138000", kCountryField},
        InvalidCase{"Dash", "+8-6", "13800138000", kCountryField},
        InvalidCase{"InnerSpace", "+8 6", "13800138000", kCountryField},
        InvalidCase{"FullWidthPlus", "\xEF\xBC\x8B" "86", "13800138000",
                    kCountryField},
        InvalidCase{"ControlCharacter", "+86\n", "13800138000",
                    kCountryField},
        InvalidCase{"TooLong", "+86" + std::string(30, ' '), "13800138000",
                    kCountryField}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) {
      return std::string(info.param.name);
    });

TEST(ParsePhoneNumberTest, CountryCodeIsCheckedBeforeTheNumber) {
  absl::StatusOr<PhoneNumber> phone = ParsePhoneNumber("+999", "", kField);
  EXPECT_EQ(FieldOf(phone.status()), kCountryField);
}

TEST(ParsePhoneNumberTest, FieldNamesFollowTheRequestField) {
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber("+86", "12345", "old_phone_number");
  EXPECT_THAT(phone, StatusIs(absl::StatusCode::kInvalidArgument,
                              ApiCode::kInvalidArgument));
  EXPECT_EQ(FieldOf(phone.status()), "old_phone_number");

  phone = ParsePhoneNumber("+999", "13800138000", "old_phone_number");
  EXPECT_EQ(FieldOf(phone.status()), "old_phone_country_code");
  EXPECT_THAT(phone, StatusIs(absl::StatusCode::kInvalidArgument,
                              HasSubstr("old_phone_country_code")));

  phone = ParsePhoneNumber("+999", "13800138000", "phone_number");
  EXPECT_EQ(FieldOf(phone.status()), "phone_country_code");
}

TEST(ParsePhoneNumberTest, IsSafeToCallConcurrently) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<PhoneNumber> phone =
            ParsePhoneNumber("+86", "138 0013 8000", kField);
        if (!phone.ok() || phone->e164 != "+8613800138000") ++failures;
        if (ParsePhoneNumber("+86", "12345", kField).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ParseE164Test, RoundTripsCanonicalNumbers) {
  for (const char* e164 : {"+8613800138000", "+8613912345678",
                           "+861012345678", "+14155550100", "+12015550123",
                           "+447400123456", "+442079460018", "+4930123456"}) {
    absl::StatusOr<PhoneNumber> phone = ParseE164(e164);
    ASSERT_THAT(phone, IsOk()) << e164;
    EXPECT_EQ(phone->e164, e164);
    EXPECT_EQ(phone->country_code + phone->national_number, e164);
  }
}

TEST(ParseE164Test, SplitsCountryCodeAndNationalNumber) {
  absl::StatusOr<PhoneNumber> phone = ParseE164("+8613800138000");
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->country_code, "+86");
  EXPECT_EQ(phone->national_number, "13800138000");
  phone = ParseE164("+14155550100");
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->country_code, "+1");
  EXPECT_EQ(phone->national_number, "4155550100");
}

TEST(ParseE164Test, AgreesWithParsePhoneNumber) {
  absl::StatusOr<PhoneNumber> typed =
      ParsePhoneNumber("+44", "07400 123456", kField);
  ASSERT_THAT(typed, IsOk());
  absl::StatusOr<PhoneNumber> stored = ParseE164(typed->e164);
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->e164, typed->e164);
  EXPECT_EQ(stored->country_code, typed->country_code);
  EXPECT_EQ(stored->national_number, typed->national_number);
}

TEST(ParseE164Test, RejectsNonCanonicalAndInvalidInput) {
  for (const std::string& text : std::vector<std::string>{
           "",
           "+",
           "8613800138000",          // no "+"
           "008613800138000",        // international prefix, not E.164
           "+86 13800138000",        // separators
           "+86-138-0013-8000",
           "+8613800138000 ",        // trailing space
           " +8613800138000",
           "+86013800138000",        // a trunk 0 kept in
           "++8613800138000",
           "+861380013800",          // too short for China
           "+86138001380001",        // too long for China
           "+999123456789",          // unknown calling code
           "+12345678901234567",     // beyond 15 digits
           "+1415555010a",
           "\xEF\xBC\x8B" "8613800138000",  // full-width plus
           std::string("+8613800138000\0", 15),
       }) {
    absl::StatusOr<PhoneNumber> phone = ParseE164(text);
    EXPECT_THAT(phone, StatusIs(absl::StatusCode::kInvalidArgument,
                                ApiCode::kInvalidArgument))
        << "[" << text << "]";
  }
}

}  // namespace
}  // namespace profile

namespace profile {
namespace {

TEST(ParsePhoneNumberTest, NonGeographicCallingCodesParse) {
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber("+800", "1234 5678", "new_phone_number");
  ASSERT_THAT(phone, testing::IsOk());
  EXPECT_EQ(phone->e164, "+80012345678");
  EXPECT_EQ(phone->country_code, "+800");
}

TEST(FictionalNumberTest, ReservedRangesAreRecognized) {
  for (const char* e164 :
       {"+447700900000", "+447700900123", "+447700900999", "+14155550100",
        "+14155550199", "+12125550150", "+12015550100", "+19895550199"}) {
    EXPECT_TRUE(IsReservedFictionalNumber(e164)) << e164;
  }
  for (const char* e164 :
       {"+447700901000", "+44770090012", "+4477009001234", "+447400123456",
        "+14155550200", "+14155550099", "+14155551234", "+10125550100",
        "+11235550100", "+14115550100", "+19115550100", "+12915550100",
        "+1415555010", "+141555501000", "+8613800138000", "+447700900a23",
        "447700900123", ""}) {
    EXPECT_FALSE(IsReservedFictionalNumber(e164)) << e164;
  }
}

TEST(FictionalNumberTest, AcceptedOnlyWhenConfigured) {
  // libphonenumber calls the Ofcom drama range invalid.
  EXPECT_THAT(ParsePhoneNumber("+44", "07700 900123", kField),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ApiCode::kInvalidArgument));
  const FictionalNumbers accepted = {"+447700900123"};
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber("+44", "07700 900123", kField, &accepted);
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->e164, "+447700900123");
  EXPECT_EQ(phone->country_code, "+44");
  EXPECT_EQ(phone->national_number, "7700900123");
  // The same number typed otherwise.
  EXPECT_THAT(ParsePhoneNumber("0044", "+44 7700 900123", kField, &accepted),
              IsOk());
  // Its neighbour is not configured.
  EXPECT_THAT(ParsePhoneNumber("+44", "07700 900124", kField, &accepted),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ApiCode::kInvalidArgument));
  // An accepted parse is never cached for callers that do not accept it.
  EXPECT_THAT(ParsePhoneNumber("+44", "07700 900123", kField),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ApiCode::kInvalidArgument));
  // Valid numbers stay valid whatever is accepted.
  EXPECT_THAT(ParsePhoneNumber("+86", "13800138000", kField, &accepted),
              IsOk());
}

TEST(FictionalNumberTest, StoredFictionalNumbersReadBack) {
  absl::StatusOr<PhoneNumber> phone = ParseE164("+447700900123");
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->country_code, "+44");
  EXPECT_EQ(phone->national_number, "7700900123");
  EXPECT_THAT(ParseE164("+447700901000"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ApiCode::kInvalidArgument));
}

TEST(ParsePhoneNumberTest, CallingCodeWithLeadingZeroIsRefused) {
  for (const char* code : {"+001", "086", "+0"}) {
    EXPECT_THAT(ParsePhoneNumber(code, "13800138000", "new_phone_number"),
                testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                  ApiCode::kInvalidArgument))
        << code;
  }
}

// Types and regions as libphonenumber's metadata (Debian 12) has them;
// each checked with PhoneNumberUtil::GetNumberType and
// GetRegionCodeForNumber.
struct TypeCase {
  const char* country_code;
  const char* number;
  PhoneNumberType type;
  const char* region;
};

class PhoneNumberTypeTest : public ::testing::TestWithParam<TypeCase> {};

TEST_P(PhoneNumberTypeTest, ParseComputesTypeAndRegion) {
  const TypeCase& c = GetParam();
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber(c.country_code, c.number, kField);
  ASSERT_THAT(phone, IsOk()) << c.number;
  EXPECT_EQ(phone->type, c.type)
      << c.number << " is " << PhoneNumberTypeName(phone->type);
  EXPECT_EQ(phone->region, c.region) << c.number;
  EXPECT_EQ(phone->MayBeMobile(),
            c.type == PhoneNumberType::kMobile ||
                c.type == PhoneNumberType::kFixedLineOrMobile);
  // The same from E.164 (and from the parse cache, the second time).
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<PhoneNumber> stored = ParseE164(phone->e164);
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ(stored->type, c.type) << phone->e164;
    EXPECT_EQ(stored->region, c.region) << phone->e164;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Metadata, PhoneNumberTypeTest,
    ::testing::Values(
        TypeCase{"+86", "138 0013 8000", PhoneNumberType::kMobile, "CN"},
        TypeCase{"+86", "010 1234 5678", PhoneNumberType::kFixedLine, "CN"},
        // NANP mobiles and fixed lines share ranges.
        TypeCase{"+1", "(415) 555-0100", PhoneNumberType::kFixedLineOrMobile,
                 "US"},
        TypeCase{"+1", "800 234 5678", PhoneNumberType::kTollFree, "US"},
        TypeCase{"+44", "07400 123456", PhoneNumberType::kMobile, "GB"},
        TypeCase{"+44", "020 7946 0000", PhoneNumberType::kFixedLine, "GB"},
        TypeCase{"+44", "0909 879 0000", PhoneNumberType::kPremiumRate, "GB"},
        TypeCase{"+44", "056 1234 5678", PhoneNumberType::kVoip, "GB"},
        TypeCase{"+44", "070 1234 5678", PhoneNumberType::kPersonalNumber,
                 "GB"},
        TypeCase{"+44", "076 4012 3456", PhoneNumberType::kPager, "GB"},
        TypeCase{"+44", "055 1234 5678", PhoneNumberType::kUan, "GB"},
        TypeCase{"+49", "0800 1234567", PhoneNumberType::kTollFree, "DE"}));

TEST(PhoneNumberTypeTest, FictionalTestNumbersHaveNoTypeNorRegion) {
  const FictionalNumbers accepted = {"+447700900123"};
  absl::StatusOr<PhoneNumber> phone =
      ParsePhoneNumber("+44", "07700 900123", kField, &accepted);
  ASSERT_THAT(phone, IsOk());
  EXPECT_EQ(phone->type, PhoneNumberType::kUnknown);
  EXPECT_EQ(phone->region, "ZZ");
  EXPECT_FALSE(phone->MayBeMobile());
}

TEST(IsKnownRegionTest, KnowsIsoRegionCodesOfTheMetadata) {
  for (const char* region : {"CN", "US", "GB", "DE", "JP", "HK", "SH"}) {
    EXPECT_TRUE(IsKnownRegion(region)) << region;
  }
  for (const char* region : {"", "C", "cn", "Cn", "XX", "ZZ", "001", "UK",
                             "CHN", "EU", " CN"}) {
    EXPECT_FALSE(IsKnownRegion(region)) << region;
  }
}

// MaskPhone() (server/common/log.h) reads the calling code from the digits
// with its own table; it must agree with libphonenumber on every calling
// code the metadata knows.
TEST(MaskPhoneTest, CallingCodesAgreeWithLibphonenumber) {
  int known = 0;
  for (int code = 1; code <= 999; ++code) {
    const std::string calling_code = absl::StrCat("+", code);
    absl::StatusOr<PhoneNumber> parsed =
        ParsePhoneNumber(calling_code, "1", kField);
    // An unknown calling code is refused on its own field, a known one
    // gets as far as the number.
    if (!parsed.ok() && FieldOf(parsed.status()) == kCountryField) continue;
    ++known;
    const std::string masked =
        MaskPhone(absl::StrCat(calling_code, "123456789"));
    EXPECT_TRUE(absl::StartsWith(masked, absl::StrCat(calling_code, "*")))
        << calling_code << " -> " << masked;
  }
  EXPECT_GT(known, 200);
}

}  // namespace
}  // namespace profile
