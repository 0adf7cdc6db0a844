// End-to-end tests of the phone-change API: the real server, on a real
// socket at 127.0.0.1 on a free port, driven through the generated stub.
//
// The suite is parameterized by backend so that every row runs again on
// every storage engine the server supports.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/server.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::PostgresServer;
using ::profile::testing::RaceSpends;
using ::profile::testing::RedisServer;
using ::profile::testing::E2eClient;
using ::profile::testing::SpendRace;
using ::profile::testing::Stub;
using ::testing::HasSubstr;

constexpr char kTestPhone[] = "+8613800138000";
constexpr char kTestCode[] = "246810";

enum class Backend { kInMemory, kRedisPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kInMemory:
      return "InMemory";
    case Backend::kRedisPostgres:
      return "RedisPostgres";
  }
  return "Unknown";
}

// One Redis and one PostgreSQL for the whole binary, started on first use;
// every test gets its own key prefix and its own database.
struct SharedBackends {
  SharedBackends() {
    started = redis.Start() && postgres.Start();
    if (!started) error = redis.error() + postgres.error();
  }
  RedisServer redis;
  PostgresServer postgres;
  bool started = false;
  std::string error;
  int tests = 0;
};

SharedBackends& Backends() {
  static SharedBackends backends;
  return backends;
}

v1::SendPhoneCodeRequest SendRequest(const std::string& cc,
                                     const std::string& number,
                                     v1::PhoneCodePurpose purpose) {
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code(cc);
  request.set_phone_number(number);
  request.set_purpose(purpose);
  return request;
}

v1::UpdatePhoneVerificationRequest VerifyRequest(const std::string& cc,
                                                 const std::string& number,
                                                 const std::string& code) {
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_country_code(cc);
  request.set_new_phone_number(number);
  request.set_new_phone_pass_code(code);
  return request;
}

v1::UpdatePhoneRequest UpdateRequest(const std::string& token) {
  v1::UpdatePhoneRequest request;
  request.set_update_phone_token(token);
  return request;
}

// Returns how many phone changes `log` records.
int AuditLines(const std::string& log) {
  int lines = 0;
  for (size_t at = log.find("\"audit\":\"phone_change\"");
       at != std::string::npos;
       at = log.find("\"audit\":\"phone_change\"", at + 1)) {
    ++lines;
  }
  return lines;
}

class ProfileServiceE2eTest : public ::testing::TestWithParam<Backend> {
 protected:
  void TearDown() override { server_.reset(); }

  // Options every test starts from: outbox SMS, one test number, and the
  // backend under test.
  ServerOptions BaseOptions() {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.core.sms.sender = "outbox:" + outbox_;
    options.core.test_phone_codes = absl::StrCat(kTestPhone, ":", kTestCode);
    if (GetParam() == Backend::kRedisPostgres) {
      SharedBackends& backends = Backends();
      EXPECT_TRUE(backends.started) << backends.error;
      const int test = ++backends.tests;
      options.core.stores.redis_url = backends.redis.url();
      options.core.code_secret_file =
          dir_.Write("code-secret", std::string(32, 'k'));
      options.core.stores.redis_key_prefix = absl::StrCat("e2e", test, ":");
      options.core.stores.postgres_url = backends.postgres.NewDatabase();
      EXPECT_FALSE(options.core.stores.postgres_url.empty()) << backends.postgres.error();
    }
    return options;
  }

  void StartServer(ServerOptions options) {
    absl::StatusOr<std::unique_ptr<ProfileServer>> server =
        ProfileServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<E2eClient>(server_->port());
  }

  void StartServer() { StartServer(BaseOptions()); }

  // Returns the newest code the outbox holds for `e164` and `purpose`.
  std::string CodeFromOutbox(const std::string& e164,
                             const std::string& purpose) {
    std::ifstream in(outbox_);
    std::string line, code;
    while (std::getline(in, line)) {
      nlohmann::json message = nlohmann::json::parse(line);
      if (message["phone_e164"] == e164 && message["purpose"] == purpose) {
        code = message["code"];
      }
    }
    return code;
  }

