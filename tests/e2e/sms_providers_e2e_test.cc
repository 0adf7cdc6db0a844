// The SMS providers end to end: the real profile_server binary sending codes
// to local HTTP and HTTPS servers that stand in for a Standard Webhooks
// receiver, Twilio, Alibaba Cloud SMS and Twilio Verify, and record what they
// receive (tests/testing/http_test_server.h). Failover, retries,
// Retry-After, the circuit breaker, TLS refusal, the logs and the start-up
// checks of every provider's flags.
#include <curl/curl.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/common/crypto.h"
#include "server/sms/aliyun_sms_sender.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/fake_http_client.h"
#include "tests/testing/http_test_server.h"
#include "tests/testing/server_process.h"
#include "tests/testing/standard_webhooks.h"
#include "tests/testing/test_crypto.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::HttpTestReply;
using ::profile::testing::HttpTestRequest;
using ::profile::testing::HttpTestServer;
using ::profile::testing::HttpTestServerOptions;
using ::profile::testing::MakeTestPki;
using ::profile::testing::PortField;
using ::profile::testing::RunToExit;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::profile::testing::TestPki;
using ::profile::testing::VerifyWithStandardWebhooks;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

const char kBinary[] = PROFILE_SERVER_BINARY;
constexpr char kTwilioToken[] = "twilio-token-3f9d2c7a61e04b58";
constexpr char kAliyunSecret[] = "aliyun-secret-8c1e5b2d94f7";

HttpTestReply Reply(int status, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpTestReply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = std::move(headers);
  reply.headers.emplace_back("Content-Type", "application/json");
  return reply;
}

HttpTestReply Kind(HttpTestReply::Kind kind) {
  HttpTestReply reply;
  reply.kind = kind;
  return reply;
}

HttpTestReply TwilioCreated() {
  return Reply(201, R"({"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"})");
}

// An application/x-www-form-urlencoded body as a map (ParseForm() of
// tests/testing), each field once.
std::map<std::string, std::string> Form(const std::string& body) {
  const ::profile::testing::FormFields fields =
      ::profile::testing::ParseForm(body);
  std::map<std::string, std::string> form(fields.begin(), fields.end());
  EXPECT_EQ(form.size(), fields.size()) << "a field is repeated: " << body;
  return form;
}

v1::SendPhoneCodeRequest NewPhoneCode(const std::string& number) {
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number(number);
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  return request;
}

// One server process with providers on loopback, and files for its flags.
class SmsProvidersTest : public ::testing::Test {
 protected:
  // One PKI for every test: making keys costs more than a test.
  static void SetUpTestSuite() {
    pki_dir_ = new TestDir("sms_providers_pki");
    pki_ = new TestPki(MakeTestPki(pki_dir_->path()));
    std::filesystem::create_directories(pki_dir_->File("other"));
    other_pki_ = new TestPki(MakeTestPki(pki_dir_->File("other")));
  }
  static void TearDownTestSuite() {
    delete other_pki_;
    delete pki_;
    delete pki_dir_;
  }

  ~SmsProvidersTest() override { StopServer(); }

  // Stops the server (closing the client first: an idle gRPC client keeps
  // the server's exit waiting) and checks its log holds no secret.
  void StopServer() {
    client_.reset();
    if (server_ == nullptr) return;
    server_->Stop(SIGTERM);
    ExpectNoSecretsIn(server_->log());
    server_.reset();
  }

