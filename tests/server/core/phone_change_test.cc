#include "server/core/phone_change.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/codes/code_store.h"
#include "server/common/api_error.h"
#include "server/sms/sms_sender.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_core.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::CapturingSmsSender;
using ::profile::testing::FakeClock;
using ::profile::testing::InMemoryCore;
using ::profile::testing::InMemoryCoreOptions;
using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kSecret[] = "core-test-secret";

// Three ordinary Chinese mobiles, as typed and in E.164.
constexpr char kPhoneA[] = "138 0013 8000";
constexpr char kPhoneAE164[] = "+8613800138000";
constexpr char kPhoneB[] = "138-0013-8001";
constexpr char kPhoneBE164[] = "+8613800138001";
constexpr char kPhoneC[] = "(138) 0013 8002";
constexpr char kPhoneCE164[] = "+8613800138002";
// A test number with a fixed code.
constexpr char kTestPhone[] = "137 0000 0000";
constexpr char kTestPhoneE164[] = "+8613700000000";
constexpr char kTestCode[] = "246810";

constexpr CodePurpose kNew = CodePurpose::kNewPhone;
constexpr CodePurpose kOld = CodePurpose::kOldPhone;

Caller Call(std::string user_id, Language language = Language::kEnglish) {
  Caller caller;
  caller.user_id = std::move(user_id);
  caller.request_id = "request-1";
  caller.language = language;
  return caller;
}

class PhoneChangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InMemoryCoreOptions memory_options;
    memory_options.core = options_;
    memory_options.clock = clock_;
    memory_options.sms = sms_.get();
    memory_options.code_secret = kSecret;
    memory_options.test_codes = {{kTestPhoneE164, kTestCode}};
    memory_ = std::make_unique<InMemoryCore>(std::move(memory_options));
  }

  PhoneChange* core() const { return memory_->core(); }
  UserStore* users() const { return memory_->users(); }
  CodeStore* codes() const { return memory_->codes(); }

  // --verify_old_phone=false: the new phone's code alone suffices.
  void SkipOldPhone() {
    options_.verify_old_phone = false;
    memory_->ResetCore(options_);
  }

  // The messages the calls texted so far, as the outbox sender writes them.
  // The notices of committed changes are left out: the core's relay sends
  // them from its own thread, whenever it gets to them, so they are no
  // call's answer (notice_relay_test and the e2e tests check them).
  std::vector<nlohmann::json> Outbox() const {
    std::vector<nlohmann::json> messages;
    for (const SmsMessage& sent : sms_->sent()) {
      if (sent.type == SmsType::kPhoneChangedNotice ||
          sent.type == SmsType::kPhoneUnlinkedNotice) {
        continue;
      }
      messages.push_back({{"phone_e164", sent.phone_e164},
                          {"code", sent.code},
                          {"purpose", std::string(CodePurposeName(sent.purpose))},
                          {"text", sent.text}});
    }
    return messages;
  }

  // Sends a code and returns it as the phone received it ("" on failure).
  std::string SendCode(const std::string& user, const std::string& number,
                       CodePurpose purpose = kNew,
                       Language language = Language::kEnglish) {
    const size_t before = Outbox().size();
    absl::StatusOr<SendCodeResult> sent =
        core()->SendCode(Call(user, language), {"+86", number, purpose});
    EXPECT_THAT(sent, IsOk()) << user << " " << number;
    std::vector<nlohmann::json> messages = Outbox();
    EXPECT_EQ(messages.size(), before + 1) << "no SMS for " << number;
    if (!sent.ok() || messages.size() != before + 1) return "";
    const nlohmann::json& message = messages.back();
    EXPECT_EQ(message["purpose"], purpose == kNew ? "new_phone" : "old_phone");
    return message["code"].get<std::string>();
  }

  absl::StatusOr<VerifyResult> VerifyNew(const std::string& user,
                                         const std::string& number,
                                         const std::string& code) {
    VerifyInput input;
    input.new_phone_country_code = "+86";
    input.new_phone_number = number;
    input.new_phone_pass_code = code;
    return core()->Verify(Call(user), input);
  }

  absl::StatusOr<VerifyResult> VerifyBoth(const std::string& user,
                                          const std::string& new_number,
                                          const std::string& new_code,
                                          const std::string& old_number,
                                          const std::string& old_code) {
    VerifyInput input;
    input.new_phone_country_code = "+86";
    input.new_phone_number = new_number;
    input.new_phone_pass_code = new_code;
    input.old_phone_country_code = "+86";
    input.old_phone_number = old_number;
    input.old_phone_pass_code = old_code;
    return core()->Verify(Call(user), input);
  }

  // Sends a code to `number`, verifies it and returns the token. A user who
  // has a phone proves it too, with an old-phone code texted to it, as
  // verify_old_phone (the default) requires.
  std::string TokenFor(const std::string& user, const std::string& number) {
    const std::string current = PhoneOf(user);
    const std::string code = SendCode(user, number);
    absl::StatusOr<VerifyResult> verified;
    if (current.empty() || !options_.verify_old_phone) {
      verified = VerifyNew(user, number, code);
    } else {
      const std::string old_number = National(current);
      const std::string old_code = SendCode(user, old_number, kOld);
      verified = VerifyBoth(user, number, code, old_number, old_code);
    }
    EXPECT_THAT(verified, IsOk());
    return verified.ok() ? verified->token : "";
  }

  // The national number of one of the +86 test phones.
  static std::string National(const std::string& e164) {
    EXPECT_EQ(e164.rfind("+86", 0), 0u) << e164;
    return e164.substr(3);
  }

  // Binds `e164` to `user` directly in the store, as an earlier change did.
  void Bind(const std::string& user, const std::string& e164) {
    absl::StatusOr<std::string> current = users()->GetPhone(user);
    ASSERT_THAT(current, IsOk());
    ASSERT_THAT(users()->ChangePhone(user, *current, e164), IsOk());
  }

  std::string PhoneOf(const std::string& user) {
    absl::StatusOr<std::string> phone = users()->GetPhone(user);
    EXPECT_THAT(phone, IsOk());
    return phone.ok() ? *phone : "<error>";
  }

  // A code that is certainly not `code`.
  static std::string WrongCode(const std::string& code) {
    std::string wrong = code;
    wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
    return wrong;
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  PhoneChangeOptions options_;
  std::unique_ptr<CapturingSmsSender> sms_ =
      std::make_unique<CapturingSmsSender>();
  std::unique_ptr<InMemoryCore> memory_;
};

auto IsMalformed(const std::string& field) {
  return StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field));
}

void ExpectMalformed(const absl::Status& status, const std::string& field) {
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               ApiCode::kInvalidArgument));
  EXPECT_THAT(status, IsMalformed(field));
  EXPECT_EQ(FieldOf(status), field);
}