  // Returns the outbox lines of `type` to `e164`, waiting up to 5 s for the
  // `count`th (the relay sends notices in the background, normally within
  // milliseconds).
  std::vector<nlohmann::json> Notices(const std::string& type,
                                      const std::string& e164,
                                      size_t count = 1) {
    std::vector<nlohmann::json> found;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    do {
      found.clear();
      std::ifstream in(outbox_);
      for (std::string line; std::getline(in, line);) {
        nlohmann::json message = nlohmann::json::parse(line);
        if (message["type"] == type && message["phone_e164"] == e164) {
          found.push_back(std::move(message));
        }
      }
      if (found.size() >= count) break;
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return found;
  }

  // The revert token of the newest change away from +86 `number`.
  std::string RevertTokenOf(const std::string& number, size_t changes = 1) {
    std::vector<nlohmann::json> notices =
        Notices("phone_changed_notice", "+86" + number, changes);
    EXPECT_EQ(notices.size(), changes) << number;
    if (notices.empty()) return "";
    return notices.back().value("revert_token", "");
  }

  CallResult Revert(const std::string& token,
                    const std::string& client_ip = "") {
    v1::RevertPhoneChangeRequest request;
    request.set_revert_token(token);
    v1::CommonResponse response;
    std::vector<std::pair<std::string, std::string>> metadata;
    if (!client_ip.empty()) metadata.push_back({"x-client-ip", client_ip});
    // No x-user-id: the token is the proof.
    return client_->Call(&Stub::RevertPhoneChange, "", request, &response,
                         metadata);
  }

  int OutboxLines() {
    std::ifstream in(outbox_);
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }

  CallResult Send(const std::string& user, const std::string& cc,
                  const std::string& number,
                  v1::PhoneCodePurpose purpose =
                      v1::PHONE_CODE_PURPOSE_NEW_PHONE,
                  v1::SendPhoneCodeResponse* response = nullptr) {
    v1::SendPhoneCodeResponse local;
    return client_->Call(&Stub::SendPhoneCode, user,
                         SendRequest(cc, number, purpose),
                         response ? response : &local);
  }

  CallResult Verify(const std::string& user,
                    const v1::UpdatePhoneVerificationRequest& request,
                    v1::UpdatePhoneVerificationResponse* response = nullptr) {
    v1::UpdatePhoneVerificationResponse local;
    return client_->Call(&Stub::UpdatePhoneVerification, user, request,
                         response ? response : &local);
  }

  CallResult Update(const std::string& user, const std::string& token,
                    v1::CommonResponse* response = nullptr) {
    v1::CommonResponse local;
    return client_->Call(&Stub::UpdatePhone, user, UpdateRequest(token),
                         response ? response : &local);
  }

  // Sends a code to +86 `number`, verifies it and returns the token. A user
  // who has a phone proves it too, with an old-phone code texted to it, as
  // --verify_old_phone (the default) requires.
  std::string TokenFor(const std::string& user, const std::string& number) {
    const v1::Profile current = ProfileOf(user);
    CallResult sent = Send(user, "+86", number);
    EXPECT_TRUE(sent.status.ok()) << sent.status.error_message();
    const std::string code = CodeFromOutbox("+86" + number, "new_phone");
    v1::UpdatePhoneVerificationRequest request =
        VerifyRequest("+86", number, code);
    if (!current.phone_e164().empty()) {
      sent = Send(user, current.phone_country_code(), current.phone_number(),
                  v1::PHONE_CODE_PURPOSE_OLD_PHONE);
      EXPECT_TRUE(sent.status.ok()) << sent.status.error_message();
      request.set_old_phone_country_code(current.phone_country_code());
      request.set_old_phone_number(current.phone_number());
      // The test number is texted nothing: its code is fixed.
      request.set_old_phone_pass_code(
          current.phone_e164() == kTestPhone
              ? kTestCode
              : CodeFromOutbox(current.phone_e164(), "old_phone"));
    }
    v1::UpdatePhoneVerificationResponse response;
    CallResult verified = Verify(user, request, &response);
    EXPECT_TRUE(verified.status.ok()) << verified.status.error_message();
    return response.data().update_phone_token();
  }

  // Binds +86 `number` to `user` through the whole flow.
  void BindPhone(const std::string& user, const std::string& number) {
    CallResult updated = Update(user, TokenFor(user, number));
    ASSERT_TRUE(updated.status.ok()) << updated.status.error_message();
  }

  v1::Profile ProfileOf(const std::string& user) {
    v1::GetProfileResponse response;
    CallResult result =
        client_->Call(&Stub::GetProfile, user, v1::GetProfileRequest(),
                      &response);
    EXPECT_TRUE(result.status.ok()) << result.status.error_message();
    return response.data();
  }

  ::profile::testing::TestDir dir_{"profile_e2e"};
  const std::string outbox_ = dir_.File("outbox.jsonl");
  std::unique_ptr<ProfileServer> server_;
  std::unique_ptr<E2eClient> client_;
};

TEST_P(ProfileServiceE2eTest, HappyPathChangesThePhone) {
  StartServer();
  v1::SendPhoneCodeResponse sent;
  CallResult send_result = Send("alice", "+86", "138-0013 8001",
                                v1::PHONE_CODE_PURPOSE_NEW_PHONE, &sent);
  ASSERT_TRUE(send_result.status.ok()) << send_result.status.error_message();
  EXPECT_EQ(sent.status_code(), 200);
  EXPECT_EQ(sent.data().expires_in(), 300);
  EXPECT_EQ(sent.data().resend_after(), 60);
  const std::string code = CodeFromOutbox("+8613800138001", "new_phone");
  ASSERT_EQ(code.size(), 6u);

  v1::UpdatePhoneVerificationResponse verified;
  CallResult verify_result = Verify(
      "alice", VerifyRequest("+86", "13800138001", code), &verified);
  ASSERT_TRUE(verify_result.status.ok())
      << verify_result.status.error_message();
  EXPECT_EQ(verified.status_code(), 200);
  EXPECT_EQ(verified.data().token_expires_in(), 60);
  EXPECT_TRUE(std::regex_match(verified.data().update_phone_token(),
                               std::regex("[A-Za-z0-9_-]{43}")))
      << verified.data().update_phone_token();

  v1::CommonResponse updated;
  CallResult update_result =
      Update("alice", verified.data().update_phone_token(), &updated);
  ASSERT_TRUE(update_result.status.ok())
      << update_result.status.error_message();
  EXPECT_EQ(updated.status_code(), 200);
  EXPECT_EQ(updated.message(), "success");
  EXPECT_FALSE(updated.request_id().empty());
  EXPECT_EQ(update_result.Trailer("x-request-id"), updated.request_id());

  v1::Profile profile = ProfileOf("alice");
  EXPECT_EQ(profile.user_id(), "alice");
  EXPECT_EQ(profile.phone_country_code(), "+86");
  EXPECT_EQ(profile.phone_number(), "13800138001");
  EXPECT_EQ(profile.phone_e164(), "+8613800138001");
}

TEST_P(ProfileServiceE2eTest, NewUserHasAnEmptyProfile) {
  StartServer();
  v1::GetProfileResponse response;
  CallResult result = client_->Call(&Stub::GetProfile, "nobody-yet",
                                    v1::GetProfileRequest(), &response);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK);
  EXPECT_EQ(response.status_code(), 200);
  EXPECT_EQ(response.data().user_id(), "nobody-yet");
  EXPECT_EQ(response.data().phone_e164(), "");
  EXPECT_EQ(response.data().phone_number(), "");
  EXPECT_EQ(response.data().phone_country_code(), "");
}

TEST_P(ProfileServiceE2eTest, JsonUsesTheApiCamelCaseNames) {
  StartServer();
  v1::UpdatePhoneVerificationResponse verified;
  ASSERT_TRUE(Verify("json-user", VerifyRequest("+86", "13800138000", kTestCode),
                     &verified)
                  .status.ok());
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(verified, &json, print)
                  .ok());
  nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["statusCode"], 200);
  EXPECT_TRUE(parsed["requestId"].is_string());
  EXPECT_TRUE(parsed["data"]["updatePhoneToken"].is_string());
  EXPECT_EQ(parsed["data"]["tokenExpiresIn"], 60);

  v1::UpdatePhoneVerificationRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"newPhoneCountryCode":"+86","newPhoneNumber":"1",
                      "newPhonePassCode":"1","oldPhoneCountryCode":"+86",
                      "oldPhoneNumber":"2","oldPhonePassCode":"2"})",
                  &request)
                  .ok());
  EXPECT_EQ(request.old_phone_pass_code(), "2");
}

TEST_P(ProfileServiceE2eTest, TestNumberNeedsNoSmsAndNoCooldown) {
  StartServer();
  for (int i = 0; i < 3; ++i) {
    v1::SendPhoneCodeResponse sent;
    CallResult result = Send("tester", "+86", "13800138000",
                             v1::PHONE_CODE_PURPOSE_NEW_PHONE, &sent);
    ASSERT_EQ(result.code(), grpc::StatusCode::OK);
    EXPECT_EQ(sent.data().resend_after(), 0);
  }
  EXPECT_EQ(OutboxLines(), 0);
  // The fixed code is reusable.
  for (int i = 0; i < 2; ++i) {
    CallResult verified =
        Verify("tester", VerifyRequest("+86", "13800138000", kTestCode));
    EXPECT_EQ(verified.code(), grpc::StatusCode::OK);
  }
}

