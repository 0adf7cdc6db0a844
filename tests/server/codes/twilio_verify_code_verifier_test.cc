#include "server/codes/twilio_verify_code_verifier.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codes/code_store.h"
#include "server/common/api_error.h"
#include "server/common/trace_context.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_http_client.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::FakeClock;
using ::profile::testing::FakeHttpClient;
using ::profile::testing::IsOk;
using ::profile::testing::ParseForm;
using ::profile::testing::RequestHeader;
using ::profile::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kAccountSid[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kServiceSid[] = "VA0123456789abcdef0123456789abcdef";
constexpr char kToken[] = "tok3n-that-must-never-show";
constexpr char kPhone[] = "+8613800138000";
constexpr char kCode[] = "246810";
constexpr char kOtherCode[] = "135790";
constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kServiceUrl[] =
    "https://verify.twilio.test/v2/Services/"
    "VA0123456789abcdef0123456789abcdef";

constexpr char kApproved[] = R"({"sid":"VE1","status":"approved","valid":true})";
constexpr char kPending[] = R"({"sid":"VE1","status":"pending","valid":false})";

auto IsWrongCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode);
}
auto IsNoLiveCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired);
}
auto IsUnavailable() {
  return StatusIs(absl::StatusCode::kUnavailable, ApiCode::kUnavailable);
}

TwilioVerifyOptions Options() {
  TwilioVerifyOptions options;
  options.twilio.account_sid = kAccountSid;
  options.twilio.auth_token = kToken;
  options.twilio.verify_api_url = "https://verify.twilio.test";
  options.twilio.verify_service_sid = kServiceSid;
  options.code_ttl = absl::Minutes(5);
  options.timeout = absl::Seconds(4);
  options.secret = "approval-secret";
  return options;
}

CodeKey Key() { return {kPhone, CodePurpose::kNewPhone}; }

class TwilioVerifyCodeVerifierTest : public ::testing::Test {
 protected:
  TwilioVerifyCodeVerifierTest() {
    InMemoryCodeStoreOptions options;
    options.sweep_interval = absl::ZeroDuration();
    approvals_ = NewInMemoryCodeStore(clock_, options);
    absl::StatusOr<std::unique_ptr<CodeVerifier>> verifier =
        NewTwilioVerifyCodeVerifier(Options(), http_, clock_,
                                    approvals_.get());
    EXPECT_THAT(verifier, IsOk());
    if (verifier.ok()) verifier_ = *std::move(verifier);
  }

  CodeRequest Request(Language language = Language::kEnglish) {
    CodeRequest request;
    request.key = Key();
    request.language = language;
    request.request_id = "req-1";
    request.trace = ParseTraceparent(kTraceparent);
    return request;
  }

  // Checks that the last request was a VerificationCheck of `code`.
  void ExpectCheckRequest(absl::string_view code) {
    ASSERT_GT(http_->request_count(), 0u);
    const HttpRequest request = http_->requests().back();
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.url, absl::StrCat(kServiceUrl, "/VerificationCheck"));
    EXPECT_EQ(RequestHeader(request, "Content-Type"),
              "application/x-www-form-urlencoded");
    EXPECT_EQ(request.basic_user, kAccountSid);
    EXPECT_EQ(request.basic_password, kToken);
    EXPECT_EQ(request.timeout, absl::Seconds(4));
    EXPECT_THAT(ParseForm(request.body),
                UnorderedElementsAre(Pair("To", kPhone),
                                     Pair("Code", std::string(code))));
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<FakeHttpClient> http_ = std::make_shared<FakeHttpClient>();
  std::unique_ptr<CodeStore> approvals_;
  std::unique_ptr<CodeVerifier> verifier_;
};

TEST_F(TwilioVerifyCodeVerifierTest, CoversAndTextsEveryPhoneOverTheNetwork) {
  ASSERT_NE(verifier_, nullptr);
  EXPECT_TRUE(verifier_->Covers(kPhone));
  EXPECT_TRUE(verifier_->Covers("+14155550100"));
  EXPECT_TRUE(verifier_->Texts(kPhone));
  EXPECT_TRUE(verifier_->SendMayBlock());
  EXPECT_TRUE(verifier_->CheckMayBlock());
}

