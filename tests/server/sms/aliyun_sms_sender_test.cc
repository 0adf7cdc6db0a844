#include "server/sms/aliyun_sms_sender.h"

#include <functional>
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;

constexpr char kKeyId[] = "LTAI5tTestKeyId";
constexpr char kSecret[] = "s3cret-that-must-never-show";
constexpr char kSignName[] = "阿里云短信测试";
constexpr char kTemplate[] = "SMS_154950909";
constexpr char kCode[] = "246810";
constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

AliyunSmsOptions Options() {
  AliyunSmsOptions options;
  options.api_url = "https://dysmsapi.aliyuncs.test";
  options.access_key_id = kKeyId;
  options.access_key_secret = kSecret;
  options.sign_name = kSignName;
  options.template_code = kTemplate;
  return options;
}

SmsMessage Message(std::string phone_e164 = "+8613800138000") {
  SmsMessage message;
  message.phone_e164 = std::move(phone_e164);
  message.code = kCode;
  message.purpose = CodePurpose::kNewPhone;
  message.text = "Your code is 246810";
  message.trace = ParseTraceparent(kTraceparent);
  return message;
}

auto HasNoSecret() {
  return AllOf(Not(HasSubstr(kSecret)), Not(HasSubstr(kCode)));
}

// The worked example of Alibaba Cloud's "Signature mechanism" for RPC APIs
// (https://help.aliyun.com/en/document_detail/145075.html and the ECS API
// documentation it comes from, also at
// https://developer.aliyun.com/ask/210168): DescribeRegions with
// AccessKeyId testid and AccessKey secret testsecret signs to
// CT9X0VtwR86fNWSnsc6v8YGOjuE= (the URL carries it as ...%3D).
TEST(AliyunSignatureTest, MatchesTheDocumentedExample) {
  const HttpFields params = {
      {"TimeStamp", "2016-02-23T12:46:24Z"},
      {"Format", "XML"},
      {"AccessKeyId", "testid"},
      {"Action", "DescribeRegions"},
      {"SignatureMethod", "HMAC-SHA1"},
      {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
      {"Version", "2014-05-26"},
      {"SignatureVersion", "1.0"},
  };
  EXPECT_EQ(AliyunSignature("testsecret", "GET", params),
            "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
}

TEST(AliyunSignatureTest, DependsOnTheMethodSecretAndEveryValue) {
  const HttpFields params = {{"Action", "SendSms"},
                             {"TemplateParam", R"({"code":"1"})"}};
  const std::string signature = AliyunSignature("k", "POST", params);
  EXPECT_NE(signature, AliyunSignature("k", "GET", params));
  EXPECT_NE(signature, AliyunSignature("k2", "POST", params));
  EXPECT_NE(signature,
            AliyunSignature("k", "POST",
                            {{"Action", "SendSms"},
                             {"TemplateParam", R"({"code":"2"})"}}));
  // The order the parameters come in does not matter.
  EXPECT_EQ(signature,
            AliyunSignature("k", "POST",
                            {{"TemplateParam", R"({"code":"1"})"},
                             {"Action", "SendSms"}}));
}

class AliyunSmsSenderTest : public ::testing::Test {
 protected:
  std::unique_ptr<SmsProvider> Sender(AliyunSmsOptions options = Options()) {
    absl::StatusOr<std::unique_ptr<SmsProvider>> sender =
        NewAliyunSmsSender(options, http_);
    EXPECT_THAT(sender, IsOk());
    return sender.ok() ? *std::move(sender) : nullptr;
  }

  std::shared_ptr<FakeHttpClient> http_ = std::make_shared<FakeHttpClient>();
};

constexpr char kOk[] =
    R"({"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990",)"
    R"("Code":"OK","BizId":"900619746936498440^0"})";

TEST_F(AliyunSmsSenderTest, PostsASignedSendSmsRequest) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  EXPECT_EQ(sender->name(), "aliyun");
  EXPECT_TRUE(sender->MayBlock());
  http_->Reply(200, kOk);

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(3));

  EXPECT_THAT(attempt.status, IsOk());
  EXPECT_EQ(attempt.message_id, "900619746936498440^0");
  EXPECT_EQ(attempt.http_status, 200);
  ASSERT_EQ(http_->request_count(), 1u);
  const HttpRequest request = http_->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://dysmsapi.aliyuncs.test/");
  EXPECT_EQ(RequestHeader(request, "Content-Type"),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(RequestHeader(request, "traceparent"), kTraceparent);
  EXPECT_TRUE(request.basic_user.empty());
  EXPECT_TRUE(request.basic_password.empty());
  EXPECT_EQ(request.timeout, absl::Seconds(3));
  // The code goes in TemplateParam; the secret only signs.
  EXPECT_THAT(request.body, Not(HasSubstr(kSecret)));

  const FormFields form = ParseForm(request.body);
  EXPECT_THAT(
      form,
      ElementsAre(
          Pair("AccessKeyId", kKeyId), Pair("Action", "SendSms"),
          Pair("Format", "JSON"), Pair("PhoneNumbers", "13800138000"),
          Pair("RegionId", "cn-hangzhou"), Pair("SignName", kSignName),
          Pair("Signature", MatchesRegex("[A-Za-z0-9+/]{27}=")),
          Pair("SignatureMethod", "HMAC-SHA1"),
          Pair("SignatureNonce", MatchesRegex("[0-9a-f]{32}")),
          Pair("SignatureVersion", "1.0"), Pair("TemplateCode", kTemplate),
          Pair("TemplateParam", R"({"code":"246810"})"),
          Pair("Timestamp",
               MatchesRegex("20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:"
                            "[0-5][0-9]:[0-6][0-9]Z")),
          Pair("Version", "2017-05-25")));

  // The signature is that of every other field, as POST.
  HttpFields signed_fields;
  for (const auto& [name, value] : form) {
    if (name != "Signature") signed_fields.emplace_back(name, value);
  }
  EXPECT_EQ(form.find("Signature")->second,
            AliyunSignature(kSecret, "POST", signed_fields));
}

TEST_F(AliyunSmsSenderTest, EveryRequestHasItsOwnNonce) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(200, kOk);
  http_->Reply(200, kOk);
  sender->Attempt(Message(), absl::Seconds(3));
  sender->Attempt(Message(), absl::Seconds(3));
  ASSERT_EQ(http_->request_count(), 2u);
  EXPECT_NE(ParseForm(http_->requests()[0].body).find("SignatureNonce")->second,
            ParseForm(http_->requests()[1].body).find("SignatureNonce")->second);
}