auto IsWrongCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode);
}
auto IsNoLiveCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired);
}
auto IsPhoneTaken() {
  return StatusIs(absl::StatusCode::kAlreadyExists, ApiCode::kPhoneTaken);
}
auto IsSamePhone() {
  return StatusIs(absl::StatusCode::kFailedPrecondition, ApiCode::kSamePhone);
}
auto IsOldPhoneMismatch() {
  return StatusIs(absl::StatusCode::kFailedPrecondition,
                  ApiCode::kOldPhoneMismatch);
}
auto IsNoCurrentPhone() {
  return StatusIs(absl::StatusCode::kFailedPrecondition,
                  ApiCode::kNoCurrentPhone);
}
auto IsTooFrequent() {
  return StatusIs(absl::StatusCode::kResourceExhausted, ApiCode::kTooFrequent);
}
auto IsTokenNotFound() {
  return StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound);
}
auto IsTokenOtherUser() {
  return StatusIs(absl::StatusCode::kPermissionDenied,
                  ApiCode::kTokenOtherUser);
}

// ---------------------------------------------------------------------------
// The happy paths.

TEST_F(PhoneChangeTest, NewUserBindsAPhone) {
  absl::StatusOr<SendCodeResult> sent =
      core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew});
  ASSERT_THAT(sent, IsOk());
  EXPECT_EQ(sent->expires_in, absl::Minutes(5));
  EXPECT_EQ(sent->resend_after, absl::Seconds(60));

  std::vector<nlohmann::json> outbox = Outbox();
  ASSERT_THAT(outbox, SizeIs(1));
  EXPECT_EQ(outbox[0]["phone_e164"], kPhoneAE164);
  EXPECT_EQ(outbox[0]["purpose"], "new_phone");
  const std::string code = outbox[0]["code"].get<std::string>();
  EXPECT_THAT(code, MatchesRegex("[0-9]{6}"));
  EXPECT_EQ(outbox[0]["text"],
            absl::StrCat("Profile: ", code,
                         " is your code to link this number to your "
                         "account. It expires in 5 min. Do not share it."));

  absl::StatusOr<VerifyResult> verified = VerifyNew("u1", kPhoneA, code);
  ASSERT_THAT(verified, IsOk());
  EXPECT_THAT(verified->token, MatchesRegex("[A-Za-z0-9_-]{43}"));
  EXPECT_EQ(verified->expires_in, absl::Seconds(60));
  // Verification alone changes nothing.
  EXPECT_EQ(PhoneOf("u1"), "");

  ASSERT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneAE164);
  absl::StatusOr<ProfileView> profile = core()->GetProfile(Call("u1"));
  ASSERT_THAT(profile, IsOk());
  EXPECT_EQ(profile->user_id, "u1");
  EXPECT_EQ(profile->phone_country_code, "+86");
  EXPECT_EQ(profile->phone_number, "13800138000");
  EXPECT_EQ(profile->phone_e164, kPhoneAE164);

  // The code is spent; the token answers its owner's retry with OK.
  EXPECT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsSamePhone());
}

TEST_F(PhoneChangeTest, UserMovesToAnotherPhone) {
  Bind("u1", kPhoneAE164);
  const std::string token = TokenFor("u1", kPhoneB);
  ASSERT_THAT(core()->Update(Call("u1"), token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneBE164);
  // The old phone is free for someone else.
  absl::StatusOr<std::string> owner = users()->FindOwner(kPhoneAE164);
  ASSERT_THAT(owner, IsOk());
  EXPECT_EQ(*owner, "");
  const std::string token2 = TokenFor("u2", kPhoneA);
  EXPECT_THAT(core()->Update(Call("u2"), token2), IsOk());
}

TEST_F(PhoneChangeTest, NumbersAreCanonicalizedAcrossCalls) {
  // Sent as "138 0013 8000", verified as "+86 13800138000".
  const std::string code = SendCode("u1", kPhoneA);
  absl::StatusOr<VerifyResult> verified =
      VerifyNew("u1", "+86 13800138000", code);
  ASSERT_THAT(verified, IsOk());
  ASSERT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneAE164);
}

TEST_F(PhoneChangeTest, ForeignNumberProfile) {
  absl::StatusOr<SendCodeResult> sent =
      core()->SendCode(Call("u1"), {"+1", "(415) 555-0100", kNew});
  ASSERT_THAT(sent, IsOk());
  const std::string code = Outbox().back()["code"].get<std::string>();
  VerifyInput input;
  input.new_phone_country_code = "1";
  input.new_phone_number = "415.555.0100";
  input.new_phone_pass_code = code;
  absl::StatusOr<VerifyResult> verified = core()->Verify(Call("u1"), input);
  ASSERT_THAT(verified, IsOk());
  ASSERT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
  absl::StatusOr<ProfileView> profile = core()->GetProfile(Call("u1"));
  ASSERT_THAT(profile, IsOk());
  EXPECT_EQ(profile->phone_country_code, "+1");
  EXPECT_EQ(profile->phone_number, "4155550100");
  EXPECT_EQ(profile->phone_e164, "+14155550100");
}

TEST_F(PhoneChangeTest, ChineseCallerGetsAChineseSms) {
  const std::string code =
      SendCode("u1", kPhoneA, kNew, Language::kChinese);
  ASSERT_FALSE(code.empty());
  EXPECT_EQ(Outbox().back()["text"],
            absl::StrCat("【Profile】验证码 ", code,
                         "，用于将此手机号绑定到您的账号，5 "
                         "分钟内有效。请勿告诉他人。"));
}

TEST_F(PhoneChangeTest, SmsTextRoundsTheTtlUpToMinutes) {
  options_.code_ttl = absl::Seconds(60);
  memory_->ResetCore(options_);
  std::string code = SendCode("u1", kPhoneA);
  EXPECT_EQ(Outbox().back()["text"],
            absl::StrCat("Profile: ", code,
                         " is your code to link this number to your "
                         "account. It expires in 1 min. Do not share it."));
  options_.code_ttl = absl::Seconds(90);
  memory_->ResetCore(options_);
  code = SendCode("u1", kPhoneB);
  EXPECT_EQ(Outbox().back()["text"],
            absl::StrCat("Profile: ", code,
                         " is your code to link this number to your "
                         "account. It expires in 2 min. Do not share it."));
}

TEST_F(PhoneChangeTest, CodeLengthIsConfigurable) {
  options_.code_length = 8;
  memory_->ResetCore(options_);
  EXPECT_THAT(SendCode("u1", kPhoneA), MatchesRegex("[0-9]{8}"));
}

TEST_F(PhoneChangeTest, CodesDiffer) {
  // Two codes to two phones: not a constant.
  const std::string a = SendCode("u1", kPhoneA);
  const std::string b = SendCode("u1", kPhoneB);
  const std::string c = SendCode("u1", kPhoneC);
  EXPECT_FALSE(a == b && b == c);
}