// ---- The error table, row by row: exact gRPC code and api code. ----

TEST_P(ProfileServiceE2eTest, MissingIdentityIsUnauthenticated) {
  StartServer();
  v1::GetProfileResponse response;
  CallResult result = client_->Call(&Stub::GetProfile, "",
                                    v1::GetProfileRequest(), &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(result.api_code(), 1000);
  EXPECT_THAT(result.status.error_message(), HasSubstr("x-user-id"));
  EXPECT_FALSE(result.Trailer("x-request-id").empty());

  result = client_->Call(&Stub::GetProfile, "  ", v1::GetProfileRequest(),
                         &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(result.api_code(), 1000);
  result = client_->Call(&Stub::GetProfile, std::string(129, 'u'),
                         v1::GetProfileRequest(), &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(result.api_code(), 1000);
}

TEST_P(ProfileServiceE2eTest, MalformedPhoneIsInvalidArgumentNamingTheField) {
  StartServer();
  for (const char* number : {"", "12", "abc-def", "1380013800012345678901"}) {
    CallResult result = Send("u1", "+86", number);
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << number;
    EXPECT_EQ(result.api_code(), 1001) << number;
    EXPECT_THAT(result.status.error_message(), HasSubstr("phone_number"));
  }
  CallResult result = Send("u1", "+999", "13800138000");
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("phone_country_code"));

  result = Verify("u1", VerifyRequest("+86", "138", "123456"));
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("new_phone_number"));

  result = Verify("u1", VerifyRequest("+86", "13800138001", "12ab56"));
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("new_phone_pass_code"));
}

TEST_P(ProfileServiceE2eTest, UnspecifiedPurposeIsInvalidArgument) {
  StartServer();
  CallResult result = Send("u1", "+86", "13800138001",
                           v1::PHONE_CODE_PURPOSE_UNSPECIFIED);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("purpose"));
}

TEST_P(ProfileServiceE2eTest, WrongCodeIs2001AndBurnsAfterFiveTries) {
  StartServer();
  ASSERT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  const std::string code = CodeFromOutbox("+8613800138001", "new_phone");
  const std::string wrong = code == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i) {
    CallResult result = Verify("u1", VerifyRequest("+86", "13800138001", wrong));
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(result.api_code(), 2001);
  }
  // Burned: even the right code is gone now.
  CallResult result = Verify("u1", VerifyRequest("+86", "13800138001", code));
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2300);
}

TEST_P(ProfileServiceE2eTest, UnknownOrUsedCodeIs2300) {
  StartServer();
  CallResult result =
      Verify("u1", VerifyRequest("+86", "13800138001", "123456"));
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2300);

  ASSERT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  const std::string code = CodeFromOutbox("+8613800138001", "new_phone");
  ASSERT_TRUE(Verify("u1", VerifyRequest("+86", "13800138001", code)).status.ok());
  result = Verify("u1", VerifyRequest("+86", "13800138001", code));
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2300);
}

TEST_P(ProfileServiceE2eTest, CodeIsBoundToItsPurpose) {
  StartServer();
  BindPhone("u1", "13800138001");
  // A code texted for OLD_PHONE to the current number does not prove it as
  // a new number for someone else, nor as NEW_PHONE for u1 (which proves
  // its old phone with it, as it must, so that only the new code is wrong).
  ASSERT_TRUE(Send("u1", "+86", "13800138001",
                   v1::PHONE_CODE_PURPOSE_OLD_PHONE).status.ok());
  const std::string code = CodeFromOutbox("+8613800138001", "old_phone");
  ASSERT_FALSE(code.empty());
  v1::UpdatePhoneVerificationRequest request =
      VerifyRequest("+86", "13800138002", code);
  request.set_old_phone_country_code("+86");
  request.set_old_phone_number("13800138001");
  request.set_old_phone_pass_code(code);
  CallResult result = Verify("u1", request);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2300);
}

// No phone-lookup oracle: a number bound to another account answers exactly
// as a free one (status, api code, message, fields), and its holder gets a
// notice without a code.
TEST_P(ProfileServiceE2eTest, BoundAndFreeNumbersAnswerAlike) {
  ServerOptions options = BaseOptions();
  // The owner's own code went to the number a moment ago: no cooldown, so
  // that only the binding could tell the two numbers apart.
  options.core.phone_change.send_limits.resend_interval = absl::ZeroDuration();
  StartServer(options);
  BindPhone("owner", "13800138001");
  const int lines = OutboxLines();
  v1::SendPhoneCodeResponse bound_response, free_response;
  CallResult bound = Send("prober", "+86", "13800138001",
                          v1::PHONE_CODE_PURPOSE_NEW_PHONE, &bound_response);
  CallResult free = Send("prober", "+86", "13800138002",
                         v1::PHONE_CODE_PURPOSE_NEW_PHONE, &free_response);
  EXPECT_EQ(bound.code(), grpc::StatusCode::OK);
  EXPECT_EQ(bound.code(), free.code());
  EXPECT_EQ(bound.api_code(), free.api_code());
  EXPECT_EQ(bound.status.error_message(), free.status.error_message());
  EXPECT_EQ(bound_response.status_code(), free_response.status_code());
  EXPECT_EQ(bound_response.message(), free_response.message());
  EXPECT_EQ(bound_response.data().SerializeAsString(),
            free_response.data().SerializeAsString());
  // The owner's phone got a notice without a code; the free one a code.
  ASSERT_EQ(OutboxLines(), lines + 2);
  std::ifstream in(outbox_);
  std::vector<nlohmann::json> sent;
  for (std::string line; std::getline(in, line);) {
    sent.push_back(nlohmann::json::parse(line));
  }
  const nlohmann::json& notice = sent[sent.size() - 2];
  EXPECT_EQ(notice["type"], "phone_in_use_notice");
  EXPECT_EQ(notice["phone_e164"], "+8613800138001");
  EXPECT_FALSE(notice.contains("code"));
  EXPECT_EQ(sent.back()["type"], "verification_code");

  // Guesses at a bound and a free number answer alike: no code is live.
  CallResult guess_bound =
      Verify("prober", VerifyRequest("+86", "13800138001", "123456"));
  CallResult guess_free =
      Verify("other", VerifyRequest("+86", "13800138003", "123456"));
  EXPECT_EQ(guess_bound.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(guess_bound.api_code(), 2300);
  EXPECT_EQ(guess_bound.api_code(), guess_free.api_code());
  EXPECT_EQ(guess_bound.status.error_message(),
            guess_free.status.error_message());
}

TEST_P(ProfileServiceE2eTest, OldPhoneCodeGoesOnlyToTheCurrentPhone) {
  StartServer();
  CallResult result = Send("fresh", "+86", "13800138001",
                           v1::PHONE_CODE_PURPOSE_OLD_PHONE);
  EXPECT_EQ(result.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.api_code(), 2037);

  BindPhone("u1", "13800138001");
  const int lines = OutboxLines();
  result = Send("u1", "+86", "13800138002", v1::PHONE_CODE_PURPOSE_OLD_PHONE);
  EXPECT_EQ(result.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.api_code(), 2038);
  EXPECT_EQ(OutboxLines(), lines);
}

TEST_P(ProfileServiceE2eTest, SamePhoneIs2230) {
  StartServer();
  BindPhone("u1", "13800138001");
  CallResult result = Send("u1", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.api_code(), 2230);
  result = Verify("u1", VerifyRequest("+86", "138 0013 8001", "123456"));
  EXPECT_EQ(result.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.api_code(), 2230);
}

TEST_P(ProfileServiceE2eTest, ResendWithinCooldownIs2100WithRetryAfter) {
  StartServer();
  ASSERT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  CallResult result = Send("u1", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2100);
  EXPECT_GE(result.retry_after(), 59);
  EXPECT_LE(result.retry_after(), 60);
  // Another user asking for the same phone waits too: the cooldown is per
  // phone.
  result = Send("u2", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2100);
}

TEST_P(ProfileServiceE2eTest, HourlyCapPerUserIs2100) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_per_user_per_hour = 2;
  StartServer(options);
  EXPECT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  EXPECT_TRUE(Send("u1", "+86", "13800138002").status.ok());
  CallResult result = Send("u1", "+86", "13800138003");
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2100);
  EXPECT_GT(result.retry_after(), 3500);
}