TEST_F(AliyunSmsSenderTest, NumbersOutsideChinaKeepTheirCountryCode) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(200, kOk);
  http_->Reply(200, kOk);
  sender->Attempt(Message("+14155550100"), absl::Seconds(3));
  sender->Attempt(Message("+85251234567"), absl::Seconds(3));
  ASSERT_EQ(http_->request_count(), 2u);
  EXPECT_EQ(ParseForm(http_->requests()[0].body).find("PhoneNumbers")->second,
            "14155550100");
  EXPECT_EQ(ParseForm(http_->requests()[1].body).find("PhoneNumbers")->second,
            "85251234567");
}

TEST_F(AliyunSmsSenderTest, NoticesAreLeftToTheNextProvider) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  for (SmsType type : {SmsType::kPhoneInUseNotice, SmsType::kPhoneChangedNotice,
                       SmsType::kPhoneUnlinkedNotice}) {
    SmsMessage notice = Message();
    notice.type = type;
    notice.code.clear();
    SmsAttempt attempt = sender->Attempt(notice, absl::Seconds(3));
    EXPECT_EQ(attempt.status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_FALSE(attempt.retryable);
    EXPECT_THAT(std::string(attempt.status.message()),
                HasSubstr(std::string(SmsTypeName(type))));
  }
  EXPECT_EQ(http_->request_count(), 0u);
}

TEST_F(AliyunSmsSenderTest, ARefusalCarriesAliyunCodeAndMessage) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(200,
               R"({"Message":"触发号码天级流控Permits:10","RequestId":"R1",)"
               R"("Code":"isv.BUSINESS_LIMIT_CONTROL"})");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(3));

  EXPECT_FALSE(attempt.status.ok());
  // The per-number limit holds for minutes to a day: not worth retrying.
  EXPECT_FALSE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 200);
  EXPECT_TRUE(attempt.message_id.empty());
  EXPECT_THAT(std::string(attempt.status.message()),
              AllOf(HasSubstr("isv.BUSINESS_LIMIT_CONTROL"),
                    HasSubstr("触发号码天级流控"), HasNoSecret()));
}

TEST_F(AliyunSmsSenderTest, ApiFlowControlIsRetryable) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(400, R"({"Code":"Throttling.User","Message":"Request was )"
                    R"(denied due to user flow control.","RequestId":"R2"})");
  http_->Reply(200, R"({"Code":"isp.SYSTEM_ERROR","Message":"busy"})");

  SmsAttempt throttled = sender->Attempt(Message(), absl::Seconds(3));
  EXPECT_FALSE(throttled.status.ok());
  EXPECT_TRUE(throttled.retryable);
  EXPECT_EQ(throttled.http_status, 400);
  EXPECT_THAT(std::string(throttled.status.message()),
              AllOf(HasSubstr("Throttling.User"), HasSubstr("flow control")));

  SmsAttempt system_error = sender->Attempt(Message(), absl::Seconds(3));
  EXPECT_FALSE(system_error.status.ok());
  EXPECT_TRUE(system_error.retryable);
}

TEST_F(AliyunSmsSenderTest, ABadSignatureIsFinal) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(400, R"({"Code":"SignatureDoesNotMatch","Message":"Specified )"
                    R"(signature is not matched with our calculation."})");

  SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(3));

  EXPECT_FALSE(attempt.status.ok());
  EXPECT_FALSE(attempt.retryable);
  EXPECT_EQ(attempt.http_status, 400);
  EXPECT_THAT(std::string(attempt.status.message()),
              AllOf(HasSubstr("SignatureDoesNotMatch"), HasNoSecret()));
}