TEST_F(PhoneChangeTest, GetProfileOfANewUserIsEmpty) {
  absl::StatusOr<ProfileView> profile = core()->GetProfile(Call("fresh"));
  ASSERT_THAT(profile, IsOk());
  EXPECT_EQ(profile->user_id, "fresh");
  EXPECT_EQ(profile->phone_country_code, "");
  EXPECT_EQ(profile->phone_number, "");
  EXPECT_EQ(profile->phone_e164, "");
}

TEST_F(PhoneChangeTest, GetProfileOfACorruptStoredPhoneIsInternal) {
  Bind("u1", "not-a-phone");
  EXPECT_THAT(core()->GetProfile(Call("u1")),
              StatusIs(absl::StatusCode::kInternal, ApiCode::kInternal));
}

// ---------------------------------------------------------------------------
// SendCode errors.

TEST_F(PhoneChangeTest, SendCodeRefusesUnknownPurposes) {
  for (int purpose : {0, 3, 99, -1}) {
    absl::StatusOr<SendCodeResult> sent =
        core()->SendCode(Call("u1"),
                         {"+86", kPhoneA, static_cast<CodePurpose>(purpose)});
    ExpectMalformed(sent.status(), "purpose");
  }
  EXPECT_THAT(Outbox(), SizeIs(0));
}

TEST_F(PhoneChangeTest, SendCodeRefusesMalformedPhones) {
  ExpectMalformed(
      core()->SendCode(Call("u1"), {"+86", "12345", kNew}).status(),
      "phone_number");
  ExpectMalformed(core()->SendCode(Call("u1"), {"+86", "", kNew}).status(),
                  "phone_number");
  ExpectMalformed(
      core()->SendCode(Call("u1"), {"+999", kPhoneA, kNew}).status(),
      "phone_country_code");
  ExpectMalformed(core()->SendCode(Call("u1"), {"", kPhoneA, kNew}).status(),
                  "phone_country_code");
  EXPECT_THAT(Outbox(), SizeIs(0));
}

TEST_F(PhoneChangeTest, SendCodeToTheCurrentPhoneAsNewIsSamePhone) {
  Bind("u1", kPhoneAE164);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              IsSamePhone());
  EXPECT_THAT(Outbox(), SizeIs(0));
}

// No oracle: a number bound to another account answers as a free one, and
// its holder gets a notice without a code.
TEST_F(PhoneChangeTest, SendCodeToAnotherAccountsPhoneAnswersAsFreeAndNotifies) {
  absl::StatusOr<SendCodeResult> free =
      core()->SendCode(Call("u3"), {"+86", kPhoneB, kNew});
  ASSERT_THAT(free, IsOk());
  Bind("u2", kPhoneAE164);
  absl::StatusOr<SendCodeResult> taken =
      core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew});
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->expires_in, free->expires_in);
  EXPECT_EQ(taken->resend_after, free->resend_after);
  ASSERT_THAT(Outbox(), SizeIs(2));
  const nlohmann::json notice = Outbox()[1];
  EXPECT_EQ(notice["phone_e164"], kPhoneAE164);
  EXPECT_EQ(notice["code"], "");
  EXPECT_THAT(notice["text"].get<std::string>(),
              ::testing::HasSubstr("already linked to yours"));
  // The limits count it like any send.
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              IsTooFrequent());
  // And no guess can get past it: there is no code to find, and 2035 comes
  // only after a right code.
  EXPECT_THAT(VerifyNew("u1", kPhoneA, "000000"), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, OldPhoneCodeGoesOnlyToTheCurrentPhone) {
  // No phone yet: nothing to verify.
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kOld}),
              IsNoCurrentPhone());
  Bind("u1", kPhoneAE164);
  // Not the account's phone (free, or another account's).
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneB, kOld}),
              IsOldPhoneMismatch());
  Bind("u2", kPhoneCE164);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneC, kOld}),
              IsOldPhoneMismatch());
  EXPECT_THAT(Outbox(), SizeIs(0));

  const std::string code = SendCode("u1", kPhoneA, kOld);
  EXPECT_THAT(code, MatchesRegex("[0-9]{6}"));
  EXPECT_EQ(Outbox().back()["phone_e164"], kPhoneAE164);
}

TEST_F(PhoneChangeTest, SendCodeCooldown) {
  const std::string first = SendCode("u1", kPhoneA);
  ASSERT_FALSE(first.empty());
  clock_->Advance(absl::Seconds(20));
  absl::StatusOr<SendCodeResult> again =
      core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew});
  EXPECT_THAT(again, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(again.status()), 40);
  EXPECT_THAT(Outbox(), SizeIs(1));
  // The refused request did not replace the code that was sent.
  absl::StatusOr<VerifyResult> verified = VerifyNew("u1", kPhoneA, first);
  EXPECT_THAT(verified, IsOk());

  clock_->Advance(absl::Seconds(40));
  EXPECT_FALSE(SendCode("u1", kPhoneA).empty());
}

TEST_F(PhoneChangeTest, ANewCodeReplacesTheOldOne) {
  const std::string first = SendCode("u1", kPhoneA);
  clock_->Advance(absl::Seconds(60));
  const std::string second = SendCode("u1", kPhoneA);
  if (first != second) {
    EXPECT_THAT(VerifyNew("u1", kPhoneA, first), IsWrongCode());
  }
  EXPECT_THAT(VerifyNew("u1", kPhoneA, second), IsOk());
}

TEST_F(PhoneChangeTest, FailedSmsIsUnavailableAndChangesNothing) {
  // A code that went out before the failure.
  const std::string code = SendCode("u1", kPhoneA);
  ASSERT_FALSE(code.empty());
  options_.send_limits.resend_interval = absl::ZeroDuration();
  memory_->ResetCore(options_);
  memory_->ResetLimiter();
  sms_->set_failing(true);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<SendCodeResult> sent =
      core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew});
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(sent, StatusIs(absl::StatusCode::kUnavailable,
                             ApiCode::kSmsFailed));
  ASSERT_THAT(sms_->failed(), SizeIs(1));
  // The failure is logged without the code or the full number.
  EXPECT_THAT(log, HasSubstr("sms delivery failed"));
  EXPECT_THAT(log, Not(HasSubstr(sms_->failed()[0].code)));
  EXPECT_THAT(log, Not(HasSubstr(kPhoneAE164)));

  // The earlier code is still the live one: the failed send replaced
  // nothing.
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

TEST_F(PhoneChangeTest, FailedSmsStillCountsAgainstTheLimits) {
  sms_->set_failing(true);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
  // A failing provider does not lift the cooldown: send, guess, send...
  // would otherwise be unlimited.
  sms_->set_failing(false);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              IsTooFrequent());
}

// Codes belong to the user who asked for them.
TEST_F(PhoneChangeTest, AnotherUsersGuessesNeitherUseNorBurnACode) {
  const std::string code = SendCode("u1", kPhoneA);
  ASSERT_FALSE(code.empty());
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(VerifyNew("u2", kPhoneA, "000000"), IsNoLiveCode());
  }
  EXPECT_THAT(VerifyNew("u2", kPhoneA, code), IsNoLiveCode());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