TEST_P(ProfileServiceE2eTest, SmsThatCannotBeSentIs2110AndStillCounts) {
  ServerOptions options = BaseOptions();
  options.core.sms.sender = "outbox:/dev/full";  // every write fails: ENOSPC
  StartServer(options);
  CallResult result = Send("u1", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(result.api_code(), 2110);
  EXPECT_THAT(result.status.error_message(), HasSubstr("could not be sent"));
  // A failed send is not refunded: a failing provider must not become
  // unlimited codes and guesses.
  result = Send("u1", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2100);
  // No code was left live by the failed send.
  result = Verify("u1", VerifyRequest("+86", "13800138001", "123456"));
  EXPECT_EQ(result.api_code(), 2300);
}

TEST_P(ProfileServiceE2eTest, NumberThatCannotBeMobileIs2121) {
  StartServer();
  // A UK premium-rate number: valid, but no phone to text.
  CallResult result = Send("u1", "+44", "0909 879 0000");
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2121);
  EXPECT_THAT(result.status.error_message(), HasSubstr("mobile"));
  v1::SendPhoneCodeResponse response;
  result = client_->Call(&Stub::SendPhoneCode, "u1",
                         SendRequest("+1", "800 234 5678",
                                     v1::PHONE_CODE_PURPOSE_NEW_PHONE),
                         &response, {{"x-authing-lang", "zh-CN"}});
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2121);
  EXPECT_EQ(result.status.error_message(), "仅支持向手机号码发送验证码");
  EXPECT_EQ(OutboxLines(), 0);
}

TEST_P(ProfileServiceE2eTest, NumberOfARegionNotAllowedIs2120) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.sms_allowed_regions = {"CN", "GB"};
  StartServer(options);
  CallResult result = Send("u1", "+1", "415 555 0100");
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2120);
  EXPECT_THAT(result.status.error_message(), HasSubstr("region"));
  EXPECT_EQ(OutboxLines(), 0);
  EXPECT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  EXPECT_EQ(OutboxLines(), 1);
}

TEST_P(ProfileServiceE2eTest, UnknownOrUsedTokenIsNotFound) {
  StartServer();
  CallResult result = Update("u1", "bm90LWEtcmVhbC10b2tlbi1hdC1hbGwtbm90LWF0LWFsbA");
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);

  // Spent: unknown to everyone but its owner (whose retry is answered OK,
  // see UpdatePhoneRetriedAfterSuccessIsOkAndChangesNothing).
  const std::string token = TokenFor("u1", "13800138001");
  ASSERT_TRUE(Update("u1", token).status.ok());
  result = Update("u2", token);
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);
}

TEST_P(ProfileServiceE2eTest, MalformedTokenIsInvalidArgument) {
  StartServer();
  for (const std::string& token :
       {std::string(), std::string("has spaces"), std::string(200, 'a'),
        std::string("tok\xff\xfe")}) {
    CallResult result = Update("u1", token);
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(result.api_code(), 1001);
    EXPECT_THAT(result.status.error_message(),
                HasSubstr("update_phone_token"));
  }
}

TEST_P(ProfileServiceE2eTest, TokenOfAnotherUserIsPermissionDenied) {
  StartServer();
  const std::string token = TokenFor("owner", "13800138001");
  CallResult result = Update("intruder", token);
  EXPECT_EQ(result.code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(result.api_code(), 2311);
  // The intruder did not burn it.
  EXPECT_EQ(Update("owner", token).code(), grpc::StatusCode::OK);
  EXPECT_EQ(ProfileOf("intruder").phone_e164(), "");
}

TEST_P(ProfileServiceE2eTest, NewVerificationRevokesThePreviousToken) {
  StartServer();
  const std::string first = TokenFor("u1", "13800138001");
  v1::UpdatePhoneVerificationResponse second;
  ASSERT_TRUE(Verify("u1", VerifyRequest("+86", "13800138000", kTestCode),
                     &second)
                  .status.ok());
  CallResult result = Update("u1", first);
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);
  EXPECT_EQ(Update("u1", second.data().update_phone_token()).code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), kTestPhone);
}

