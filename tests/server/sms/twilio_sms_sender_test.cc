#include "server/sms/twilio_sms_sender.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/trace_context.h"
#include "tests/testing/fake_http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::FakeHttpClient;
using ::profile::testing::FormFields;
using ::profile::testing::IsOk;
using ::profile::testing::ParseForm;
using ::profile::testing::RequestHeader;
using ::profile::testing::StatusIs;
using ::profile::testing::TestDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kAccountSid[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kToken[] = "tok3n-that-must-never-show";
constexpr char kFrom[] = "+15005550006";
constexpr char kPhone[] = "+8613800138000";
constexpr char kCode[] = "246810";
constexpr char kText[] = "Your code is 246810";
constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TwilioOptions Options() {
  TwilioOptions options;
  options.account_sid = kAccountSid;
  options.auth_token = kToken;
  options.api_url = "https://api.twilio.test";
  options.from = kFrom;
  return options;
}

SmsMessage Message() {
  SmsMessage message;
  message.phone_e164 = kPhone;
  message.code = kCode;
  message.purpose = CodePurpose::kNewPhone;
  message.text = kText;
  message.request_id = "req-1";
  message.trace = ParseTraceparent(kTraceparent);
  return message;
}

// The secrets an error message must never carry.
auto HasNoSecret() {
  return AllOf(Not(HasSubstr(kToken)), Not(HasSubstr(kCode)),
               Not(HasSubstr(kText)));
}

class TwilioSmsSenderTest : public ::testing::Test {
 protected:
  std::unique_ptr<SmsProvider> Sender(TwilioOptions options = Options()) {
    absl::StatusOr<std::unique_ptr<SmsProvider>> sender =
        NewTwilioSmsSender(options, http_);
    EXPECT_THAT(sender, IsOk());
    return sender.ok() ? *std::move(sender) : nullptr;
  }

  std::shared_ptr<FakeHttpClient> http_ = std::make_shared<FakeHttpClient>();
};

TEST_F(TwilioSmsSenderTest, PostsTheMessageAsTwilioDocumentsIt) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  EXPECT_EQ(sender->name(), "twilio");
  EXPECT_TRUE(sender->MayBlock());
  http_->Reply(201, R"({"sid":"SM0123","status":"queued"})");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(3));

  EXPECT_THAT(attempt.status, IsOk());
  EXPECT_EQ(attempt.message_id, "SM0123");
  EXPECT_EQ(attempt.http_status, 201);
  ASSERT_EQ(http_->request_count(), 1u);
  const HttpRequest request = http_->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url,
            "https://api.twilio.test/2010-04-01/Accounts/"
            "AC0123456789abcdef0123456789abcdef/Messages.json");
  EXPECT_EQ(RequestHeader(request, "Content-Type"),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(RequestHeader(request, "traceparent"), kTraceparent);
  EXPECT_EQ(request.basic_user, kAccountSid);
  EXPECT_EQ(request.basic_password, kToken);
  EXPECT_EQ(request.timeout, absl::Seconds(3));
  EXPECT_THAT(ParseForm(request.body),
              UnorderedElementsAre(Pair("To", kPhone), Pair("Body", kText),
                                   Pair("From", kFrom)));
}

TEST_F(TwilioSmsSenderTest, SendsFromAMessagingServiceWhenConfigured) {
  TwilioOptions options = Options();
  options.from.clear();
  options.messaging_service_sid = "MG0123456789abcdef0123456789abcdef";
  std::unique_ptr<SmsProvider> sender = Sender(options);
  ASSERT_NE(sender, nullptr);
  http_->Reply(201, R"({"sid":"SM1"})");

  EXPECT_THAT(sender->Attempt(Message(), absl::Seconds(5)).status, IsOk());

  ASSERT_EQ(http_->request_count(), 1u);
  EXPECT_THAT(
      ParseForm(http_->requests()[0].body),
      UnorderedElementsAre(
          Pair("To", kPhone), Pair("Body", kText),
          Pair("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef")));
}