  std::string File(const std::string& name, const std::string& text) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << text;
    return path;
  }

  std::unique_ptr<HttpTestServer> Provider(bool tls = false,
                                           std::string cert = "",
                                           std::string key = "") {
    HttpTestServerOptions options;
    options.tls = tls;
    options.cert_file = cert.empty() ? pki_->server_cert : cert;
    options.key_file = key.empty() ? pki_->server_key : key;
    return HttpTestServer::Start(std::move(options));
  }

  // Webhook flags for `receiver`, signed with two secrets.
  std::vector<std::string> WebhookFlags(const HttpTestServer& receiver) {
    return {"--sms_webhook_url=" + receiver.url() + "/sms/hook",
            "--sms_webhook_secret_file=" +
                File("webhook.secrets", absl::StrCat(kSecret1, "\n\n", kSecret2, "\n"))};
  }

  std::vector<std::string> TwilioFlags(const HttpTestServer& twilio) {
    return {"--twilio_api_url=" + twilio.url(), "--twilio_account_sid=AC0123",
            "--twilio_auth_token_file=" + File("twilio.token", kTwilioToken),
            "--twilio_from=+15005550006", "--sms_ca_file=" + pki_->ca_cert};
  }

  void StartServer(std::vector<std::string> args) {
    args.push_back("--log_level=debug");
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(server_->Start(kBinary, std::move(args))) << server_->log();
    client_ = std::make_unique<E2eClient>(server_->port());
  }

  CallResult Send(
      const std::string& user, const std::string& number,
      const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
    v1::SendPhoneCodeResponse response;
    return client_->Call(&Stub::SendPhoneCode, user, NewPhoneCode(number),
                         &response, metadata);
  }

  CallResult Verify(const std::string& user, const std::string& number,
                    const std::string& code) {
    v1::UpdatePhoneVerificationRequest request;
    request.set_new_phone_country_code("+86");
    request.set_new_phone_number(number);
    request.set_new_phone_pass_code(code);
    v1::UpdatePhoneVerificationResponse response;
    return client_->Call(&Stub::UpdatePhoneVerification, user, request,
                         &response);
  }

  // Codes sent in this test, which the log must not show.
  void Remember(const std::string& code) { codes_.push_back(code); }

  void ExpectNoSecretsIn(const std::string& log) {
    EXPECT_THAT(log, Not(HasSubstr(kTwilioToken)));
    EXPECT_THAT(log, Not(HasSubstr(kAliyunSecret)));
    EXPECT_THAT(log, Not(HasSubstr(std::string(kSecret1).substr(6))));
    for (const std::string& code : codes_) {
      EXPECT_THAT(log, Not(HasSubstr("\"" + code + "\""))) << code;
      EXPECT_THAT(log, Not(HasSubstr(" " + code + " "))) << code;
    }
  }

  static constexpr char kSecret1[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static constexpr char kSecret2[] = "whsec_dGhpcyBpcyB0aGUgc2Vjb25kIHNlY3JldCBrZXkh";

  static TestDir* pki_dir_;
  static TestPki* pki_;
  static TestPki* other_pki_;
  TestDir dir_{"sms_providers_e2e"};
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<E2eClient> client_;
  std::vector<std::string> codes_;
};

TestDir* SmsProvidersTest::pki_dir_ = nullptr;
TestPki* SmsProvidersTest::pki_ = nullptr;
TestPki* SmsProvidersTest::other_pki_ = nullptr;