// No oracle: before a right code, a bound number answers as a free one.
TEST_F(PhoneChangeTest, VerifyTellsPhoneTakenOnlyAfterARightCode) {
  const std::string code = SendCode("u1", kPhoneA);
  ASSERT_FALSE(code.empty());
  Bind("u2", kPhoneAE164);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, "000000"), IsWrongCode());
  EXPECT_THAT(VerifyNew("u3", kPhoneA, "000000"), IsNoLiveCode());
  EXPECT_THAT(VerifyNew("u3", kPhoneB, "000000"), IsNoLiveCode());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsPhoneTaken());
}

TEST_F(PhoneChangeTest, HourlyCapPerUserApplies) {
  options_.send_limits.max_per_user_per_hour = 2;
  memory_->ResetCore(options_);
  memory_->ResetLimiter();
  SendCode("u1", kPhoneA);
  SendCode("u1", kPhoneB);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneC, kNew}),
              IsTooFrequent());
}

// ---------------------------------------------------------------------------
// Test numbers.

TEST_F(PhoneChangeTest, TestNumbersSendNoSmsAndHaveNoCooldown) {
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<SendCodeResult> sent =
        core()->SendCode(Call("u1"), {"+86", kTestPhone, kNew});
    ASSERT_THAT(sent, IsOk()) << i;
    EXPECT_EQ(sent->expires_in, absl::Minutes(5));
    EXPECT_EQ(sent->resend_after, absl::ZeroDuration());
  }
  EXPECT_THAT(Outbox(), SizeIs(0));
  // No limiter slot was taken either: a real number is still allowed.
  EXPECT_FALSE(SendCode("u1", kPhoneA).empty());
}

TEST_F(PhoneChangeTest, TestNumberVerifiesWithItsFixedCodeRepeatedly) {
  EXPECT_THAT(VerifyNew("u1", kTestPhone, "000000"), IsWrongCode());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<VerifyResult> verified =
        VerifyNew("u1", kTestPhone, kTestCode);
    ASSERT_THAT(verified, IsOk()) << i;
    if (i == 2) {
      ASSERT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
    }
  }
  EXPECT_EQ(PhoneOf("u1"), kTestPhoneE164);
  // Another account can still be told the test number is taken.
  EXPECT_THAT(VerifyNew("u2", kTestPhone, kTestCode), IsPhoneTaken());
}

// The core hands --max_code_attempts and --code_ttl to the test numbers'
// verifier: their fixed code can be guessed no more than a texted one.
TEST_F(PhoneChangeTest, TestNumberCodeStopsAfterMaxWrongCodesForTheCodeTtl) {
  options_.max_code_attempts = 2;
  options_.code_ttl = absl::Minutes(3);
  memory_->ResetCore(options_);
  EXPECT_THAT(VerifyNew("u1", kTestPhone, "000000"), IsWrongCode());
  EXPECT_THAT(VerifyNew("u1", kTestPhone, "000001"), IsWrongCode());
  EXPECT_THAT(VerifyNew("u1", kTestPhone, kTestCode), IsNoLiveCode());
  clock_->Advance(absl::Minutes(3) - absl::Seconds(1));
  EXPECT_THAT(VerifyNew("u1", kTestPhone, kTestCode), IsNoLiveCode());
  clock_->Advance(absl::Seconds(1));
  EXPECT_THAT(VerifyNew("u1", kTestPhone, kTestCode), IsOk());
}

TEST_F(PhoneChangeTest, TestNumberIgnoresAStoredCode) {
  // Even if a stored code existed for the test number, the fixed code
  // decides.
  const CodeKey key{kTestPhoneE164, CodePurpose::kNewPhone, "u1"};
  ASSERT_THAT(codes()->Put(key, CodeDigest(kSecret, key, "111111"),
                           clock_->Now() + absl::Minutes(5), 5),
              IsOk());
  EXPECT_THAT(VerifyNew("u1", kTestPhone, "111111"), IsWrongCode());
  EXPECT_THAT(VerifyNew("u1", kTestPhone, kTestCode), IsOk());
}

// ---------------------------------------------------------------------------
// Verify errors.

TEST_F(PhoneChangeTest, VerifyRefusesMalformedInput) {
  const std::string code = SendCode("u1", kPhoneA);
  ExpectMalformed(VerifyNew("u1", "12345", code).status(), "new_phone_number");
  ExpectMalformed(VerifyNew("u1", "", code).status(), "new_phone_number");
  ExpectMalformed(VerifyNew("u1", "１３８００１３８０００", code).status(),
                  "new_phone_number");
  VerifyInput input;
  input.new_phone_country_code = "+999";
  input.new_phone_number = kPhoneA;
  input.new_phone_pass_code = code;
  ExpectMalformed(core()->Verify(Call("u1"), input).status(),
                  "new_phone_country_code");

  ExpectMalformed(VerifyNew("u1", kPhoneA, "").status(),
                  "new_phone_pass_code");
  ExpectMalformed(VerifyNew("u1", kPhoneA, "12ab56").status(),
                  "new_phone_pass_code");
  ExpectMalformed(VerifyNew("u1", kPhoneA, " 123456").status(),
                  "new_phone_pass_code");
  ExpectMalformed(VerifyNew("u1", kPhoneA, "１２３４５６").status(),
                  "new_phone_pass_code");
  ExpectMalformed(VerifyNew("u1", kPhoneA, std::string(17, '1')).status(),
                  "new_phone_pass_code");

  // None of that cost an attempt or the code.
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

TEST_F(PhoneChangeTest, SixteenDigitPassCodeIsWellFormed) {
  SendCode("u1", kPhoneA);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, std::string(16, '1')), IsWrongCode());
}