TEST_F(AliyunSmsSenderTest, HttpFailuresFollowTheirStatus) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  http_->Reply(429, "", {{"retry-after", "3"}});
  http_->Reply(503, "<html>down: leaked-detail</html>");
  http_->Fail(absl::UnavailableError("dysmsapi.aliyuncs.test: timed out"));

  SmsAttempt too_many = sender->Attempt(Message(), absl::Seconds(3));
  EXPECT_FALSE(too_many.status.ok());
  EXPECT_TRUE(too_many.retryable);
  EXPECT_EQ(too_many.http_status, 429);
  EXPECT_EQ(too_many.retry_after, absl::Seconds(3));

  SmsAttempt down = sender->Attempt(Message(), absl::Seconds(3));
  EXPECT_FALSE(down.status.ok());
  EXPECT_TRUE(down.retryable);
  EXPECT_EQ(down.http_status, 503);
  EXPECT_THAT(std::string(down.status.message()),
              AllOf(Not(HasSubstr("leaked-detail")), HasNoSecret()));

  SmsAttempt no_answer = sender->Attempt(Message(), absl::Seconds(3));
  EXPECT_THAT(no_answer.status, StatusIs(absl::StatusCode::kUnavailable,
                                         HasSubstr("timed out")));
  EXPECT_TRUE(no_answer.retryable);
  EXPECT_EQ(no_answer.http_status, 0);
}

TEST_F(AliyunSmsSenderTest, ASuccessThatIsNotAnAnswerIsAFinalFailure) {
  std::unique_ptr<SmsProvider> sender = Sender();
  ASSERT_NE(sender, nullptr);
  for (const char* body : {"<html>portal</html>", "[]", R"({"BizId":"1"})"}) {
    SCOPED_TRACE(body);
    http_->Reply(200, body);

    SmsAttempt attempt = sender->Attempt(Message(), absl::Seconds(3));

    EXPECT_FALSE(attempt.status.ok());
    EXPECT_FALSE(attempt.retryable);
    EXPECT_EQ(attempt.http_status, 200);
    EXPECT_TRUE(attempt.message_id.empty());
    EXPECT_THAT(std::string(attempt.status.message()),
                AllOf(Not(HasSubstr("portal")), HasNoSecret()));
  }
}

TEST_F(AliyunSmsSenderTest, ReadsTheSecretFromItsFile) {
  TestDir dir("aliyun_sms_sender_test");
  AliyunSmsOptions options = Options();
  options.access_key_secret.clear();
  options.access_key_secret_file = dir.Write("secret", "file-secret\n");
  std::unique_ptr<SmsProvider> sender = Sender(options);
  ASSERT_NE(sender, nullptr);
  http_->Reply(200, kOk);

  EXPECT_THAT(sender->Attempt(Message(), absl::Seconds(3)).status, IsOk());

  ASSERT_EQ(http_->request_count(), 1u);
  const FormFields form = ParseForm(http_->requests()[0].body);
  HttpFields signed_fields;
  for (const auto& [name, value] : form) {
    if (name != "Signature") signed_fields.emplace_back(name, value);
  }
  EXPECT_EQ(form.find("Signature")->second,
            AliyunSignature("file-secret", "POST", signed_fields));
}

TEST_F(AliyunSmsSenderTest, EveryOptionErrorNamesItsFlag) {
  TestDir dir("aliyun_sms_sender_test");
  const std::string empty_file = dir.Write("empty", "\n");
  struct Case {
    const char* flag;
    std::function<void(AliyunSmsOptions&)> change;
  };
  const std::vector<Case> cases = {
      {"--aliyun_access_key_id",
       [](AliyunSmsOptions& o) { o.access_key_id.clear(); }},
      {"--aliyun_access_key_secret_file",
       [](AliyunSmsOptions& o) { o.access_key_secret.clear(); }},
      {"--aliyun_access_key_secret_file",
       [](AliyunSmsOptions& o) {
         o.access_key_secret.clear();
         o.access_key_secret_file = "/nonexistent/aliyun_secret";
       }},
      {"--aliyun_access_key_secret_file",
       [&empty_file](AliyunSmsOptions& o) {
         o.access_key_secret.clear();
         o.access_key_secret_file = empty_file;
       }},
      {"--aliyun_sign_name", [](AliyunSmsOptions& o) { o.sign_name.clear(); }},
      {"--aliyun_template_code",
       [](AliyunSmsOptions& o) { o.template_code.clear(); }},
      {"--aliyun_api_url",
       [](AliyunSmsOptions& o) { o.api_url = "http://dysmsapi.aliyuncs.com"; }},
  };
  for (const Case& c : cases) {
    AliyunSmsOptions options = Options();
    c.change(options);
    absl::StatusOr<std::unique_ptr<SmsProvider>> sender =
        NewAliyunSmsSender(options, http_);
    SCOPED_TRACE(sender.status().ToString());
    EXPECT_THAT(sender, StatusIs(absl::StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr(c.flag), HasNoSecret())));
  }
  EXPECT_EQ(http_->request_count(), 0u);
}

}  // namespace
}  // namespace profile