TEST_P(ProfileServiceE2eTest, LiveTokenCapIsResourceExhausted) {
  ServerOptions options = BaseOptions();
  options.core.stores.max_live_tokens = 2;
  StartServer(options);
  for (const char* user : {"a", "b"}) {
    ASSERT_TRUE(Verify(user, VerifyRequest("+86", "13800138000", kTestCode))
                    .status.ok());
  }
  CallResult result =
      Verify("c", VerifyRequest("+86", "13800138000", kTestCode));
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2312);
  // A holder can still replace its own token.
  EXPECT_TRUE(Verify("a", VerifyRequest("+86", "13800138000", kTestCode))
                  .status.ok());
}

// ---- Identity, request ids, language. ----

TEST_P(ProfileServiceE2eTest, RequestIdIsEchoedOrGenerated) {
  StartServer();
  v1::GetProfileResponse response;
  CallResult result =
      client_->Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                    &response, {{"x-request-id", "req-123.abc"}});
  ASSERT_EQ(result.code(), grpc::StatusCode::OK);
  EXPECT_EQ(response.request_id(), "req-123.abc");
  EXPECT_EQ(result.Trailer("x-request-id"), "req-123.abc");

  result = client_->Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                         &response, {{"x-request-id", "bad id with spaces"}});
  ASSERT_EQ(result.code(), grpc::StatusCode::OK);
  EXPECT_TRUE(std::regex_match(
      response.request_id(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                 "[0-9a-f]{12}")))
      << response.request_id();

  // Errors carry the request id too.
  result = Send("u1", "+86", "nope", v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(result.Trailer("x-request-id").empty());
}

TEST_P(ProfileServiceE2eTest, ChineseOnRequest) {
  StartServer();
  v1::GetProfileResponse response;
  CallResult result =
      client_->Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                    &response, {{"x-authing-lang", "zh-CN"}});
  ASSERT_EQ(result.code(), grpc::StatusCode::OK);
  EXPECT_EQ(response.message(), "操作成功");

  result = client_->Call(&Stub::GetProfile, "u1", v1::GetProfileRequest(),
                         &response, {{"accept-language", "zh-CN,zh;q=0.9"}});
  EXPECT_EQ(response.message(), "操作成功");

  v1::UpdatePhoneVerificationResponse verified;
  result = client_->Call(&Stub::UpdatePhoneVerification, "u1",
                         VerifyRequest("+86", "13800138001", "123456"),
                         &verified, {{"x-authing-lang", "zh-CN"}});
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2300);
  EXPECT_EQ(result.status.error_message(), "验证码已失效，请重新获取");
}

// ---- The old-phone mode. ----

// Under the default options: an account that has a phone is refused
// without proof of it.
TEST_P(ProfileServiceE2eTest, OldPhoneModeRequiresTheOldCode) {
  StartServer();
  // No phone yet: the old-phone rules do not apply.
  BindPhone("u1", "13800138001");

  ASSERT_TRUE(Send("u1", "+86", "13800138002").status.ok());
  const std::string new_code = CodeFromOutbox("+8613800138002", "new_phone");
  v1::UpdatePhoneVerificationRequest request =
      VerifyRequest("+86", "13800138002", new_code);

  CallResult result = Verify("u1", request);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_EQ(result.status.error_message(),
            "old_phone_country_code: is required to verify the account's "
            "current phone");
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");

  request.set_old_phone_country_code("+86");
  request.set_old_phone_number("13800138009");
  request.set_old_phone_pass_code("123456");
  result = Verify("u1", request);
  EXPECT_EQ(result.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(result.api_code(), 2038);

  ASSERT_TRUE(Send("u1", "+86", "13800138001",
                   v1::PHONE_CODE_PURPOSE_OLD_PHONE).status.ok());
  const std::string old_code = CodeFromOutbox("+8613800138001", "old_phone");
  request.set_old_phone_number("138 0013 8001");
  request.set_old_phone_pass_code(old_code == "000000" ? "111111" : "000000");
  result = Verify("u1", request);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 2001);

  // The wrong old code did not use up the new code.
  request.set_old_phone_pass_code(old_code);
  v1::UpdatePhoneVerificationResponse verified;
  result = Verify("u1", request, &verified);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  ASSERT_EQ(Update("u1", verified.data().update_phone_token()).code(),
            grpc::StatusCode::OK);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138002");
}

// ---- Retries: idempotency keys and spent tokens. ----

TEST_P(ProfileServiceE2eTest, SendPhoneCodeRepeatWithItsKeyReplaysTheAnswer) {
  StartServer();
  const std::vector<std::pair<std::string, std::string>> key = {
      {"x-idempotency-key", "send-1"}};
  v1::SendPhoneCodeResponse first;
  CallResult result =
      client_->Call(&Stub::SendPhoneCode, "u1",
                    SendRequest("+86", "138 0013 8001",
                                v1::PHONE_CODE_PURPOSE_NEW_PHONE),
                    &first, key);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  ASSERT_EQ(OutboxLines(), 1);

  v1::SendPhoneCodeResponse again;
  result = client_->Call(&Stub::SendPhoneCode, "u1",
                         SendRequest("86", "13800138001",
                                     v1::PHONE_CODE_PURPOSE_NEW_PHONE),
                         &again, key);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(again.status_code(), 200);
  EXPECT_EQ(again.data().expires_in(), 300);
  EXPECT_EQ(again.data().resend_after(), 60);
  EXPECT_EQ(OutboxLines(), 1);

  // The key with another request.
  result = client_->Call(&Stub::SendPhoneCode, "u1",
                         SendRequest("+86", "13800138002",
                                     v1::PHONE_CODE_PURPOSE_NEW_PHONE),
                         &again, key);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1004);
  // In Chinese too.
  result = client_->Call(&Stub::SendPhoneCode, "u1",
                         SendRequest("+86", "13800138002",
                                     v1::PHONE_CODE_PURPOSE_NEW_PHONE),
                         &again,
                         {{"x-idempotency-key", "send-1"},
                          {"x-authing-lang", "zh-CN"}});
  EXPECT_EQ(result.api_code(), 1004);
  EXPECT_EQ(result.status.error_message(), "该幂等键已用于不同的请求");
  // Without the key: a new request, inside the cooldown.
  result = Send("u1", "+86", "13800138001");
  EXPECT_EQ(result.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(result.api_code(), 2100);
  EXPECT_EQ(OutboxLines(), 1);
}

TEST_P(ProfileServiceE2eTest, MalformedIdempotencyKeyIsInvalidArgument) {
  StartServer();
  for (const std::string& key :
       {std::string(""), std::string(65, 'k'), std::string("has space"),
        std::string("a/b")}) {
    v1::SendPhoneCodeResponse response;
    CallResult result = client_->Call(
        &Stub::SendPhoneCode, "u1",
        SendRequest("+86", "13800138001", v1::PHONE_CODE_PURPOSE_NEW_PHONE),
        &response, {{"x-idempotency-key", key}});
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << key;
    EXPECT_EQ(result.api_code(), 1001) << key;
    EXPECT_THAT(result.status.error_message(), HasSubstr("x-idempotency-key"))
        << key;
  }
  EXPECT_EQ(OutboxLines(), 0);
}