TEST_F(PhoneChangeTest, CodeNeverSentIsNoLiveCode) {
  EXPECT_THAT(VerifyNew("u1", kPhoneA, "123456"), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, WrongCodesBelowTheLimitKeepTheCode) {
  const std::string code = SendCode("u1", kPhoneA);
  const std::string wrong = WrongCode(code);
  for (int i = 0; i < options_.max_code_attempts - 1; ++i) {
    EXPECT_THAT(VerifyNew("u1", kPhoneA, wrong), IsWrongCode()) << i;
  }
  // One attempt left: the right code still works now...
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

TEST_F(PhoneChangeTest, MaxWrongCodesBurnTheCode) {
  const std::string code = SendCode("u1", kPhoneA);
  const std::string wrong = WrongCode(code);
  for (int i = 0; i < options_.max_code_attempts; ++i) {
    EXPECT_THAT(VerifyNew("u1", kPhoneA, wrong), IsWrongCode()) << i;
  }
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, CodeExpiresExactlyAtItsTtl) {
  const absl::Time sent_at = clock_->Now();
  const std::string code = SendCode("u1", kPhoneA);
  clock_->Set(sent_at + options_.code_ttl - absl::Nanoseconds(1));
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());

  const std::string code_b = SendCode("u1", kPhoneB);
  clock_->Advance(options_.code_ttl);
  EXPECT_THAT(VerifyNew("u1", kPhoneB, code_b), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, CodeIsSingleUse) {
  const std::string code = SendCode("u1", kPhoneA);
  ASSERT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, CodeIsBoundToItsPhone) {
  const std::string code = SendCode("u1", kPhoneA);
  EXPECT_THAT(VerifyNew("u1", kPhoneB, code), IsNoLiveCode());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

TEST_F(PhoneChangeTest, OldPhoneCodeDoesNotVerifyANewPhone) {
  // u1's old-phone code for A cannot make A someone's new phone, even after
  // A is released.
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  Bind("u1", kPhoneBE164);
  EXPECT_THAT(VerifyNew("u2", kPhoneA, old_code), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, VerifyToTheCurrentPhoneIsSamePhone) {
  Bind("u1", kPhoneAE164);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, "123456"), IsSamePhone());
}

TEST_F(PhoneChangeTest, VerifyOfATakenPhoneKeepsTheCode) {
  const std::string code = SendCode("u1", kPhoneA);
  // Someone else bound A after the code was sent.
  Bind("u2", kPhoneAE164);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsPhoneTaken());
  // Once A is free again, the code was not used up by the refusal.
  Bind("u2", kPhoneCE164);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

TEST_F(PhoneChangeTest, TooManyTokensIsResourceExhausted) {
  memory_->ResetTokens(1);
  const std::string token = TokenFor("u2", kPhoneB);
  const std::string code = SendCode("u1", kPhoneA);
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  // u2's own re-verification replaces its token even at capacity.
  EXPECT_THAT(core()->Update(Call("u2"), token), IsOk());
}

TEST_F(PhoneChangeTest, TooManyTokensKeepsTheCode) {
  // "A verification consumes its codes only once every other check has
  // passed": a refusal for lack of token room must not burn the code.
  memory_->ResetTokens(1);
  const std::string token = TokenFor("u2", kPhoneB);
  const std::string code = SendCode("u1", kPhoneA);
  ASSERT_THAT(VerifyNew("u1", kPhoneA, code),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  ASSERT_THAT(core()->Update(Call("u2"), token), IsOk());
  EXPECT_THAT(VerifyNew("u1", kPhoneA, code), IsOk());
}

// ---------------------------------------------------------------------------
// verify_old_phone mode (the default).

// Issue 12: an account that has a phone proves it unless configured not to
// (--verify_old_phone's default is this one).
TEST(PhoneChangeOptionsTest, VerifyOldPhoneIsOnByDefault) {
  EXPECT_TRUE(PhoneChangeOptions().verify_old_phone);
}

TEST_F(PhoneChangeTest, VerifyOldPhoneHappyPath) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  absl::StatusOr<VerifyResult> verified =
      VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code);
  ASSERT_THAT(verified, IsOk());
  ASSERT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneBE164);
}

TEST_F(PhoneChangeTest, VerifyOldPhoneConsumesBothCodes) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  ASSERT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
  const CodeKey old_key{kPhoneAE164, CodePurpose::kOldPhone, "u1"};
  const CodeKey new_key{kPhoneBE164, CodePurpose::kNewPhone, "u1"};
  EXPECT_THAT(codes()->Check(old_key, CodeDigest(kSecret, old_key, old_code)),
              IsNoLiveCode());
  EXPECT_THAT(codes()->Check(new_key, CodeDigest(kSecret, new_key, new_code)),
              IsNoLiveCode());
}

TEST_F(PhoneChangeTest, VerifyOldPhoneNeedsTheOldFields) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);

  // Only the new phone.
  ExpectMalformed(VerifyNew("u1", kPhoneB, new_code).status(),
                  "old_phone_country_code");
  VerifyInput input;
  input.new_phone_country_code = "+86";
  input.new_phone_number = kPhoneB;
  input.new_phone_pass_code = new_code;
  input.old_phone_country_code = "+86";
  ExpectMalformed(core()->Verify(Call("u1"), input).status(),
                  "old_phone_number");
  ExpectMalformed(
      VerifyBoth("u1", kPhoneB, new_code, "12345", old_code).status(),
      "old_phone_number");
  ExpectMalformed(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, "").status(),
                  "old_phone_pass_code");
  ExpectMalformed(
      VerifyBoth("u1", kPhoneB, new_code, kPhoneA, "12x456").status(),
      "old_phone_pass_code");
  input.old_phone_country_code = "+999";
  input.old_phone_number = kPhoneA;
  input.old_phone_pass_code = old_code;
  ExpectMalformed(core()->Verify(Call("u1"), input).status(),
                  "old_phone_country_code");

  // None of that consumed either code.
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
}

TEST_F(PhoneChangeTest, VerifyOldPhoneMismatch) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneC, old_code),
              IsOldPhoneMismatch());
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
}

TEST_F(PhoneChangeTest, WrongOldCodeDoesNotConsumeTheNewCode) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(
      VerifyBoth("u1", kPhoneB, new_code, kPhoneA, WrongCode(old_code)),
      IsWrongCode());
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
}

TEST_F(PhoneChangeTest, WrongNewCodeDoesNotConsumeTheOldCode) {
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(
      VerifyBoth("u1", kPhoneB, WrongCode(new_code), kPhoneA, old_code),
      IsWrongCode());
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
}

// The wrong-code caps are read with the verification cap, before the
// lookup, and answered where each code would be checked.
TEST_F(PhoneChangeTest, AnOldPhoneAtItsWrongCodeCapCostsNoNewCode) {
  options_.send_limits.max_code_failures_per_day = 1;
  memory_->ResetCore(options_);
  memory_->ResetLimiter();
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, WrongCode(old_code)),
              IsWrongCode());
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code),
              IsTooFrequent());
  // A mismatched old phone is told before any cap.
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneC, old_code),
              IsOldPhoneMismatch());
  SkipOldPhone();
  EXPECT_THAT(VerifyNew("u1", kPhoneB, new_code), IsOk());
}

TEST_F(PhoneChangeTest, ANewPhoneAtItsWrongCodeCapLeavesTheOldCodeAlone) {
  options_.send_limits.max_code_failures_per_day = 1;
  memory_->ResetCore(options_);
  memory_->ResetLimiter();
  Bind("u1", kPhoneAE164);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, WrongCode(new_code), kPhoneA,
                         WrongCode(old_code)),
              IsWrongCode());
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, WrongCode(old_code)),
              IsTooFrequent());
  // Neither wrong old code was checked: the old phone is not capped.
  const std::string other_code = SendCode("u1", kPhoneC, kNew);
  EXPECT_THAT(VerifyBoth("u1", kPhoneC, other_code, kPhoneA, old_code), IsOk());
}