TEST_F(SmsProvidersTest, WebhookIsSignedPerStandardWebhooksAndItsCodeWorks) {
  std::unique_ptr<HttpTestServer> receiver = Provider();
  std::vector<std::string> args = {"--sms_sender=webhook", "--app_name=Acme"};
  for (std::string& flag : WebhookFlags(*receiver)) args.push_back(flag);
  StartServer(args);
  // An HTTP provider loads libcurl at start, and only libcurl.
  EXPECT_TRUE(server_->Maps("/libcurl.so.4"));
  EXPECT_FALSE(server_->Maps("/libpq.so."));

  const absl::Time before = absl::Now();
  CallResult sent = Send("u1", "13800138000", {{"x-authing-lang", "zh-CN"}});
  ASSERT_EQ(sent.code(), grpc::StatusCode::OK) << sent.status.error_message();
  ASSERT_THAT(receiver->requests(), SizeIs(1));
  const HttpTestRequest request = receiver->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/sms/hook");
  EXPECT_EQ(request.Header("content-type"), "application/json");

  const nlohmann::json body = nlohmann::json::parse(request.body);
  ASSERT_EQ(body.size(), 7u) << request.body;
  EXPECT_EQ(body["type"], "verification_code");
  EXPECT_EQ(body["phone_e164"], "+8613800138000");
  EXPECT_EQ(body["purpose"], "new_phone");
  EXPECT_EQ(body["locale"], "zh-CN");
  EXPECT_EQ(body["request_id"], sent.Trailer("x-request-id"));
  const std::string code = body["code"].get<std::string>();
  Remember(code);
  EXPECT_THAT(code, MatchesRegex("[0-9]{6}"));
  EXPECT_EQ(body["text"], absl::StrCat("【Acme】验证码 ", code,
                                       "，用于将此手机号绑定到您的账号，5 "
                                       "分钟内有效。请勿告诉他人。"));

  // The headers, checked by hand...
  const std::string id = request.Header("webhook-id");
  const std::string timestamp = request.Header("webhook-timestamp");
  EXPECT_THAT(id, MatchesRegex("msg_[A-Za-z0-9_-]{22}"));
  int64_t seconds = 0;
  ASSERT_TRUE(absl::SimpleAtoi(timestamp, &seconds));
  EXPECT_LE(std::abs(seconds - absl::ToUnixSeconds(before)), 5);
  std::vector<std::string> expected;
  for (const char* secret : {kSecret1, kSecret2}) {
    std::string key;
    ASSERT_TRUE(absl::Base64Unescape(std::string(secret).substr(6), &key));
    expected.push_back(absl::StrCat(
        "v1,", absl::Base64Escape(HmacSha256(
                   key, absl::StrCat(id, ".", timestamp, ".", request.body)))));
  }
  EXPECT_EQ(request.Header("webhook-signature"),
            absl::StrCat(expected[0], " ", expected[1]));
  // ...and by the standardwebhooks package, with either secret.
  EXPECT_TRUE(VerifyWithStandardWebhooks(kSecret1, request).ok());
  EXPECT_TRUE(VerifyWithStandardWebhooks(kSecret2, request).ok());
  HttpTestRequest tampered = request;
  tampered.body = absl::StrReplaceAll(tampered.body, {{code, "000000"}});
  EXPECT_FALSE(VerifyWithStandardWebhooks(kSecret1, tampered).ok());

  // The code that went out is the one the flow accepts.
  EXPECT_EQ(Verify("u1", "13800138000", code).code(), grpc::StatusCode::OK);
}

TEST_F(SmsProvidersTest, TwilioOverHttpsGetsTheExactRequest) {
  std::unique_ptr<HttpTestServer> twilio = Provider(/*tls=*/true);
  twilio->SetHandler([](const HttpTestRequest&) { return TwilioCreated(); });
  std::vector<std::string> args = {"--sms_sender=twilio"};
  for (std::string& flag : TwilioFlags(*twilio)) args.push_back(flag);
  StartServer(args);

  const std::string traceparent =
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  CallResult sent = Send("u1", "13800138000", {{"traceparent", traceparent}});
  ASSERT_EQ(sent.code(), grpc::StatusCode::OK) << sent.status.error_message();
  ASSERT_THAT(twilio->requests(), SizeIs(1));
  const HttpTestRequest request = twilio->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/2010-04-01/Accounts/AC0123/Messages.json");
  EXPECT_EQ(request.Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.Header("authorization"),
            "Basic " + absl::Base64Escape(absl::StrCat("AC0123:", kTwilioToken)));
  EXPECT_EQ(request.Header("traceparent").substr(0, 36), traceparent.substr(0, 36));
  const std::map<std::string, std::string> form = Form(request.body);
  EXPECT_EQ(form.size(), 3u) << request.body;
  EXPECT_EQ(form.at("To"), "+8613800138000");
  EXPECT_EQ(form.at("From"), "+15005550006");
  EXPECT_THAT(form.at("Body"), MatchesRegex("Profile: [0-9]{6} is your code to link this number.*"));
  Remember(form.at("Body").substr(9, 6));
  // The attempt is logged with the provider's id and the masked phone.
  ASSERT_TRUE(server_->WaitForLog("SM0123456789abcdef0123456789abcdef"))
      << server_->log();
  EXPECT_THAT(server_->log(), HasSubstr("\"provider\":\"twilio\""));
  EXPECT_THAT(server_->log(), Not(HasSubstr("13800138000")));
}

