#include "server/codes/code_verifier.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codes/code_store.h"
#include "server/codes/local_code_verifier.h"
#include "server/codes/test_number_verifier.h"
#include "server/common/api_error.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::CapturingSmsSender;
using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kSecret[] = "validator-secret";
constexpr char kTestPhone[] = "+8613800138000";
constexpr char kTestCode[] = "246810";
constexpr char kOtherTestPhone[] = "+14155550100";
constexpr char kOtherTestCode[] = "135790";
constexpr char kRealPhone[] = "+8613912345678";

auto IsWrongCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode);
}
auto IsNoLiveCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired);
}

absl::flat_hash_map<std::string, std::string> TestCodes() {
  return {{kTestPhone, kTestCode}, {kOtherTestPhone, kOtherTestCode}};
}

class CodeVerifierTest : public ::testing::Test {
 protected:
  CodeVerifierTest() {
    InMemoryCodeStoreOptions options;
    options.sweep_interval = absl::ZeroDuration();
    store_ = NewInMemoryCodeStore(clock_, options);
  }

  // Stores `code` for `key` as SendPhoneCode would.
  void Send(const CodeKey& key, absl::string_view code, int max_attempts = 5) {
    ASSERT_THAT(store_->Put(key, CodeDigest(kSecret, key, code),
                            clock_->Now() + absl::Minutes(5), max_attempts),
                IsOk());
  }

  std::unique_ptr<CodeVerifier> Chain() {
    std::vector<std::unique_ptr<CodeVerifier>> validators;
    validators.push_back(NewTestNumberVerifier(TestCodes()));
    validators.push_back(LocalVerifier(kSecret));
    return NewCodeVerifierChain(std::move(validators));
  }