TEST_P(ProfileServiceE2eTest, ConcurrentDuplicateSendsTextOnceAndAnswerAlike) {
  StartServer();
  constexpr int kCalls = 8;
  std::vector<v1::SendPhoneCodeResponse> responses(kCalls);
  std::vector<CallResult> results(kCalls);
  std::vector<std::thread> threads;
  absl::Notification start;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      start.WaitForNotification();
      results[i] = client_->Call(
          &Stub::SendPhoneCode, "u1",
          SendRequest("+86", "13800138001", v1::PHONE_CODE_PURPOSE_NEW_PHONE),
          &responses[i], {{"x-idempotency-key", "dup-1"}});
    });
  }
  start.Notify();
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(results[i].code(), grpc::StatusCode::OK)
        << results[i].status.error_message();
    EXPECT_EQ(responses[i].data().expires_in(), 300);
    EXPECT_EQ(responses[i].data().resend_after(), 60);
  }
  EXPECT_EQ(OutboxLines(), 1);
}

TEST_P(ProfileServiceE2eTest,
       UpdatePhoneRetriedAfterSuccessIsOkAndChangesNothing) {
  StartServer();
  const std::string token = TokenFor("u1", "13800138001");
  ASSERT_EQ(Update("u1", token).code(), grpc::StatusCode::OK);
  // The user moves on before the retry of the first change arrives.
  ASSERT_EQ(Update("u1", TokenFor("u1", "13800138002")).code(),
            grpc::StatusCode::OK);
  v1::CommonResponse retried;
  CallResult result = Update("u1", token, &retried);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(retried.status_code(), 200);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138002");
  // Someone else presenting it still gets what an unknown token gets.
  result = Update("u2", token);
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);
  EXPECT_EQ(ProfileOf("u2").phone_e164(), "");
}

// ---- Races. ----

TEST_P(ProfileServiceE2eTest, SixtyFourConcurrentSpendsOfOneTokenOneWins) {
  StartServer();
  const std::string token = TokenFor("u1", "13800138001");
  ::testing::internal::CaptureStderr();
  const SpendRace race = RaceSpends(64, [&](int) { return Update("u1", token); });
  const std::string log = ::testing::internal::GetCapturedStderr();
  // One spend took the token and changed the phone (one audit line); the
  // others, as retries of its owner, waited for it and were told it
  // succeeded.
  EXPECT_EQ(race.ok, 64);
  EXPECT_EQ(race.not_found, 0);
  EXPECT_EQ(race.other, 0);
  EXPECT_EQ(AuditLines(log), 1) << log;
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
}

TEST_P(ProfileServiceE2eTest, TwoUsersRacingForOnePhoneOneWins) {
  // Without a cooldown both users can prove the same free phone, one after
  // the other, and then race to bind it.
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.resend_interval = absl::ZeroDuration();
  StartServer(options);
  for (int round = 0; round < 5; ++round) {
    const std::string number = absl::StrCat("1380013810", round);
    const std::string user_a = absl::StrCat("a", round);
    const std::string user_b = absl::StrCat("b", round);
    const std::string token_a = TokenFor(user_a, number);
    const std::string token_b = TokenFor(user_b, number);
    ASSERT_FALSE(token_a.empty());
    ASSERT_FALSE(token_b.empty());

    CallResult result_a, result_b;
    std::thread thread_a([&] { result_a = Update(user_a, token_a); });
    std::thread thread_b([&] { result_b = Update(user_b, token_b); });
    thread_a.join();
    thread_b.join();
    const bool a_won = result_a.code() == grpc::StatusCode::OK;
    const CallResult& loser = a_won ? result_b : result_a;
    EXPECT_NE(a_won, result_b.code() == grpc::StatusCode::OK);
    EXPECT_EQ(loser.code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_EQ(loser.api_code(), 2035);
    EXPECT_EQ(ProfileOf(a_won ? user_a : user_b).phone_e164(), "+86" + number);
    EXPECT_EQ(ProfileOf(a_won ? user_b : user_a).phone_e164(), "");
  }
}

// A prober who cycles through numbers is stopped by the verifications cap
// before it learns anything: every well-formed call counts, right or wrong.
TEST_P(ProfileServiceE2eTest, VerificationsPerUserAreCappedAt2100) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_verifications_per_user_per_hour =
      3;
  StartServer(options);
  for (int i = 0; i < 3; ++i) {
    CallResult guess = Verify(
        "prober", VerifyRequest("+86", absl::StrCat("1380013801", i), "123456"));
    EXPECT_EQ(guess.api_code(), 2300) << i;
  }
  CallResult capped =
      Verify("prober", VerifyRequest("+86", "13800138009", "123456"));
  EXPECT_EQ(capped.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_GT(capped.retry_after(), 3500);
  EXPECT_LE(capped.retry_after(), 3600);
  // Even the test number's right code waits: the cap comes first.
  capped = Verify("prober", VerifyRequest("+86", "13800138000", kTestCode));
  EXPECT_EQ(capped.api_code(), 2100);
  // Other users are not held back.
  EXPECT_EQ(Verify("other", VerifyRequest("+86", "13800138009", "123456"))
                .api_code(),
            2300);
}

// Wrong codes count per user and phone across codes: asking for a new code
// after every five wrong guesses does not buy unlimited guesses.
TEST_P(ProfileServiceE2eTest, WrongCodesPerPhoneAreCappedAcrossCodes) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.resend_interval = absl::ZeroDuration();
  options.core.phone_change.send_limits.max_code_failures_per_day = 4;
  options.core.phone_change.max_code_attempts = 3;
  StartServer(options);
  const std::string number = "13800138001";
  ASSERT_TRUE(Send("u1", "+86", number).status.ok());
  std::string code = CodeFromOutbox("+86" + number, "new_phone");
  const std::string wrong = code == "000000" ? "111111" : "000000";
  for (int i = 0; i < 3; ++i) {  // burns the first code
    EXPECT_EQ(Verify("u1", VerifyRequest("+86", number, wrong)).api_code(),
              2001);
  }
  ASSERT_TRUE(Send("u1", "+86", number).status.ok());
  code = CodeFromOutbox("+86" + number, "new_phone");
  const std::string wrong2 = code == "000000" ? "111111" : "000000";
  EXPECT_EQ(Verify("u1", VerifyRequest("+86", number, wrong2)).api_code(),
            2001);
  // Four wrong codes today: even the right one is refused until tomorrow.
  CallResult capped = Verify("u1", VerifyRequest("+86", number, code));
  EXPECT_EQ(capped.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_GT(capped.retry_after(), 24 * 3600 - 100);
  EXPECT_LE(capped.retry_after(), 24 * 3600);
  // Another user and another phone are untouched.
  ASSERT_TRUE(Send("u2", "+86", number).status.ok());
  EXPECT_TRUE(Verify("u2", VerifyRequest("+86", number,
                                         CodeFromOutbox("+86" + number,
                                                        "new_phone")))
                  .status.ok());
  ASSERT_TRUE(Send("u1", "+86", "13800138002").status.ok());
  EXPECT_TRUE(Verify("u1", VerifyRequest("+86", "13800138002",
                                         CodeFromOutbox("+8613800138002",
                                                        "new_phone")))
                  .status.ok());
}

TEST_P(ProfileServiceE2eTest, WrongTestNumberCodesCountLikeAnyOthers) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_code_failures_per_day = 2;
  StartServer(options);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Verify("u1", VerifyRequest("+86", "13800138000", "135791"))
                  .api_code(),
              2001);
  }
  EXPECT_EQ(Verify("u1", VerifyRequest("+86", "13800138000", kTestCode))
                .api_code(),
            2100);
  EXPECT_TRUE(
      Verify("u2", VerifyRequest("+86", "13800138000", kTestCode)).status.ok());
}