TEST_F(PhoneChangeTest, NewPhoneCodeDoesNotPassAsTheOldPhoneCode) {
  // Purpose binding: a NEW_PHONE code never validates as OLD_PHONE. With no
  // old-phone code sent, even the right digits are "no live code".
  Bind("u1", kPhoneAE164);
  const std::string new_code = SendCode("u1", kPhoneB, kNew);
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, new_code),
              IsNoLiveCode());
  // And the new code survived that refusal.
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, kPhoneA, old_code), IsOk());
}

TEST_F(PhoneChangeTest, VerifyOldPhoneNeedsNothingOldWithoutAPhone) {
  const std::string new_code = SendCode("u1", kPhoneA);
  absl::StatusOr<VerifyResult> verified = VerifyNew("u1", kPhoneA, new_code);
  ASSERT_THAT(verified, IsOk());
  EXPECT_THAT(core()->Update(Call("u1"), verified->token), IsOk());
}

TEST_F(PhoneChangeTest, OldFieldsAreIgnoredWhenNotVerifyingOldPhone) {
  SkipOldPhone();
  Bind("u1", kPhoneAE164);
  const std::string new_code = SendCode("u1", kPhoneB);
  // Junk old fields: the mode is off, so they are not looked at.
  EXPECT_THAT(VerifyBoth("u1", kPhoneB, new_code, "junk", "junk"), IsOk());
}

// ---------------------------------------------------------------------------
// Update errors.

TEST_F(PhoneChangeTest, UpdateRefusesMalformedTokens) {
  ExpectMalformed(core()->Update(Call("u1"), ""), "update_phone_token");
  ExpectMalformed(core()->Update(Call("u1"), std::string(129, 'a')),
                  "update_phone_token");
  for (const char* token : {"abc def", "abc+def/ghi=", "abc\n", "tok.en",
                            "\xE4\xB8\xAD"}) {
    ExpectMalformed(core()->Update(Call("u1"), token), "update_phone_token");
  }
}

TEST_F(PhoneChangeTest, UnknownTokenIsNotFound) {
  EXPECT_THAT(core()->Update(Call("u1"), std::string(128, 'a')),
              IsTokenNotFound());
  EXPECT_THAT(core()->Update(Call("u1"), "AAAA-_zz"), IsTokenNotFound());
}

TEST_F(PhoneChangeTest, TokenOfAnotherUserIsPermissionDenied) {
  const std::string token = TokenFor("u1", kPhoneA);
  EXPECT_THAT(core()->Update(Call("u2"), token), IsTokenOtherUser());
  EXPECT_EQ(PhoneOf("u2"), "");
  // Still good for its owner.
  EXPECT_THAT(core()->Update(Call("u1"), token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneAE164);
}

TEST_F(PhoneChangeTest, TokenExpiresExactlyAtItsTtl) {
  const std::string code_a = SendCode("u1", kPhoneA);
  const std::string code_b = SendCode("u2", kPhoneB);
  const absl::Time verified_at = clock_->Now();
  absl::StatusOr<VerifyResult> a = VerifyNew("u1", kPhoneA, code_a);
  absl::StatusOr<VerifyResult> b = VerifyNew("u2", kPhoneB, code_b);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  clock_->Set(verified_at + options_.token_ttl - absl::Nanoseconds(1));
  EXPECT_THAT(core()->Update(Call("u1"), a->token), IsOk());
  clock_->Set(verified_at + options_.token_ttl);
  EXPECT_THAT(core()->Update(Call("u2"), b->token), IsTokenNotFound());
  EXPECT_EQ(PhoneOf("u2"), "");
}

TEST_F(PhoneChangeTest, ANewVerificationRevokesTheUsersPreviousToken) {
  const std::string first = TokenFor("u1", kPhoneA);
  const std::string second = TokenFor("u1", kPhoneB);
  EXPECT_THAT(core()->Update(Call("u1"), first), IsTokenNotFound());
  EXPECT_THAT(core()->Update(Call("u1"), second), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneBE164);
}

TEST_F(PhoneChangeTest, StaleTokenAfterAnotherTokenChangedThePhone) {
  // Two server instances share the user store but each keeps its own
  // tokens. u1 verifies on both; once one token moves the phone, the other
  // token's grant (made for the old phone) is stale. Each verification
  // proves the old phone with its own code: no cooldown between the two.
  options_.send_limits.resend_interval = absl::ZeroDuration();
  memory_->ResetCore(options_);
  memory_->ResetLimiter();
  std::unique_ptr<Core> other_core =
      memory_->NewCore(options_, memory_->NewTokenStore());
  PhoneChange* other = &other_core->phone_change();

  Bind("u1", kPhoneAE164);
  const std::string stale = TokenFor("u1", kPhoneB);
  const std::string code = SendCode("u1", kPhoneC);
  const std::string old_code = SendCode("u1", kPhoneA, kOld);
  VerifyInput input;
  input.new_phone_country_code = "+86";
  input.new_phone_number = kPhoneC;
  input.new_phone_pass_code = code;
  input.old_phone_country_code = "+86";
  input.old_phone_number = kPhoneA;
  input.old_phone_pass_code = old_code;
  absl::StatusOr<VerifyResult> fresh = other->Verify(Call("u1"), input);
  ASSERT_THAT(fresh, IsOk());
  ASSERT_THAT(other->Update(Call("u1"), fresh->token), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneCE164);

  EXPECT_THAT(core()->Update(Call("u1"), stale), IsOldPhoneMismatch());
  EXPECT_EQ(PhoneOf("u1"), kPhoneCE164);
}

TEST_F(PhoneChangeTest, StaleTokenAfterTheAccountsPhoneChangedElsewhere) {
  const std::string token = TokenFor("u1", kPhoneA);  // granted for "" -> A
  Bind("u1", kPhoneCE164);  // e.g. an admin tool, or another instance
  EXPECT_THAT(core()->Update(Call("u1"), token), IsOldPhoneMismatch());
  EXPECT_EQ(PhoneOf("u1"), kPhoneCE164);
}

TEST_F(PhoneChangeTest, PhoneTakenBetweenVerifyAndUpdate) {
  const std::string token = TokenFor("u1", kPhoneA);
  Bind("u2", kPhoneAE164);
  EXPECT_THAT(core()->Update(Call("u1"), token), IsPhoneTaken());
  EXPECT_EQ(PhoneOf("u1"), "");
}

TEST_F(PhoneChangeTest, TwoUsersRacingForOnePhoneHaveOneWinner) {
  // Tokens outlive the phone's 60 s cooldown between the two sends.
  options_.token_ttl = absl::Minutes(10);
  memory_->ResetCore(options_);
  for (int round = 0; round < 10; ++round) {
    const std::string alice = absl::StrCat("alice", round);
    const std::string bob = absl::StrCat("bob", round);
    const std::string phone = absl::StrCat("138 0013 81", 10 + round);
    const std::string token_a = TokenFor(alice, phone);
    clock_->Advance(absl::Seconds(60));  // the phone's cooldown
    const std::string token_b = TokenFor(bob, phone);
    absl::Status result_a;
    absl::Status result_b;
    absl::Notification start;
    std::thread a([&] {
      start.WaitForNotification();
      result_a = core()->Update(Call(alice), token_a);
    });
    std::thread b([&] {
      start.WaitForNotification();
      result_b = core()->Update(Call(bob), token_b);
    });
    start.Notify();
    a.join();
    b.join();
    EXPECT_NE(result_a.ok(), result_b.ok()) << result_a << " / " << result_b;
    EXPECT_THAT(result_a.ok() ? result_b : result_a, IsPhoneTaken());
  }
}

TEST_F(PhoneChangeTest, ConcurrentSpendsOfOneTokenChangeThePhoneOnce) {
  const std::string token = TokenFor("u1", kPhoneA);
  constexpr int kThreads = 16;
  std::atomic<int> ok{0};
  std::atomic<int> not_found{0};
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.WaitForNotification();
      absl::Status status = core()->Update(Call("u1"), token);
      if (status.ok()) ++ok;
      if (ApiCodeOf(status) == ApiCode::kTokenNotFound) ++not_found;
    });
  }
  start.Notify();
  for (auto& thread : threads) thread.join();
  // One spend took the token and changed the phone; the others, the
  // owner's retries, waited for it and were told it succeeded.
  EXPECT_EQ(ok.load(), kThreads);
  EXPECT_EQ(not_found.load(), 0);
  EXPECT_EQ(PhoneOf("u1"), kPhoneAE164);
}