TEST_F(TwilioVerifyCodeVerifierTest, SendStartsAVerificationInTheLanguage) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(201, R"({"sid":"VE1","status":"pending"})");
  http_->Reply(201, R"({"sid":"VE2","status":"pending"})");

  EXPECT_THAT(verifier_->Send(Request(Language::kEnglish)), IsOk());
  EXPECT_THAT(verifier_->Send(Request(Language::kChinese)), IsOk());

  ASSERT_EQ(http_->request_count(), 2u);
  const std::vector<HttpRequest> requests = http_->requests();
  for (const HttpRequest& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.url, absl::StrCat(kServiceUrl, "/Verifications"));
    EXPECT_EQ(RequestHeader(request, "Content-Type"),
              "application/x-www-form-urlencoded");
    EXPECT_EQ(RequestHeader(request, "traceparent"), kTraceparent);
    EXPECT_EQ(request.basic_user, kAccountSid);
    EXPECT_EQ(request.basic_password, kToken);
    EXPECT_EQ(request.timeout, absl::Seconds(4));
  }
  EXPECT_THAT(ParseForm(requests[0].body),
              UnorderedElementsAre(Pair("To", kPhone), Pair("Channel", "sms"),
                                   Pair("Locale", "en")));
  EXPECT_THAT(ParseForm(requests[1].body),
              UnorderedElementsAre(Pair("To", kPhone), Pair("Channel", "sms"),
                                   Pair("Locale", "zh-CN")));
}

TEST_F(TwilioVerifyCodeVerifierTest, SendWaitsNoLongerThanTheCaller) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(201, R"({"sid":"VE1","status":"pending"})");
  CodeRequest request = Request();
  request.deadline = clock_->Now() + absl::Seconds(1);

  EXPECT_THAT(verifier_->Send(request), IsOk());
  ASSERT_EQ(http_->request_count(), 1u);
  EXPECT_EQ(http_->requests()[0].timeout, absl::Seconds(1));

  // A caller that stopped waiting gets no verification started.
  request.deadline = clock_->Now();
  EXPECT_THAT(verifier_->Send(request),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
  EXPECT_EQ(http_->request_count(), 1u);
}

TEST_F(TwilioVerifyCodeVerifierTest, AFailedSendIsSmsFailed) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(400, R"({"code":60200,"message":"Invalid parameter"})");
  http_->Reply(503, "down");
  http_->Reply(429, R"({"code":60203,"message":"Max send attempts reached"})");
  http_->Fail(absl::UnavailableError("verify.twilio.test: timed out"));

  for (int i = 0; i < 4; ++i) {
    absl::Status sent = verifier_->Send(Request());
    EXPECT_THAT(sent,
                StatusIs(absl::StatusCode::kUnavailable, ApiCode::kSmsFailed));
    EXPECT_THAT(std::string(sent.message()), Not(HasSubstr(kToken)));
  }
  EXPECT_EQ(http_->request_count(), 4u);
}

TEST_F(TwilioVerifyCodeVerifierTest, AnApprovedCodeIsRightAndRemembered) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kApproved);

  EXPECT_THAT(verifier_->Check(Key(), kCode), IsOk());
  ExpectCheckRequest(kCode);

  // Twilio would answer 404 now: the approval is remembered instead.
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsOk());
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsOk());
  EXPECT_EQ(http_->request_count(), 1u);
}

TEST_F(TwilioVerifyCodeVerifierTest, AnotherCodeAfterAnApprovalIsWrong) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kApproved);
  ASSERT_THAT(verifier_->Check(Key(), kCode), IsOk());

  EXPECT_THAT(verifier_->Check(Key(), kOtherCode), IsWrongCode());
  EXPECT_EQ(http_->request_count(), 1u);
}

TEST_F(TwilioVerifyCodeVerifierTest, AnApprovalIsBoundToItsPhoneAndPurpose) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kApproved);
  ASSERT_THAT(verifier_->Check(Key(), kCode), IsOk());

  http_->Reply(404, R"({"code":20404,"message":"not found"})");
  EXPECT_THAT(verifier_->Check({kPhone, CodePurpose::kOldPhone}, kCode),
              IsNoLiveCode());
  EXPECT_EQ(http_->request_count(), 2u);
}

TEST_F(TwilioVerifyCodeVerifierTest, ConsumeUsesTheApprovalUp) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kApproved);
  ASSERT_THAT(verifier_->Check(Key(), kCode), IsOk());

  EXPECT_THAT(verifier_->Consume(Key(), kCode), IsOk());
  EXPECT_THAT(verifier_->Consume(Key(), kCode), IsNoLiveCode());

  // Nothing remembered: Twilio decides, and it has nothing live.
  http_->Reply(404, R"({"code":20404,"message":"not found"})");
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsNoLiveCode());
  EXPECT_EQ(http_->request_count(), 2u);
  ExpectCheckRequest(kCode);
}

TEST_F(TwilioVerifyCodeVerifierTest, ConsumeWithoutAnApprovalFails) {
  ASSERT_NE(verifier_, nullptr);
  EXPECT_THAT(verifier_->Consume(Key(), kCode), IsNoLiveCode());
  http_->Reply(200, kApproved);
  ASSERT_THAT(verifier_->Check(Key(), kCode), IsOk());
  EXPECT_THAT(verifier_->Consume(Key(), kOtherCode), IsNoLiveCode());
  EXPECT_THAT(verifier_->Consume(Key(), kCode), IsOk());
  EXPECT_EQ(http_->request_count(), 1u);
}