// x-client-ip is set by the trusted gateway; codes per address are capped,
// an IPv6 address counting by its /64.
TEST_P(ProfileServiceE2eTest, CodesPerClientAddressAreCapped) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_per_ip_per_hour = 2;
  StartServer(options);
  int next = 0;
  auto send_from = [&](const std::string& ip) {
    v1::SendPhoneCodeResponse response;
    std::vector<std::pair<std::string, std::string>> metadata;
    if (!ip.empty()) metadata.push_back({"x-client-ip", ip});
    ++next;
    return client_->Call(
        &Stub::SendPhoneCode, absl::StrCat("u", next),
        SendRequest("+86", absl::StrCat("1380013801", next),
                    v1::PHONE_CODE_PURPOSE_NEW_PHONE),
        &response, metadata);
  };
  EXPECT_TRUE(send_from("203.0.113.7").status.ok());
  EXPECT_TRUE(send_from("203.0.113.7").status.ok());
  CallResult capped = send_from("203.0.113.7");
  EXPECT_EQ(capped.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_GT(capped.retry_after(), 3500);
  EXPECT_TRUE(send_from("203.0.113.8").status.ok());
  EXPECT_TRUE(send_from("2001:db8:0:1::1").status.ok());
  EXPECT_TRUE(send_from("2001:DB8:0:1::2").status.ok());
  EXPECT_EQ(send_from("2001:db8:0:1:ffff::3").api_code(), 2100);
  EXPECT_TRUE(send_from("2001:db8:0:2::1").status.ok());
  // Without the header there is no address to count.
  EXPECT_TRUE(send_from("").status.ok());
}

TEST_P(ProfileServiceE2eTest, MalformedClientAddressIs1001) {
  StartServer();
  for (const char* ip : {"not-an-ip", "203.0.113.7, 10.0.0.1",
                         "203.0.113.7:443", "fe80::1%eth0", "", "1.2.3.256"}) {
    v1::SendPhoneCodeResponse response;
    CallResult result = client_->Call(
        &Stub::SendPhoneCode, "u1",
        SendRequest("+86", "13800138001", v1::PHONE_CODE_PURPOSE_NEW_PHONE),
        &response, {{"x-client-ip", ip}});
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << ip;
    EXPECT_EQ(result.api_code(), 1001) << ip;
    EXPECT_THAT(result.status.error_message(), HasSubstr("x-client-ip"))
        << ip;
  }
  v1::SendPhoneCodeResponse response;
  CallResult twice = client_->Call(
      &Stub::SendPhoneCode, "u1",
      SendRequest("+86", "13800138001", v1::PHONE_CODE_PURPOSE_NEW_PHONE),
      &response, {{"x-client-ip", "203.0.113.7"}, {"x-client-ip", "10.0.0.1"}});
  EXPECT_EQ(twice.api_code(), 1001);
  EXPECT_EQ(OutboxLines(), 0);
}

TEST_P(ProfileServiceE2eTest, RegionAndServiceBudgetsAre2100) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_per_region_per_hour = 2;
  options.core.phone_change.send_limits.max_per_hour = 3;
  StartServer(options);
  EXPECT_TRUE(Send("u1", "+86", "13800138001").status.ok());
  EXPECT_TRUE(Send("u2", "+86", "13800138002").status.ok());
  CallResult capped = Send("u3", "+86", "13800138003");
  EXPECT_EQ(capped.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_GT(capped.retry_after(), 3500);
  EXPECT_TRUE(Send("u4", "+44", "7400 123456").status.ok());
  capped = Send("u5", "+44", "7400 123457");
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_EQ(OutboxLines(), 3);
}

// SMS pumping: codes go out to a region and are never verified.
TEST_P(ProfileServiceE2eTest, RegionBreakerSuspendsARegionThatDoesNotConvert) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.region_breaker_min_codes = 3;
  options.core.phone_change.send_limits.region_breaker_min_conversion = 0.5;
  StartServer(options);
  // One of three codes verified, a third: under half.
  const std::string token = TokenFor("u1", "13800138001");
  ASSERT_FALSE(token.empty());
  EXPECT_TRUE(Send("u2", "+86", "13800138002").status.ok());
  EXPECT_TRUE(Send("u3", "+86", "13800138003").status.ok());
  CallResult suspended = Send("u4", "+86", "13800138004");
  EXPECT_EQ(suspended.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(suspended.api_code(), 2100);
  EXPECT_EQ(suspended.retry_after(), 3600);
  // Every replica sees the suspension; codes already sent still work.
  EXPECT_EQ(Send("u1", "+86", "13800138005").api_code(), 2100);
  EXPECT_TRUE(Update("u1", token).status.ok());
  // Test numbers are never texted: the breaker does not apply.
  EXPECT_TRUE(Send("u6", "+86", "13800138000").status.ok());
  EXPECT_TRUE(Send("u7", "+44", "7400 123456").status.ok());
}