TEST_F(PhoneChangeTest, AuditLogMasksPhonesAndOmitsTheToken) {
  Bind("u1", kPhoneAE164);
  const std::string token = TokenFor("u1", kPhoneB);
  ::testing::internal::CaptureStderr();
  absl::Status updated = core()->Update(Call("u1"), token);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_THAT(updated, IsOk());
  EXPECT_THAT(log, HasSubstr("phone_change"));
  EXPECT_THAT(log, HasSubstr("+86*******8000"));
  EXPECT_THAT(log, HasSubstr("+86*******8001"));
  EXPECT_THAT(log, Not(HasSubstr(kPhoneAE164)));
  EXPECT_THAT(log, Not(HasSubstr(kPhoneBE164)));
  EXPECT_THAT(log, Not(HasSubstr(token)));
}

// ---------------------------------------------------------------------------
// Retries: idempotency keys and spent tokens.

Caller KeyedCall(std::string user_id, std::string key) {
  Caller caller = Call(std::move(user_id));
  caller.idempotency_key = std::move(key);
  return caller;
}

TEST_F(PhoneChangeTest, SendCodeRepeatWithItsKeyReplaysTheFirstAnswer) {
  absl::StatusOr<SendCodeResult> first =
      core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew});
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->expires_in, absl::Minutes(5));
  EXPECT_EQ(first->resend_after, absl::Seconds(60));
  clock_->Advance(absl::Seconds(10));
  // The same request, typed differently: still the same request.
  absl::StatusOr<SendCodeResult> again = core()->SendCode(
      KeyedCall("u1", "k-1"), {"86", "13800138000", kNew});
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->expires_in, first->expires_in);
  EXPECT_EQ(again->resend_after, first->resend_after);
  EXPECT_EQ(sms_->count(), 1u);
  // Without the key it is a new request, inside the cooldown.
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              IsTooFrequent());
}

TEST_F(PhoneChangeTest, SendCodeKeyWithAnotherRequestIsKeyReused) {
  ASSERT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsOk());
  EXPECT_THAT(
      core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneB, kNew}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ApiCode::kIdempotencyKeyReused));
  Bind("u1", kPhoneCE164);
  EXPECT_THAT(
      core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kOld}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ApiCode::kIdempotencyKeyReused));
  EXPECT_EQ(sms_->count(), 1u);
}

TEST_F(PhoneChangeTest, SendCodeKeysBelongToTheirUser) {
  ASSERT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsOk());
  // Another user's key of the same spelling is another key.
  ASSERT_THAT(core()->SendCode(KeyedCall("u2", "k-1"), {"+86", kPhoneB, kNew}),
              IsOk());
  EXPECT_EQ(sms_->count(), 2u);
}

TEST_F(PhoneChangeTest, SendCodeFailedFirstAttemptIsNotRemembered) {
  sms_->set_failing(true);
  ::testing::internal::CaptureStderr();
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
  ::testing::internal::GetCapturedStderr();
  sms_->set_failing(false);
  // The retry runs anew (and meets the cooldown the failed send started).
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsTooFrequent());
  clock_->Advance(absl::Seconds(60));
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsOk());
  EXPECT_EQ(sms_->count(), 1u);
  // A refused request is not remembered either.
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-2"), {"+86", kPhoneA, kNew}),
              IsTooFrequent());
  clock_->Advance(absl::Seconds(60));
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-2"), {"+86", kPhoneA, kNew}),
              IsOk());
  EXPECT_EQ(sms_->count(), 2u);
}

TEST_F(PhoneChangeTest, SendCodeReplayLastsTheCodeTtl) {
  ASSERT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsOk());
  clock_->Advance(absl::Minutes(5) - absl::Milliseconds(1));
  ASSERT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              IsOk());
  EXPECT_EQ(sms_->count(), 1u);
  clock_->Advance(absl::Milliseconds(1));
  // Forgotten: the key runs anew (and another request may now use it).
  ASSERT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneB, kNew}),
              IsOk());
  EXPECT_EQ(sms_->count(), 2u);
}

TEST_F(PhoneChangeTest, SendCodeTestNumberReplaysToo) {
  absl::StatusOr<SendCodeResult> first =
      core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kTestPhone, kNew});
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<SendCodeResult> again =
      core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kTestPhone, kNew});
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->resend_after, absl::ZeroDuration());
  EXPECT_THAT(core()->SendCode(KeyedCall("u1", "k-1"), {"+86", kPhoneA, kNew}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ApiCode::kIdempotencyKeyReused));
}

// An SMS sender that holds every send until released.
class GatedSmsSender final : public SmsSender {
 public:
  absl::Status Send(const SmsMessage& message) override {
    entered_.Notify();
    release_.WaitForNotification();
    return sink_.Send(message);
  }
  void WaitUntilEntered() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }
  size_t count() const { return sink_.count(); }

 private:
  absl::Notification entered_;
  absl::Notification release_;
  CapturingSmsSender sink_;
};

TEST_F(PhoneChangeTest, ConcurrentDuplicatesTextOnceAndAnswerAlike) {
  GatedSmsSender gated;
  InMemoryCoreOptions memory_options;
  memory_options.core = options_;
  memory_options.clock = clock_;
  memory_options.sms = &gated;
  InMemoryCore memory(std::move(memory_options));
  constexpr int kThreads = 4;
  std::vector<absl::StatusOr<SendCodeResult>> results(
      kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    results[0] = memory.core()->SendCode(KeyedCall("u1", "k-1"),
                                         {"+86", kPhoneA, kNew});
  });
  gated.WaitUntilEntered();
  for (int t = 1; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      results[t] = memory.core()->SendCode(KeyedCall("u1", "k-1"),
                                           {"+86", kPhoneA, kNew});
    });
  }
  // The duplicates are waiting for the first call.
  absl::SleepFor(absl::Milliseconds(100));
  gated.Release();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(gated.count(), 1u);
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->expires_in, absl::Minutes(5));
    EXPECT_EQ(result->resend_after, absl::Seconds(60));
  }
}