  // The local verifier over store_, keying digests with `secret`.
  std::unique_ptr<CodeVerifier> LocalVerifier(std::string secret) {
    LocalCodeVerifierOptions options;
    options.secret = std::move(secret);
    return NewLocalCodeVerifier(options, clock_, store_.get(), &sms_);
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<CodeStore> store_;
  CapturingSmsSender sms_;
};

// --- Local verifier ---

TEST_F(CodeVerifierTest, LocalSendTextsACodeThatChecksOnce) {
  auto verifier = LocalVerifier(kSecret);
  const CodeKey key{kRealPhone, CodePurpose::kOldPhone, "u1"};
  EXPECT_TRUE(verifier->Texts(kRealPhone));
  EXPECT_FALSE(verifier->SendMayBlock());
  EXPECT_FALSE(verifier->CheckMayBlock());
  ASSERT_THAT(
      verifier->Send({key, Language::kChinese, "request-1", TraceContext()}),
      IsOk());
  ASSERT_EQ(sms_.count(), 1u);
  const SmsMessage text = sms_.sent()[0];
  EXPECT_EQ(text.phone_e164, kRealPhone);
  EXPECT_EQ(text.purpose, CodePurpose::kOldPhone);
  EXPECT_EQ(text.code.size(), 6u);
  EXPECT_EQ(text.language, Language::kChinese);
  EXPECT_EQ(text.request_id, "request-1");
  EXPECT_THAT(text.text, HasSubstr(text.code));
  // Bound to its purpose, then single use.
  EXPECT_THAT(verifier->Check({kRealPhone, CodePurpose::kNewPhone}, text.code),
              IsNoLiveCode());
  EXPECT_THAT(verifier->Check(key, text.code), IsOk());
  EXPECT_THAT(verifier->Consume(key, text.code), IsOk());
  EXPECT_THAT(verifier->Check(key, text.code), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, LocalSendThatCannotBeDeliveredIsSmsFailed) {
  auto verifier = LocalVerifier(kSecret);
  sms_.set_failing(true);
  EXPECT_THAT(
      verifier->Send({{kRealPhone, CodePurpose::kNewPhone}, Language::kEnglish,
                      "request-1", TraceContext()}),
      StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
  EXPECT_EQ(sms_.count(), 0u);
}

TEST_F(CodeVerifierTest, LocalSendHandsTheTraceToTheSenderAndTheLog) {
  auto verifier = LocalVerifier(kSecret);
  const TraceContext trace = ParseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const CodeRequest request{{kRealPhone, CodePurpose::kNewPhone},
                            Language::kEnglish, "request-1", trace};
  ASSERT_THAT(verifier->Send(request), IsOk());
  ASSERT_EQ(sms_.count(), 1u);
  // What a network provider sends as its `traceparent` header.
  EXPECT_EQ(sms_.sent()[0].trace.Traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  sms_.set_failing(true);
  ::testing::internal::CaptureStderr();
  EXPECT_THAT(verifier->Send(request),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("\"sms delivery failed\""));
  EXPECT_THAT(log, HasSubstr(
                       "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                       "\"span_id\":\"00f067aa0ba902b7\""));
  ASSERT_EQ(sms_.failed().size(), 1u);
  EXPECT_EQ(sms_.failed()[0].trace.trace_id,
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(CodeVerifierTest, TestNumbersTextNothing) {
  auto chain = Chain();
  EXPECT_FALSE(chain->Texts(kTestPhone));
  EXPECT_TRUE(chain->Texts(kRealPhone));
  EXPECT_THAT(chain->Send({{kTestPhone, CodePurpose::kNewPhone},
                           Language::kEnglish, "request-1", TraceContext()}),
              IsOk());
  EXPECT_EQ(sms_.count(), 0u);
  EXPECT_THAT(chain->Check({kTestPhone, CodePurpose::kNewPhone}, kTestCode),
              IsOk());
}

// --- Stored codes ---

TEST_F(CodeVerifierTest, StoredCoversEveryPhone) {
  auto validator = LocalVerifier(kSecret);
  EXPECT_TRUE(validator->Covers(kRealPhone));
  EXPECT_TRUE(validator->Covers(kTestPhone));
  EXPECT_TRUE(validator->Covers(""));
}

TEST_F(CodeVerifierTest, StoredChecksWithoutConsumingAndConsumesOnce) {
  auto validator = LocalVerifier(kSecret);
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  Send(key, "123456");
  EXPECT_THAT(validator->Check(key, "123456"), IsOk());
  EXPECT_THAT(validator->Check(key, "123456"), IsOk());
  EXPECT_THAT(validator->Consume(key, "123456"), IsOk());
  EXPECT_THAT(validator->Consume(key, "123456"), IsNoLiveCode());
  EXPECT_THAT(validator->Check(key, "123456"), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, StoredWrongCodeIsCountedAndBurns) {
  auto validator = LocalVerifier(kSecret);
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  Send(key, "123456", /*max_attempts=*/2);
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "111111"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "123456"), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, StoredUsesItsSecret) {
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  Send(key, "123456");
  auto wrong_secret = LocalVerifier("another-secret");
  EXPECT_THAT(wrong_secret->Check(key, "123456"), IsWrongCode());
  auto right_secret = LocalVerifier(kSecret);
  EXPECT_THAT(right_secret->Check(key, "123456"), IsOk());
}

TEST_F(CodeVerifierTest, StoredCodeIsBoundToPurpose) {
  auto validator = LocalVerifier(kSecret);
  const CodeKey new_key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  const CodeKey old_key{kRealPhone, CodePurpose::kOldPhone, "u1"};
  Send(new_key, "123456");
  EXPECT_THAT(validator->Check(old_key, "123456"), IsNoLiveCode());
  EXPECT_THAT(validator->Consume(old_key, "123456"), IsNoLiveCode());
  EXPECT_THAT(validator->Check(new_key, "123456"), IsOk());
}

TEST_F(CodeVerifierTest, StoredCodeIsBoundToPhone) {
  auto validator = LocalVerifier(kSecret);
  Send({kRealPhone, CodePurpose::kNewPhone}, "123456");
  EXPECT_THAT(validator->Check({"+8613912345679", CodePurpose::kNewPhone},
                               "123456"),
              IsNoLiveCode());
}

// --- Fixed-code validator ---

TEST_F(CodeVerifierTest, FixedCoversOnlyListedNumbers) {
  auto validator = NewTestNumberVerifier(TestCodes());
  EXPECT_TRUE(validator->Covers(kTestPhone));
  EXPECT_TRUE(validator->Covers(kOtherTestPhone));
  EXPECT_FALSE(validator->Covers(kRealPhone));
  EXPECT_FALSE(validator->Covers(""));
  EXPECT_FALSE(validator->Covers("8613800138000"));
  EXPECT_FALSE(validator->Covers("+861380013800"));
}

TEST_F(CodeVerifierTest, FixedCodeIsReusableForBothPurposes) {
  auto validator = NewTestNumberVerifier(TestCodes());
  for (CodePurpose purpose : {CodePurpose::kNewPhone, CodePurpose::kOldPhone}) {
    const CodeKey key{kTestPhone, purpose, "u1"};
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
      EXPECT_THAT(validator->Consume(key, kTestCode), IsOk());
    }
  }
  EXPECT_THAT(validator->Check({kOtherTestPhone, CodePurpose::kNewPhone},
                               kOtherTestCode),
              IsOk());
}

TEST_F(CodeVerifierTest, FixedWrongCodeIsWrong) {
  auto validator = NewTestNumberVerifier(TestCodes(), {100, absl::Minutes(5)},
                                         clock_);
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone};
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, ""), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "2468100"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "24681"), IsWrongCode());
  // The other test number's code is not this one's.
  EXPECT_THAT(validator->Check(key, kOtherTestCode), IsWrongCode());
  EXPECT_THAT(validator->Consume(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
}

// A test number's code is fixed, so without a limit it could be guessed:
// --max_code_attempts wrong codes stop it for --code_ttl.
TEST_F(CodeVerifierTest, FixedCodeStopsAfterMaxWrongCodesForTheWindow) {
  auto validator =
      NewTestNumberVerifier(TestCodes(), {3, absl::Minutes(5)}, clock_);
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone};
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  clock_->Advance(absl::Minutes(1));
  EXPECT_THAT(validator->Check(key, "000001"), IsWrongCode());
  EXPECT_THAT(validator->Consume(key, "000002"), IsWrongCode());
  // Burned: even the right code is refused, as a burned texted code is.
  EXPECT_THAT(validator->Check(key, kTestCode), IsNoLiveCode());
  EXPECT_THAT(validator->Consume(key, kTestCode), IsNoLiveCode());
  EXPECT_THAT(validator->Check(key, "000003"), IsNoLiveCode());
  // Per number and purpose.
  EXPECT_THAT(validator->Check({kTestPhone, CodePurpose::kOldPhone}, kTestCode),
              IsOk());
  EXPECT_THAT(validator->Check({kOtherTestPhone, CodePurpose::kNewPhone},
                               kOtherTestCode),
              IsOk());
  // The window runs from the first wrong code.
  clock_->Advance(absl::Minutes(4) - absl::Seconds(1));
  EXPECT_THAT(validator->Check(key, kTestCode), IsNoLiveCode());
  clock_->Advance(absl::Seconds(1));
  EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
  // A new run starts from zero.
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
}

TEST_F(CodeVerifierTest, FixedRightCodeResetsNoWrongCodes) {
  auto validator =
      NewTestNumberVerifier(TestCodes(), {3, absl::Minutes(5)}, clock_);
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone};
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
  EXPECT_THAT(validator->Consume(key, kTestCode), IsOk());
  EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode());
  EXPECT_THAT(validator->Check(key, kTestCode), IsNoLiveCode());
}