TEST_F(SmsProvidersTest, AliyunGetsASignedSendSms) {
  std::unique_ptr<HttpTestServer> aliyun = Provider();
  aliyun->SetHandler([](const HttpTestRequest&) {
    return Reply(200, R"({"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","Code":"OK","BizId":"900619746936498440^0"})");
  });
  StartServer({"--sms_sender=aliyun", "--aliyun_api_url=" + aliyun->url(),
               "--aliyun_access_key_id=LTAI4FxyzAbc",
               "--aliyun_access_key_secret_file=" + File("aliyun.secret", kAliyunSecret),
               "--aliyun_sign_name=阿里云短信测试", "--aliyun_template_code=SMS_154950909"});

  ASSERT_EQ(Send("u1", "13800138000").code(), grpc::StatusCode::OK);
  ASSERT_THAT(aliyun->requests(), SizeIs(1));
  const HttpTestRequest request = aliyun->requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/");
  std::map<std::string, std::string> form = Form(request.body);
  EXPECT_EQ(form.at("Action"), "SendSms");
  EXPECT_EQ(form.at("Version"), "2017-05-25");
  EXPECT_EQ(form.at("Format"), "JSON");
  EXPECT_EQ(form.at("AccessKeyId"), "LTAI4FxyzAbc");
  EXPECT_EQ(form.at("PhoneNumbers"), "13800138000");
  EXPECT_EQ(form.at("SignName"), "阿里云短信测试");
  EXPECT_EQ(form.at("TemplateCode"), "SMS_154950909");
  EXPECT_EQ(form.at("SignatureMethod"), "HMAC-SHA1");
  EXPECT_EQ(form.at("SignatureVersion"), "1.0");
  EXPECT_THAT(form.at("Timestamp"),
              MatchesRegex("20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  const nlohmann::json param = nlohmann::json::parse(form.at("TemplateParam"));
  ASSERT_TRUE(param.contains("code"));
  Remember(param["code"].get<std::string>());
  EXPECT_THAT(param["code"].get<std::string>(), MatchesRegex("[0-9]{6}"));
  // The signature covers every other parameter.
  const std::string signature = form.at("Signature");
  form.erase("Signature");
  HttpFields params(form.begin(), form.end());
  EXPECT_EQ(signature, AliyunSignature(kAliyunSecret, "POST", params));
}

TEST_F(SmsProvidersTest, AliyunRefusalFailsTheSend) {
  std::unique_ptr<HttpTestServer> aliyun = Provider();
  aliyun->SetHandler([](const HttpTestRequest&) {
    return Reply(200, R"({"Message":"invalid mobile","RequestId":"x","Code":"isv.MOBILE_NUMBER_ILLEGAL"})");
  });
  StartServer({"--sms_sender=aliyun", "--aliyun_api_url=" + aliyun->url(),
               "--aliyun_access_key_id=LTAI4FxyzAbc",
               "--aliyun_access_key_secret_file=" + File("aliyun.secret", kAliyunSecret),
               "--aliyun_sign_name=Acme", "--aliyun_template_code=SMS_1"});
  CallResult sent = Send("u1", "13800138000");
  EXPECT_EQ(sent.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(sent.api_code(), 2110);
  EXPECT_EQ(aliyun->request_count(), 1u);  // a refusal is not retried
  EXPECT_TRUE(server_->WaitForLog("isv.MOBILE_NUMBER_ILLEGAL")) << server_->log();
}

// Each way a first provider can fail: the second one delivers.
TEST_F(SmsProvidersTest, FailsOverFrom503HangGarbageAndAnUntrustedCertificate) {
  struct Case {
    const char* name;
    HttpTestReply reply;
    bool untrusted_tls;
    size_t twilio_requests;
  };
  const Case cases[] = {
      {"503", Reply(503, "{}"), false, 2},
      {"hang", Kind(HttpTestReply::Kind::kHang), false, 2},
      {"garbage", Kind(HttpTestReply::Kind::kGarbage), false, 2},
      {"closed", Kind(HttpTestReply::Kind::kClose), false, 2},
      {"untrusted certificate", TwilioCreated(), true, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<HttpTestServer> twilio =
        c.untrusted_tls
            ? Provider(true, other_pki_->server_cert, other_pki_->server_key)
            : Provider();
    twilio->SetHandler([&](const HttpTestRequest&) { return c.reply; });
    std::unique_ptr<HttpTestServer> receiver = Provider();
    std::vector<std::string> args = {"--sms_sender=twilio,webhook",
                                     "--sms_timeout=500ms"};
    for (std::string& flag : TwilioFlags(*twilio)) args.push_back(flag);
    if (c.untrusted_tls) args[2] = "--twilio_api_url=" + twilio->url();
    for (std::string& flag : WebhookFlags(*receiver)) args.push_back(flag);
    StartServer(args);

    const absl::Time start = absl::Now();
    CallResult sent = Send("u1", "13800138000");
    EXPECT_EQ(sent.code(), grpc::StatusCode::OK) << sent.status.error_message();
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
    EXPECT_EQ(twilio->request_count(), c.twilio_requests);
    ASSERT_EQ(receiver->request_count(), 1u);
    Remember(nlohmann::json::parse(receiver->requests()[0].body)["code"]);
    EXPECT_TRUE(server_->WaitForLog("\"message\":\"sms attempt failed\""))
        << server_->log();
    StopServer();
  }
}

TEST_F(SmsProvidersTest, RetryAfterIsHonoured) {
  std::unique_ptr<HttpTestServer> twilio = Provider();
  std::atomic<int> calls{0};
  twilio->SetHandler([&](const HttpTestRequest&) {
    return calls++ == 0 ? Reply(429, R"({"code":20429,"message":"Too Many Requests"})",
                                {{"Retry-After", "1"}})
                        : TwilioCreated();
  });
  std::vector<std::string> args = {"--sms_sender=twilio"};
  for (std::string& flag : TwilioFlags(*twilio)) args.push_back(flag);
  StartServer(args);
  const absl::Time start = absl::Now();
  EXPECT_EQ(Send("u1", "13800138000").code(), grpc::StatusCode::OK);
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(twilio->request_count(), 2u);
}

TEST_F(SmsProvidersTest, EveryProviderFailingIs2110) {
  std::unique_ptr<HttpTestServer> twilio = Provider();
  twilio->SetHandler([](const HttpTestRequest&) { return Reply(500, "{}"); });
  std::vector<std::string> args = {"--sms_sender=twilio"};
  for (std::string& flag : TwilioFlags(*twilio)) args.push_back(flag);
  StartServer(args);
  CallResult sent = Send("u1", "13800138000");
  EXPECT_EQ(sent.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(sent.api_code(), 2110);
  EXPECT_EQ(twilio->request_count(), 2u);  // --sms_attempts=2
}

// Scrapes the metrics port for the value of one series.
double Metric(int port, const std::string& series) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL,
                   absl::StrCat("http://127.0.0.1:", port, "/metrics").c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                   +[](char* data, size_t size, size_t n, void* out) {
                     static_cast<std::string*>(out)->append(data, size * n);
                     return size * n;
                   });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double value = -1;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
    }
  }
  return -1;
}

TEST_F(SmsProvidersTest, BreakerOpensSkipsTheProviderAndAProbeClosesIt) {
  std::unique_ptr<HttpTestServer> twilio = Provider();
  std::atomic<bool> down{true};
  twilio->SetHandler([&](const HttpTestRequest&) {
    return down ? Reply(503, "{}") : TwilioCreated();
  });
  std::unique_ptr<HttpTestServer> receiver = Provider();
  std::vector<std::string> args = {
      "--sms_sender=twilio,webhook", "--sms_attempts=1",
      "--sms_breaker_failures=2", "--sms_breaker_cooloff=1s",
      "--metrics_listen=127.0.0.1:0"};
  for (std::string& flag : TwilioFlags(*twilio)) args.push_back(flag);
  for (std::string& flag : WebhookFlags(*receiver)) args.push_back(flag);
  StartServer(args);
  const int metrics = PortField(server_->log(), "metrics_port");
  ASSERT_GT(metrics, 0);
  const std::string open = R"(profile_sms_breaker_open{provider="twilio"})";
  EXPECT_EQ(Metric(metrics, open), 0);

  // Different users and numbers: no send limit gets in the way.
  ASSERT_EQ(Send("u1", "13800138001").code(), grpc::StatusCode::OK);
  ASSERT_EQ(Send("u2", "13800138002").code(), grpc::StatusCode::OK);
  EXPECT_EQ(twilio->request_count(), 2u);
  EXPECT_EQ(Metric(metrics, open), 1);
  // Open: twilio is skipped, the webhook delivers at once.
  ASSERT_EQ(Send("u3", "13800138003").code(), grpc::StatusCode::OK);
  EXPECT_EQ(twilio->request_count(), 2u);
  EXPECT_EQ(receiver->request_count(), 3u);
  EXPECT_EQ(Metric(metrics, R"(profile_sms_sends_total{outcome="skipped",provider="twilio"})"), 1);
  // After the cool-off one probe goes to twilio, which works again.
  down = false;
  absl::SleepFor(absl::Milliseconds(1200));
  ASSERT_EQ(Send("u4", "13800138004").code(), grpc::StatusCode::OK);
  EXPECT_EQ(twilio->request_count(), 3u);
  EXPECT_EQ(receiver->request_count(), 3u);
  EXPECT_EQ(Metric(metrics, open), 0);
  EXPECT_EQ(Metric(metrics, R"(profile_sms_sends_total{outcome="ok",provider="twilio"})"), 1);
  EXPECT_EQ(Metric(metrics, R"(profile_sms_sends_total{outcome="failed",provider="twilio"})"), 2);
  EXPECT_TRUE(server_->WaitForLog("sms provider breaker open")) << server_->log();
  EXPECT_TRUE(server_->WaitForLog("sms provider breaker closed")) << server_->log();
  for (const HttpTestRequest& r : receiver->requests()) {
    Remember(nlohmann::json::parse(r.body)["code"]);
  }
}

TEST_F(SmsProvidersTest, TwilioVerifySendsAndChecksTheCodes) {
  std::unique_ptr<HttpTestServer> verify = Provider(/*tls=*/true);
  std::atomic<int> check_status{200};
  std::atomic<bool> approve{true};
  verify->SetHandler([&](const HttpTestRequest& request) {
    if (absl::EndsWith(request.target, "/Verifications")) {
      return Reply(201, R"({"sid":"VE0123","status":"pending"})");
    }
    if (check_status != 200) return Reply(check_status, R"({"code":20404,"message":"not found"})");
    return Reply(200, approve ? R"({"sid":"VE0123","status":"approved","valid":true})"
                              : R"({"sid":"VE0123","status":"pending","valid":false})");
  });
  StartServer({"--code_verifier=twilio_verify",
               "--twilio_verify_api_url=" + verify->url(),
               "--twilio_verify_service_sid=VA0123", "--twilio_account_sid=AC0123",
               "--twilio_auth_token_file=" + File("twilio.token", kTwilioToken),
               "--sms_ca_file=" + pki_->ca_cert});

  ASSERT_EQ(Send("u1", "13800138000", {{"accept-language", "zh-CN"}}).code(),
            grpc::StatusCode::OK);
  ASSERT_EQ(verify->request_count(), 1u);
  HttpTestRequest request = verify->requests()[0];
  EXPECT_EQ(request.target, "/v2/Services/VA0123/Verifications");
  EXPECT_EQ(request.Header("authorization"),
            "Basic " + absl::Base64Escape(absl::StrCat("AC0123:", kTwilioToken)));
  std::map<std::string, std::string> form = Form(request.body);
  EXPECT_EQ(form, (std::map<std::string, std::string>{
                      {"To", "+8613800138000"}, {"Channel", "sms"}, {"Locale", "zh-CN"}}));

  // pending: the code is wrong.
  approve = false;
  CallResult wrong = Verify("u1", "13800138000", "111111");
  EXPECT_EQ(wrong.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(wrong.api_code(), 2001);
  request = verify->requests()[1];
  EXPECT_EQ(request.target, "/v2/Services/VA0123/VerificationCheck");
  EXPECT_EQ(Form(request.body), (std::map<std::string, std::string>{
                                    {"To", "+8613800138000"}, {"Code", "111111"}}));
  // 404: no live verification.
  check_status = 404;
  CallResult expired = Verify("u1", "13800138000", "222222");
  EXPECT_EQ(expired.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(expired.api_code(), 2300);
  // approved: a token.
  check_status = 200;
  approve = true;
  CallResult ok = Verify("u1", "13800138000", "333333");
  EXPECT_EQ(ok.code(), grpc::StatusCode::OK) << ok.status.error_message();
}

TEST(SmsProvidersFlagsTest, BadProviderFlagsStopTheStartNamingTheFlag) {
  TestDir dir("sms_flags");
  const std::string token = dir.File("token");
  std::ofstream(token) << "t0k3n";
  const std::string secrets = dir.File("secrets");
  std::ofstream(secrets) << "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
  const std::string bad_secrets = dir.File("bad_secrets");
  std::ofstream(bad_secrets) << "whsec_c2hvcnQ=\n";
  const std::string not_pem = dir.File("not.pem");
  std::ofstream(not_pem) << "not a certificate\n";
  const std::string templates = dir.File("templates.json");
  std::ofstream(templates) << R"({"en": {"new_phone": "no code"}})";
  const std::string twilio = "--twilio_auth_token_file=" + token;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--sms_sender=log,smtp"}, "--sms_sender"},
      {{"--sms_sender=webhook"}, "--sms_webhook_url"},
      {{"--sms_sender=webhook", "--sms_webhook_url=http://example.com/hook",
        "--sms_webhook_secret_file=" + secrets},
       "--sms_webhook_url"},
      {{"--sms_sender=webhook", "--sms_webhook_url=https://example.com/hook"},
       "--sms_webhook_secret_file"},
      {{"--sms_sender=webhook", "--sms_webhook_url=https://example.com/hook",
        "--sms_webhook_secret_file=" + bad_secrets},
       "--sms_webhook_secret_file"},
      {{"--sms_sender=twilio", twilio, "--twilio_from=+15005550006"},
       "--twilio_account_sid"},
      {{"--sms_sender=twilio", "--twilio_account_sid=AC1",
        "--twilio_from=+15005550006"},
       "--twilio_auth_token_file"},
      {{"--sms_sender=twilio", "--twilio_account_sid=AC1", twilio},
       "--twilio_from"},
      {{"--sms_sender=twilio", "--twilio_account_sid=AC1", twilio,
        "--twilio_from=+15005550006", "--twilio_api_url=http://10.0.0.1"},
       "--twilio_api_url"},
      {{"--sms_sender=aliyun", "--aliyun_sign_name=A",
        "--aliyun_template_code=SMS_1"},
       "--aliyun_access_key_id"},
      {{"--sms_sender=aliyun", "--aliyun_access_key_id=LTAI",
        "--aliyun_sign_name=A", "--aliyun_template_code=SMS_1"},
       "--aliyun_access_key_secret_file"},
      {{"--code_verifier=twilio_verify", "--twilio_account_sid=AC1", twilio},
       "--twilio_verify_service_sid"},
      {{"--code_verifier=sms"}, "--code_verifier"},
      {{"--sms_sender=webhook", "--sms_webhook_url=https://example.com/hook",
        "--sms_webhook_secret_file=" + secrets, "--sms_ca_file=" + not_pem},
       "--sms_ca_file"},
      {{"--sms_timeout=0s"}, "--sms_timeout"},
      {{"--sms_attempts=0"}, "--sms_attempts"},
      {{"--sms_breaker_cooloff=0s"}, "--sms_breaker_cooloff"},
      {{"--sms_max_in_flight=0"}, "--sms_max_in_flight"},
      {{"--sms_templates_file=" + templates}, "--sms_templates_file"},
      {{"--sms_origin=https://x"}, "--sms_origin"},
      {{"--app_name="}, "--app_name"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.args[0] << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.args[0] << "\n" << log;
    EXPECT_THAT(log, Not(HasSubstr("t0k3n")));
  }
}

}  // namespace
}  // namespace profile