TEST_F(TwilioSmsSenderTest, SendsNoTraceparentWithoutATrace) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(201, R"({"sid":"SM1"})");
  SmsMessage message = Message();
  message.trace = TraceContext();

  EXPECT_THAT(sender->Attempt(message, absl::Seconds(5)).status, IsOk());

  ASSERT_EQ(http_->request_count(), 1u);
  // requests() returns a copy: keep it alive while iterating.
  const std::vector<HttpRequest> requests = http_->requests();
  for (const auto& [name, value] : requests[0].headers) {
    EXPECT_NE(name, "traceparent");
  }
}

TEST_F(TwilioSmsSenderTest, ARefusalIsFinalAndQuotesTwilioCodeAndMessage) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(400, R"({"code":21211,"message":"Invalid 'To' Phone Number",)"
                    R"("more_info":"https://www.twilio.com/docs/errors/21211",)"
                    R"("status":400})");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

  EXPECT_FALSE(attempt.status.ok());
  EXPECT_FALSE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 400);
  EXPECT_EQ(attempt.retry_after, absl::ZeroDuration());
  EXPECT_THAT(std::string(attempt.status.message()),
              AllOf(HasSubstr("21211"), HasSubstr("Invalid 'To' Phone Number"),
                    Not(HasSubstr("more_info")), HasNoSecret()));
  EXPECT_TRUE(attempt.message_id.empty());
}

TEST_F(TwilioSmsSenderTest, NeverQuotesABodyThatIsNotATwilioError) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(403, "<html>proxy says no: leaked-detail</html>");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

  EXPECT_FALSE(attempt.status.ok());
  EXPECT_FALSE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 403);
  EXPECT_THAT(std::string(attempt.status.message()),
              AllOf(Not(HasSubstr("leaked-detail")), HasNoSecret()));
}

TEST_F(TwilioSmsSenderTest, TooManyRequestsIsRetryableAfterTheirRetryAfter) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(429, R"({"code":20429,"message":"Too Many Requests"})",
               {{"retry-after", "7"}});

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

  EXPECT_FALSE(attempt.status.ok());
  EXPECT_TRUE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 429);
  EXPECT_EQ(attempt.retry_after, absl::Seconds(7));
  EXPECT_THAT(std::string(attempt.status.message()), HasNoSecret());
}

TEST_F(TwilioSmsSenderTest, AServerErrorIsRetryable) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(500, "oops");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

  EXPECT_FALSE(attempt.status.ok());
  EXPECT_TRUE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 500);
  EXPECT_THAT(std::string(attempt.status.message()),
              AllOf(Not(HasSubstr("oops")), HasNoSecret()));
}

TEST_F(TwilioSmsSenderTest, NoAnswerIsRetryable) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Fail(absl::UnavailableError("api.twilio.test: connection refused"));

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

  EXPECT_THAT(attempt.status, StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("connection refused")));
  EXPECT_TRUE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 0);
  EXPECT_THAT(std::string(attempt.status.message()), HasNoSecret());
}

TEST_F(TwilioSmsSenderTest, ASuccessWithoutASidIsAFinalFailure) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  for (const char* body :
       {"not json at all", "[]", R"({"status":"queued"})", R"({"sid":42})",
        R"({"sid":""})"}) {
    SCOPED_TRACE(body);
    http_->Reply(201, body);

    SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(5));

    EXPECT_THAT(attempt.status,
                StatusIs(absl::StatusCode::kUnknown,
                         HasSubstr("twilio answered without a message sid")));
    EXPECT_FALSE(attempt.retryable);
    EXPECT_EQ(attempt.http_status, 201);
    EXPECT_TRUE(attempt.message_id.empty());
  }
}