// The default is the server's: 5 wrong codes (--max_code_attempts).
TEST_F(CodeVerifierTest, FixedCodeStopsAfterFiveWrongCodesByDefault) {
  auto validator = NewTestNumberVerifier(TestCodes());
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone};
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(validator->Check(key, "000000"), IsWrongCode()) << i;
  }
  EXPECT_THAT(validator->Check(key, kTestCode), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, FixedConsumeDoesNotBurn) {
  auto validator = NewTestNumberVerifier(TestCodes());
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone, "u1"};
  ASSERT_THAT(validator->Consume(key, kTestCode), IsOk());
  EXPECT_THAT(validator->Consume(key, kTestCode), IsOk());
  EXPECT_THAT(validator->Check(key, kTestCode), IsOk());
}

TEST_F(CodeVerifierTest, FixedUnlistedNumberHasNoLiveCode) {
  auto validator = NewTestNumberVerifier(TestCodes());
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  EXPECT_THAT(validator->Check(key, kTestCode), IsNoLiveCode());
  EXPECT_THAT(validator->Consume(key, kTestCode), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, EmptyFixedValidatorCoversNothing) {
  auto validator = NewTestNumberVerifier({});
  EXPECT_FALSE(validator->Covers(kTestPhone));
  EXPECT_THAT(validator->Check({kTestPhone, CodePurpose::kNewPhone}, ""),
              IsNoLiveCode());
}

// --- Chain ---

TEST_F(CodeVerifierTest, ChainHandsTestNumbersToTheFixedValidator) {
  auto chain = Chain();
  const CodeKey key{kTestPhone, CodePurpose::kNewPhone, "u1"};
  // A stored code exists for the test number too; the fixed validator,
  // first in the chain, decides anyway.
  Send(key, "111111");
  EXPECT_TRUE(chain->Covers(kTestPhone));
  EXPECT_THAT(chain->Check(key, "111111"), IsWrongCode());
  EXPECT_THAT(chain->Consume(key, "111111"), IsWrongCode());
  EXPECT_THAT(chain->Check(key, kTestCode), IsOk());
  EXPECT_THAT(chain->Consume(key, kTestCode), IsOk());
  EXPECT_THAT(chain->Consume(key, kTestCode), IsOk());
  // The stored code was never touched: the store still holds it.
  EXPECT_THAT(store_->Consume(key, CodeDigest(kSecret, key, "111111")),
              IsOk());
}

TEST_F(CodeVerifierTest, ChainHandsOtherNumbersToTheStoredValidator) {
  auto chain = Chain();
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  EXPECT_TRUE(chain->Covers(kRealPhone));
  // The test code does not open a real number.
  EXPECT_THAT(chain->Check(key, kTestCode), IsNoLiveCode());
  Send(key, "123456");
  EXPECT_THAT(chain->Check(key, kTestCode), IsWrongCode());
  EXPECT_THAT(chain->Check(key, "123456"), IsOk());
  EXPECT_THAT(chain->Consume(key, "123456"), IsOk());
  EXPECT_THAT(chain->Consume(key, "123456"), IsNoLiveCode());
}

TEST_F(CodeVerifierTest, ChainOrderDecides) {
  // Stored first: it covers every phone, so the fixed codes never apply.
  std::vector<std::unique_ptr<CodeVerifier>> validators;
  validators.push_back(LocalVerifier(kSecret));
  validators.push_back(NewTestNumberVerifier(TestCodes()));
  auto chain = NewCodeVerifierChain(std::move(validators));
  EXPECT_THAT(chain->Check({kTestPhone, CodePurpose::kNewPhone}, kTestCode),
              IsNoLiveCode());
}

TEST_F(CodeVerifierTest, NumberNoValidatorCoversHasNoLiveCode) {
  std::vector<std::unique_ptr<CodeVerifier>> validators;
  validators.push_back(NewTestNumberVerifier(TestCodes()));
  auto chain = NewCodeVerifierChain(std::move(validators));
  const CodeKey key{kRealPhone, CodePurpose::kNewPhone, "u1"};
  EXPECT_FALSE(chain->Covers(kRealPhone));
  EXPECT_THAT(chain->Check(key, kTestCode), IsNoLiveCode());
  EXPECT_THAT(chain->Consume(key, kTestCode), IsNoLiveCode());
  EXPECT_THAT(chain->Check({kTestPhone, CodePurpose::kOldPhone}, kTestCode),
              IsOk());
}

TEST_F(CodeVerifierTest, EmptyChainCoversNothing) {
  auto chain = NewCodeVerifierChain({});
  EXPECT_FALSE(chain->Covers(kTestPhone));
  EXPECT_THAT(chain->Check({kTestPhone, CodePurpose::kNewPhone}, kTestCode),
              IsNoLiveCode());
  EXPECT_THAT(chain->Consume({kTestPhone, CodePurpose::kNewPhone}, kTestCode),
              IsNoLiveCode());
}

// --- ParseTestPhoneCodes ---

TEST(ParseTestPhoneCodesTest, ParsesPairs) {
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
      ParseTestPhoneCodes("+8613800138000:246810,+14155550100:135790");
  ASSERT_THAT(codes, IsOk());
  EXPECT_THAT(*codes, UnorderedElementsAre(Pair("+8613800138000", "246810"),
                                           Pair("+14155550100", "135790")));
}

TEST(ParseTestPhoneCodesTest, ToleratesSpacesAndEmptyItems) {
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
      ParseTestPhoneCodes(" +8613800138000:246810 , ,+14155550100:1357,");
  ASSERT_THAT(codes, IsOk());
  EXPECT_THAT(*codes, UnorderedElementsAre(Pair("+8613800138000", "246810"),
                                           Pair("+14155550100", "1357")));
}

TEST(ParseTestPhoneCodesTest, EmptyTextIsAnEmptyMap) {
  for (const char* text : {"", " ", ",", " , ,"}) {
    absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
        ParseTestPhoneCodes(text);
    ASSERT_THAT(codes, IsOk()) << "[" << text << "]";
    EXPECT_TRUE(codes->empty()) << "[" << text << "]";
  }
}

TEST(ParseTestPhoneCodesTest, CodesOf4To10DigitsAreAccepted) {
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
      ParseTestPhoneCodes("+8613800138000:1234,+14155550100:0123456789");
  ASSERT_THAT(codes, IsOk());
  EXPECT_EQ(codes->at("+8613800138000"), "1234");
  EXPECT_EQ(codes->at("+14155550100"), "0123456789");
}

TEST(ParseTestPhoneCodesTest, RejectsBadInput) {
  for (const char* text : {
           "+8613800138000:123",          // 3 digits
           "+8613800138000:12345678901",  // 11 digits
           "+8613800138000:12a456",       // not digits
           "+8613800138000:１２３４５６",   // full-width digits
           "+8613800138000: 246810",      // a space inside the code
           "+8613800138000:-24681",
           "+8613800138000:",             // no code
           "+8613800138000",              // no colon
           "+8613800138000:246810:1",     // two colons
           "8613800138000:246810",        // not E.164
           "+86 13800138000:246810",
           "+86013800138000:246810",      // not canonical
           "+861380013800:246810",        // not a valid number
           "+999123456789:246810",        // unknown calling code
           ":246810",
           "+8613800138000:246810,oops",  // one bad item spoils the list
           "+8613800138000:246810,+8613800138000:135790",  // duplicate
           "+8613800138000:246810,+8613800138000:246810",  // duplicate
       }) {
    absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
        ParseTestPhoneCodes(text);
    EXPECT_THAT(codes, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("--test_phone_codes")))
        << "[" << text << "]";
  }
}