TEST_F(TwilioVerifyCodeVerifierTest, AnApprovalLastsTheCodeTtl) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kApproved);
  ASSERT_THAT(verifier_->Check(Key(), kCode), IsOk());

  clock_->Advance(absl::Minutes(5) - absl::Seconds(1));
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsOk());
  EXPECT_EQ(http_->request_count(), 1u);

  clock_->Advance(absl::Seconds(1));
  http_->Reply(404, "{}");
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsNoLiveCode());
  EXPECT_EQ(http_->request_count(), 2u);
}

TEST_F(TwilioVerifyCodeVerifierTest, APendingVerificationMeansAWrongCode) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kPending);
  http_->Reply(200, R"({"sid":"VE1","status":"canceled"})");

  EXPECT_THAT(verifier_->Check(Key(), kOtherCode), IsWrongCode());
  ExpectCheckRequest(kOtherCode);
  EXPECT_THAT(verifier_->Check(Key(), kOtherCode), IsWrongCode());

  // Nothing was remembered: the right code still goes to Twilio.
  http_->Reply(200, kApproved);
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsOk());
  EXPECT_EQ(http_->request_count(), 3u);
}

TEST_F(TwilioVerifyCodeVerifierTest, NoLiveVerificationIsNoLiveCode) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(404, R"({"code":20404,"message":"The requested resource )"
                    R"(/Services/VA.../VerificationCheck was not found"})");
  http_->Reply(429, R"({"code":60202,"message":"Max check attempts reached"})");

  EXPECT_THAT(verifier_->Check(Key(), kCode), IsNoLiveCode());
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsNoLiveCode());
  EXPECT_EQ(http_->request_count(), 2u);
}

TEST_F(TwilioVerifyCodeVerifierTest, NoAnswerIsUnavailable) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(500, R"({"code":20500,"message":"Internal Server Error"})");
  http_->Reply(503, "<html>down</html>");
  http_->Fail(absl::UnavailableError("verify.twilio.test: connection reset"));
  http_->Reply(200, "not json");
  http_->Reply(401, R"({"code":20003,"message":"Authenticate"})");

  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    absl::Status checked = verifier_->Check(Key(), kCode);
    EXPECT_THAT(checked, IsUnavailable());
    EXPECT_THAT(std::string(checked.message()),
                AllOf(Not(HasSubstr(kToken)), Not(HasSubstr(kCode))));
  }
  // A backend that failed approved nothing.
  http_->Reply(404, "{}");
  EXPECT_THAT(verifier_->Check(Key(), kCode), IsNoLiveCode());
}

TEST_F(TwilioVerifyCodeVerifierTest, NoErrorMessageCarriesTheTokenOrCode) {
  ASSERT_NE(verifier_, nullptr);
  http_->Reply(200, kPending);
  http_->Reply(404, "{}");
  for (int i = 0; i < 2; ++i) {
    absl::Status checked = verifier_->Check(Key(), kCode);
    EXPECT_FALSE(checked.ok());
    EXPECT_THAT(std::string(checked.message()),
                AllOf(Not(HasSubstr(kToken)), Not(HasSubstr(kCode))));
  }
}

TEST(TwilioVerifyOptionsTest, EveryOptionErrorNamesItsFlag) {
  struct Case {
    const char* flag;
    std::function<void(TwilioVerifyOptions&)> change;
  };
  const std::vector<Case> cases = {
      {"--twilio_account_sid",
       [](TwilioVerifyOptions& o) { o.twilio.account_sid.clear(); }},
      {"--twilio_auth_token_file",
       [](TwilioVerifyOptions& o) { o.twilio.auth_token.clear(); }},
      {"--twilio_auth_token_file",
       [](TwilioVerifyOptions& o) {
         o.twilio.auth_token.clear();
         o.twilio.auth_token_file = "/nonexistent/twilio_token";
       }},
      {"--twilio_verify_service_sid",
       [](TwilioVerifyOptions& o) { o.twilio.verify_service_sid.clear(); }},
      {"--twilio_verify_service_sid",
       [](TwilioVerifyOptions& o) { o.twilio.verify_service_sid = "VA/x?y"; }},
      {"--twilio_verify_api_url",
       [](TwilioVerifyOptions& o) {
         o.twilio.verify_api_url = "http://verify.twilio.com";
       }},
  };
  auto clock = std::make_shared<FakeClock>();
  std::unique_ptr<CodeStore> approvals =
      NewInMemoryCodeStore(clock, InMemoryCodeStoreOptions());
  auto http = std::make_shared<FakeHttpClient>();
  for (const Case& c : cases) {
    TwilioVerifyOptions options = Options();
    c.change(options);
    absl::StatusOr<std::unique_ptr<CodeVerifier>> verifier =
        NewTwilioVerifyCodeVerifier(options, http, clock, approvals.get());
    SCOPED_TRACE(verifier.status().ToString());
    EXPECT_THAT(verifier,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(c.flag), Not(HasSubstr(kToken)))));
  }
  EXPECT_EQ(http->request_count(), 0u);
}

}  // namespace
}  // namespace profile