// Each option error names the flag to fix, and never the token.
TEST_F(TwilioSmsSenderTest, EveryOptionErrorNamesItsFlag) {
  struct Case {
    const char* flag;
    void (*change)(TwilioOptions&);
  };
  const std::vector<Case> cases = {
      {"--twilio_account_sid", [](TwilioOptions& o) { o.account_sid = ""; }},
      {"--twilio_account_sid",
       [](TwilioOptions& o) { o.account_sid = "AC1/../../x"; }},
      {"--twilio_auth_token_file", [](TwilioOptions& o) { o.auth_token = ""; }},
      {"--twilio_auth_token_file",
       [](TwilioOptions& o) {
         o.auth_token = "";
         o.auth_token_file = "/nonexistent/twilio_token";
       }},
      {"--twilio_from", [](TwilioOptions& o) { o.from = ""; }},
      {"--twilio_messaging_service_sid",
       [](TwilioOptions& o) { o.from = ""; }},
      {"--twilio_messaging_service_sid",
       [](TwilioOptions& o) { o.messaging_service_sid = "MG1"; }},
      {"--twilio_api_url",
       [](TwilioOptions& o) { o.api_url = "http://api.twilio.com"; }},
      {"--twilio_api_url", [](TwilioOptions& o) { o.api_url = "not a url"; }},
  };
  for (const Case& c : cases) {
    TwilioOptions options = Options();
    c.change(options);
    absl::StatusOr<std::unique_ptr<SmsProvider>> sender =
        NewTwilioSmsSender(options, http_);
    SCOPED_TRACE(sender.status().ToString());
    EXPECT_THAT(sender, StatusIs(absl::StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr(c.flag), HasNoSecret())));
  }
  EXPECT_EQ(http_->request_count(), 0u);
}

TEST_F(TwilioSmsSenderTest, AcceptsALoopbackHttpUrlForTests) {
  TwilioOptions options = Options();
  options.api_url = "http://127.0.0.1:8080/";
  std::unique_ptr<SmsProvider> sender = Sender(options);
  ASSERT_NE(sender, nullptr);
  http_->Reply(201, R"({"sid":"SM1"})");

  EXPECT_THAT(sender->Attempt(Message(), absl::Seconds(5)).status, IsOk());

  ASSERT_EQ(http_->request_count(), 1u);
  EXPECT_EQ(http_->requests()[0].url,
            "http://127.0.0.1:8080/2010-04-01/Accounts/"
            "AC0123456789abcdef0123456789abcdef/Messages.json");
}

TEST(TwilioAuthTokenTest, PrefersTheTokenItselfOverTheFile) {
  TwilioOptions options;
  options.auth_token = "from-env";
  options.auth_token_file = "/nonexistent";
  EXPECT_THAT(TwilioAuthToken(options), IsOk());
  EXPECT_EQ(*TwilioAuthToken(options), "from-env");
}

TEST(TwilioAuthTokenTest, ReadsTheFirstLineOfTheFile) {
  TestDir dir("twilio_token_test");
  TwilioOptions options;
  options.auth_token_file = dir.Write("token", "s3cret-token\n");
  EXPECT_THAT(TwilioAuthToken(options), IsOk());
  EXPECT_EQ(*TwilioAuthToken(options), "s3cret-token");

  options.auth_token_file = dir.Write("crlf", "s3cret-token\r\nsecond line\n");
  EXPECT_EQ(*TwilioAuthToken(options), "s3cret-token");
}

TEST(TwilioAuthTokenTest, AnEmptyOrMissingFileNamesTheFlag) {
  TestDir dir("twilio_token_test");
  TwilioOptions options;
  for (const std::string& path :
       {std::string(), dir.File("missing"), dir.Write("empty", "\n"),
        dir.Write("blank_first", "\nsecond\n")}) {
    SCOPED_TRACE(path);
    options.auth_token_file = path;
    EXPECT_THAT(TwilioAuthToken(options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--twilio_auth_token_file")));
  }
}

}  // namespace
}  // namespace profile