TEST_F(PhoneChangeTest, UpdateRetriedAfterSuccessIsOkAndChangesNothing) {
  const std::string first = TokenFor("u1", kPhoneA);
  ASSERT_THAT(core()->Update(Call("u1"), first), IsOk());
  // The user moves on to another phone before the retry arrives.
  const std::string second = TokenFor("u1", kPhoneB);
  ASSERT_THAT(core()->Update(Call("u1"), second), IsOk());
  EXPECT_THAT(core()->Update(Call("u1"), first), IsOk());
  EXPECT_EQ(PhoneOf("u1"), kPhoneBE164);
  // Another user presenting the spent token learns nothing new.
  EXPECT_THAT(core()->Update(Call("u2"), first), IsTokenNotFound());
  EXPECT_EQ(PhoneOf("u2"), "");
}

TEST_F(PhoneChangeTest, UpdateRetryIsOkOnlyWithinTheTokenTtl) {
  const std::string token = TokenFor("u1", kPhoneA);
  ASSERT_THAT(core()->Update(Call("u1"), token), IsOk());
  clock_->Advance(absl::Seconds(60) - absl::Milliseconds(1));
  EXPECT_THAT(core()->Update(Call("u1"), token), IsOk());
  clock_->Advance(absl::Milliseconds(1));
  EXPECT_THAT(core()->Update(Call("u1"), token), IsTokenNotFound());
}

TEST_F(PhoneChangeTest, UpdateThatFailedIsNotOkOnRetry) {
  const std::string token = TokenFor("u1", kPhoneA);
  Bind("u2", kPhoneAE164);
  EXPECT_THAT(core()->Update(Call("u1"), token), IsPhoneTaken());
  EXPECT_THAT(core()->Update(Call("u1"), token), IsTokenNotFound());
  EXPECT_EQ(PhoneOf("u1"), "");
}

// --- Which numbers are texted: type and region ---

auto IsNotMobile() {
  return StatusIs(absl::StatusCode::kInvalidArgument,
                  ApiCode::kNotMobileNumber);
}
auto IsRegionNotAllowed() {
  return StatusIs(absl::StatusCode::kInvalidArgument,
                  ApiCode::kRegionNotAllowed);
}

// Numbers libphonenumber's metadata types as other than (possibly) mobile.
TEST_F(PhoneChangeTest, SendCodeRefusesNumbersThatCannotBeMobile) {
  const SendCodeInput inputs[] = {
      {"+44", "0909 879 0000", kNew},  // premium rate
      {"+1", "800 234 5678", kNew},    // toll free
      {"+86", "010 1234 5678", kNew},  // fixed line
      {"+44", "020 7946 0000", kOld},  // fixed line
      {"+44", "056 1234 5678", kNew},  // VoIP
  };
  for (const SendCodeInput& input : inputs) {
    EXPECT_THAT(core()->SendCode(Call("u1"), input), IsNotMobile())
        << input.phone_number;
  }
  EXPECT_THAT(Outbox(), SizeIs(0));
  // No code could have been sent: verifying one finds none (no type check
  // there).
  VerifyInput verify;
  verify.new_phone_country_code = "+86";
  verify.new_phone_number = "010 1234 5678";
  verify.new_phone_pass_code = "123456";
  EXPECT_THAT(core()->Verify(Call("u1"), verify), IsNoLiveCode());
}

TEST_F(PhoneChangeTest, SendCodeTextsNumbersThatMayBeMobile) {
  // MOBILE, and FIXED_LINE_OR_MOBILE (NANP cannot tell them apart).
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}), IsOk());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+1", "415 555 0100", kNew}),
              IsOk());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+44", "07400 123456", kNew}),
              IsOk());
  EXPECT_THAT(Outbox(), SizeIs(3));
}

TEST_F(PhoneChangeTest, SendCodeTextsOnlyAllowedRegions) {
  options_.sms_allowed_regions = {"CN", "GB"};
  memory_->ResetCore(options_);
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+1", "415 555 0100", kNew}),
              IsRegionNotAllowed());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+49", "0151 23456789", kNew}),
              IsRegionNotAllowed());
  EXPECT_THAT(Outbox(), SizeIs(0));
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}), IsOk());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+44", "07400 123456", kNew}),
              IsOk());
  EXPECT_THAT(Outbox(), SizeIs(2));
}

TEST_F(PhoneChangeTest, SendCodeWithoutAllowedRegionsTextsEveryRegion) {
  ASSERT_TRUE(options_.sms_allowed_regions.empty());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+49", "0151 23456789", kNew}),
              IsOk());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+33", "06 12 34 56 78", kNew}),
              IsOk());
}

// Test numbers are never texted: a fixed line or a fictional number of a
// region that is not allowed still gets its fixed code.
TEST_F(PhoneChangeTest, TestNumbersAreExemptFromTypeAndRegion) {
  options_.sms_allowed_regions = {"US"};
  InMemoryCoreOptions memory_options;
  memory_options.core = options_;
  memory_options.clock = clock_;
  memory_options.sms = sms_.get();
  memory_options.code_secret = kSecret;
  memory_options.test_codes = {{"+861012345678", "246810"},
                               {"+447700900123", "135790"}};
  memory_ = std::make_unique<InMemoryCore>(std::move(memory_options));

  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", "010 1234 5678", kNew}),
              IsOk());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+44", "07700 900123", kNew}),
              IsOk());
  EXPECT_THAT(Outbox(), SizeIs(0));
  VerifyInput verify;
  verify.new_phone_country_code = "+86";
  verify.new_phone_number = "010 1234 5678";
  verify.new_phone_pass_code = "246810";
  EXPECT_THAT(core()->Verify(Call("u1"), verify), IsOk());
  // Their neighbours are not test numbers.
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", "010 1234 5679", kNew}),
              IsNotMobile());
  EXPECT_THAT(core()->SendCode(Call("u1"), {"+86", kPhoneA, kNew}),
              IsRegionNotAllowed());
}

TEST(PhoneChangeOptionsTest, AllowedRegionsMustBeKnownRegionCodes) {
  PhoneChangeOptions options;
  options.sms_allowed_regions = {"CN", "US", "GB"};
  EXPECT_THAT(options.Validate(), IsOk());
  for (const char* bad : {"XX", "cn", "UK", "CHN", "001", ""}) {
    options.sms_allowed_regions = {"CN", bad};
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--sms_allowed_regions")))
        << bad;
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("\"", bad, "\""))))
        << bad;
  }
}

}  // namespace
}  // namespace profile