TEST_P(ProfileServiceE2eTest, ChangeTellsTheOldPhoneWithARevertToken) {
  StartServer();
  BindPhone("u1", "13800138001");
  // A first phone replaces none: nobody to tell.
  EXPECT_TRUE(Notices("phone_changed_notice", "+8613800138001", 0).empty());
  BindPhone("u1", "13800138002");
  std::vector<nlohmann::json> notices =
      Notices("phone_changed_notice", "+8613800138001");
  ASSERT_EQ(notices.size(), 1u);
  const nlohmann::json& notice = notices[0];
  EXPECT_EQ(notice["locale"], "en");
  EXPECT_FALSE(notice.contains("code"));
  const std::string token = notice.value("revert_token", "");
  EXPECT_EQ(token.size(), 43u);
  EXPECT_TRUE(std::regex_match(token, std::regex("[A-Za-z0-9_-]{43}")));
  EXPECT_GT(notice.value("revert_expires_in", 0), 168 * 3600 - 60);
  EXPECT_LE(notice.value("revert_expires_in", 0), 168 * 3600);
  const std::string text = notice.value("text", "");
  EXPECT_THAT(text, HasSubstr("Profile: "));
  EXPECT_THAT(text, HasSubstr("+86*******8002"));
  EXPECT_THAT(text, HasSubstr("within 7 days"));
  EXPECT_THAT(text, HasSubstr(token));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("13800138002")));
}

TEST_P(ProfileServiceE2eTest, RevertRestoresTheOldPhoneOnceAndLocksChanges) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.change_lock_after_revert = absl::Seconds(2);
  options.core.phone_change.send_limits.resend_interval = absl::ZeroDuration();
  StartServer(options);
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  const std::string token = RevertTokenOf("13800138001");
  ASSERT_FALSE(token.empty());

  CallResult reverted = Revert(token);
  ASSERT_EQ(reverted.code(), grpc::StatusCode::OK)
      << reverted.status.error_message();
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
  // The number the revert removed is told, without a token.
  std::vector<nlohmann::json> unlinked =
      Notices("phone_unlinked_notice", "+8613800138002");
  ASSERT_EQ(unlinked.size(), 1u);
  EXPECT_FALSE(unlinked[0].contains("revert_token"));
  // Single use.
  CallResult again = Revert(token);
  EXPECT_EQ(again.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(again.api_code(), 2320);

  // Locked: no code, no verification, for that account only.
  CallResult locked = Send("u1", "+86", "13800138003");
  EXPECT_EQ(locked.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(locked.api_code(), 2330);
  locked = Verify("u1", VerifyRequest("+86", "13800138003", "123456"));
  EXPECT_EQ(locked.api_code(), 2330);
  EXPECT_TRUE(Send("u2", "+86", "13800138004").status.ok());
  // The lock lifts by itself.
  absl::SleepFor(absl::Milliseconds(2100));
  EXPECT_TRUE(Send("u1", "+86", "13800138003").status.ok());
}

TEST_P(ProfileServiceE2eTest, RevertAfterTheWindowIs2320) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.revert_window = absl::Seconds(1);
  StartServer(options);
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  const std::string token = RevertTokenOf("13800138001");
  ASSERT_FALSE(token.empty());
  absl::SleepFor(absl::Milliseconds(1200));
  CallResult late = Revert(token);
  EXPECT_EQ(late.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(late.api_code(), 2320);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138002");
}

TEST_P(ProfileServiceE2eTest, FirstOfTwoChangesRevertedRestoresTheFirstPhone) {
  StartServer();
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  BindPhone("u1", "13800138003");
  const std::string first = RevertTokenOf("13800138001");
  const std::string second = RevertTokenOf("13800138002");
  ASSERT_TRUE(Revert(first).status.ok());
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
  // The later change's token is void: it would undo what was undone.
  EXPECT_EQ(Revert(second).api_code(), 2320);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
  EXPECT_EQ(Notices("phone_unlinked_notice", "+8613800138003").size(), 1u);
}

TEST_P(ProfileServiceE2eTest, OldPhoneTakenMeanwhileIs2035AndTheTokenWaits) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.resend_interval = absl::ZeroDuration();
  StartServer(options);
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  const std::string token = RevertTokenOf("13800138001");
  BindPhone("u2", "13800138001");
  CallResult taken = Revert(token);
  EXPECT_EQ(taken.code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(taken.api_code(), 2035);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138002");
  // Once the number is free again, the token still works.
  BindPhone("u2", "13800138005");
  EXPECT_TRUE(Revert(token).status.ok());
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
}

TEST_P(ProfileServiceE2eTest, RevertVoidsTheLiveUpdateToken) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.change_lock_after_revert = absl::ZeroDuration();
  StartServer(options);
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  const std::string live = TokenFor("u1", "13800138003");
  ASSERT_FALSE(live.empty());
  ASSERT_TRUE(Revert(RevertTokenOf("13800138001")).status.ok());
  CallResult spent = Update("u1", live);
  EXPECT_EQ(spent.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(spent.api_code(), 2310);
  EXPECT_EQ(ProfileOf("u1").phone_e164(), "+8613800138001");
}

TEST_P(ProfileServiceE2eTest, MalformedOrUnknownRevertTokens) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.send_limits.max_reverts_per_ip_per_hour = 3;
  StartServer(options);
  for (const std::string& bad :
       {std::string(), std::string("short"), std::string(43, '*'),
        std::string(44, 'A')}) {
    CallResult result = Revert(bad, "203.0.113.9");
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(result.api_code(), 1001) << bad;
    EXPECT_THAT(result.status.error_message(), HasSubstr("revert_token"));
  }
  // Unknown tokens count against the address's budget; other addresses
  // keep theirs.
  const std::string unknown(43, 'A');
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Revert(unknown, "203.0.113.9").api_code(), 2320) << i;
  }
  CallResult capped = Revert(unknown, "203.0.113.9");
  EXPECT_EQ(capped.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(capped.api_code(), 2100);
  EXPECT_GT(capped.retry_after(), 3500);
  EXPECT_EQ(Revert(unknown, "203.0.113.10").api_code(), 2320);
}

TEST_P(ProfileServiceE2eTest, NoNoticeWithNotifyOldPhoneOff) {
  ServerOptions options = BaseOptions();
  options.core.phone_change.notify_old_phone = false;
  StartServer(options);
  BindPhone("u1", "13800138001");
  BindPhone("u1", "13800138002");
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(Notices("phone_changed_notice", "+8613800138001", 0).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, ProfileServiceE2eTest,
                         ::testing::Values(Backend::kInMemory,
                                           Backend::kRedisPostgres),
                         BackendName);

}  // namespace
}  // namespace profile