TEST(ParseTestPhoneCodesTest, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(ParseTestPhoneCodes("+8613800138000:123"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("4 to 10 digits")));
  EXPECT_THAT(ParseTestPhoneCodes("12345:246810"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("E.164")));
  EXPECT_THAT(
      ParseTestPhoneCodes("+8613800138000:246810,+8613800138000:246810"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
}

TEST(ParseTestPhoneCodesTest, AcceptsReservedFictionalNumbers) {
  absl::StatusOr<TestPhoneCodes> codes =
      ParseTestPhoneCodes("+447700900123:246810,+8613800138000:135790");
  ASSERT_THAT(codes, IsOk());
  EXPECT_EQ(codes->at("+447700900123"), "246810");
  EXPECT_EQ(FictionalTestNumbers(*codes),
            FictionalNumbers({"+447700900123"}));
  // Outside the reserved range, an invalid number stays refused.
  EXPECT_THAT(ParseTestPhoneCodes("+447700901000:246810"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--test_phone_codes")));
}

TEST(ParseTestPhoneCodesTest, ParsedCodesDriveTheFixedValidator) {
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> codes =
      ParseTestPhoneCodes("+8613800138000:246810");
  ASSERT_THAT(codes, IsOk());
  auto validator = NewTestNumberVerifier(*std::move(codes));
  EXPECT_THAT(validator->Check({"+8613800138000", CodePurpose::kNewPhone},
                               "246810"),
              IsOk());
}

}  // namespace
}  // namespace profile
