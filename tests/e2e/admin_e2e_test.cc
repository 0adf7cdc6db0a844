// End-to-end tests of the admin API (profile.admin.v1.ProfileAdminService):
// the real server in this process, mutual TLS on 127.0.0.1, in memory and
// on Redis + PostgreSQL. Admins are told apart from gateways by the SAN of
// their client certificate (--admin_allowed_names).
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "profile/admin/v1/admin.grpc.pb.h"
#include "profile/v1/profile.grpc.pb.h"
#include "server/server.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/test_crypto.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

namespace adminv1 = ::profile::admin::v1;
using ::profile::testing::ClientCert;
using ::profile::testing::PostgresServer;
using ::profile::testing::ReadFileOrDie;
using ::profile::testing::RedisServer;
using ::profile::testing::TestDir;
using ::profile::testing::TestPki;
using ::testing::HasSubstr;

constexpr char kAdminName[] = "spiffe://example.org/ns/support/sa/console";

enum class Backend { kInMemory, kRedisPostgres };

struct Answer {
  grpc::Status status;
  int api_code = -1;
};

// Calls `method` with `metadata`; returns the status and the x-api-code.
template <typename Stub, typename Request, typename Response>
Answer Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                         Response*),
            Stub* stub, const Request& request, Response* response,
            const std::vector<std::pair<std::string, std::string>>& metadata =
                {}) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
  Answer answer;
  answer.status = (stub->*method)(&context, request, response);
  auto code = context.GetServerTrailingMetadata().find("x-api-code");
  if (code != context.GetServerTrailingMetadata().end()) {
    answer.api_code = std::stoi(std::string(code->second.data(),
                                            code->second.size()));
  }
  return answer;
}

class AdminE2eTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir("profile_admin_e2e");
    pki_ = new TestPki(testing::MakeTestPki(dir_->path()));
    admin_cert_ = new ClientCert(testing::MakeClientCert(
        dir_->path(), "admin", "support console",
        absl::StrCat("URI:", kAdminName)));
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete postgres_;
    delete admin_cert_;
    delete pki_;
    delete dir_;
  }

  void SetUp() override {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls.cert_file = pki_->server_cert;
    options.tls.key_file = pki_->server_key;
    options.tls.client_ca_file = pki_->ca_cert;
    options.tls.admin_allowed_names = {kAdminName};
    options.core.sms.sender = "outbox:" + outbox_;
    options.core.test_phone_codes =
        "+8613800138001:111111,+8613800138002:222222,+8613800138003:333333";
    options.core.phone_change.change_lock_after_revert = absl::Hours(1);
    if (GetParam() == Backend::kRedisPostgres) {
      if (redis_ == nullptr) {
        redis_ = new RedisServer();
        postgres_ = new PostgresServer();
        ASSERT_TRUE(redis_->Start()) << redis_->error();
        ASSERT_TRUE(postgres_->Start()) << postgres_->error();
      }
      options.core.stores.redis_url = redis_->url();
      options.core.stores.redis_key_prefix = absl::StrCat("admin", ++tests_, ":");
      options.core.stores.postgres_url = postgres_->NewDatabase();
      options.core.code_secret_file =
          test_dir_.Write("code-secret", std::string(32, 'k'));
    }
    absl::StatusOr<std::unique_ptr<ProfileServer>> server =
        ProfileServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    admin_ = adminv1::ProfileAdminService::NewStub(
        Channel(admin_cert_->cert, admin_cert_->key));
    gateway_admin_ = adminv1::ProfileAdminService::NewStub(
        Channel(pki_->client_cert, pki_->client_key));
    gateway_ = v1::ProfileService::NewStub(
        Channel(pki_->client_cert, pki_->client_key));
    admin_as_user_ = v1::ProfileService::NewStub(
        Channel(admin_cert_->cert, admin_cert_->key));
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert,
                                         const std::string& key) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileOrDie(pki_->ca_cert);
    ssl.pem_cert_chain = ReadFileOrDie(cert);
    ssl.pem_private_key = ReadFileOrDie(key);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()),
        grpc::SslCredentials(ssl), args);
  }

  // The user's own change to a test number (+86 138 0013 800N, code NNNNNN).
  Answer SelfChange(const std::string& user, int n, int old_n = 0) {
    v1::UpdatePhoneVerificationRequest verify;
    verify.set_new_phone_country_code("+86");
    verify.set_new_phone_number(absl::StrCat("1380013800", n));
    verify.set_new_phone_pass_code(std::string(6, '0' + n));
    if (old_n != 0) {
      verify.set_old_phone_country_code("+86");
      verify.set_old_phone_number(absl::StrCat("1380013800", old_n));
      verify.set_old_phone_pass_code(std::string(6, '0' + old_n));
    }
    v1::UpdatePhoneVerificationResponse verified;
    Answer answer = Call(&v1::ProfileService::Stub::UpdatePhoneVerification,
                         gateway_.get(), verify, &verified,
                         {{"x-user-id", user}});
    if (!answer.status.ok()) return answer;
    v1::UpdatePhoneRequest update;
    update.set_update_phone_token(verified.data().update_phone_token());
    v1::CommonResponse updated;
    return Call(&v1::ProfileService::Stub::UpdatePhone, gateway_.get(), update,
                &updated, {{"x-user-id", user}});
  }

  Answer SetPhone(const std::string& user, const std::string& number,
                  const std::string& reason = "ticket 4711") {
    adminv1::SetPhoneRequest request;
    request.set_user_id(user);
    request.set_phone_country_code("+86");
    request.set_phone_number(number);
    request.set_reason(reason);
    adminv1::SetPhoneResponse response;
    return Call(&adminv1::ProfileAdminService::Stub::SetPhone, admin_.get(),
                request, &response);
  }

  adminv1::User GetUser(const std::string& user) {
    adminv1::GetUserRequest request;
    request.set_user_id(user);
    adminv1::GetUserResponse response;
    Answer answer = Call(&adminv1::ProfileAdminService::Stub::GetUser,
                         admin_.get(), request, &response);
    EXPECT_TRUE(answer.status.ok()) << answer.status.error_message();
    return response.data();
  }

  std::vector<adminv1::PhoneChange> History(const std::string& user,
                                            int page_size = 0,
                                            std::string* next = nullptr,
                                            const std::string& token = "") {
    adminv1::ListPhoneChangesRequest request;
    request.set_user_id(user);
    request.set_page_size(page_size);
    request.set_page_token(token);
    adminv1::ListPhoneChangesResponse response;
    Answer answer = Call(&adminv1::ProfileAdminService::Stub::ListPhoneChanges,
                         admin_.get(), request, &response);
    EXPECT_TRUE(answer.status.ok()) << answer.status.error_message();
    if (next != nullptr) *next = response.next_page_token();
    return {response.changes().begin(), response.changes().end()};
  }

  // The outbox lines of `type` to `e164`, waiting up to 5 s for one.
  std::vector<nlohmann::json> Notices(const std::string& type,
                                      const std::string& e164) {
    std::vector<nlohmann::json> found;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (found.empty() && absl::Now() < deadline) {
      std::ifstream in(outbox_);
      for (std::string line; std::getline(in, line);) {
        nlohmann::json message = nlohmann::json::parse(line);
        if (message["type"] == type && message["phone_e164"] == e164) {
          found.push_back(std::move(message));
        }
      }
      if (found.empty()) absl::SleepFor(absl::Milliseconds(20));
    }
    return found;
  }

  static TestDir* dir_;
  static TestPki* pki_;
  static ClientCert* admin_cert_;
  static RedisServer* redis_;
  static PostgresServer* postgres_;
  static int tests_;
  TestDir test_dir_{"profile_admin_case"};
  const std::string outbox_ = test_dir_.File("outbox.jsonl");
  std::unique_ptr<ProfileServer> server_;
  std::unique_ptr<adminv1::ProfileAdminService::Stub> admin_;
  std::unique_ptr<adminv1::ProfileAdminService::Stub> gateway_admin_;
  std::unique_ptr<v1::ProfileService::Stub> gateway_;
  std::unique_ptr<v1::ProfileService::Stub> admin_as_user_;
};

TestDir* AdminE2eTest::dir_ = nullptr;
TestPki* AdminE2eTest::pki_ = nullptr;
ClientCert* AdminE2eTest::admin_cert_ = nullptr;
RedisServer* AdminE2eTest::redis_ = nullptr;
PostgresServer* AdminE2eTest::postgres_ = nullptr;
int AdminE2eTest::tests_ = 0;

TEST_P(AdminE2eTest, OnlyAdminsAndAdminsOnlyAsAdmins) {
  adminv1::GetUserRequest request;
  request.set_user_id("u1");
  adminv1::GetUserResponse response;
  // A gateway's certificate, even with x-user-id, is no admin's.
  Answer denied = Call(&adminv1::ProfileAdminService::Stub::GetUser,
                       gateway_admin_.get(), request, &response,
                       {{"x-user-id", "u1"}});
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.api_code, 1003);
  EXPECT_THAT(denied.status.error_message(),
              HasSubstr("--admin_allowed_names"));
  EXPECT_TRUE(Call(&adminv1::ProfileAdminService::Stub::GetUser, admin_.get(),
                   request, &response)
                  .status.ok());
  // An admin's certificate is no user identity.
  v1::GetProfileResponse profile;
  Answer as_user = Call(&v1::ProfileService::Stub::GetProfile,
                        admin_as_user_.get(), v1::GetProfileRequest(),
                        &profile, {{"x-user-id", "u1"}});
  EXPECT_EQ(as_user.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(as_user.api_code, 1003);
}

TEST_P(AdminE2eTest, SetPhoneBindsWithoutCodesUnderTheSameRules) {
  Answer set = SetPhone("u1", "13900139001");
  ASSERT_TRUE(set.status.ok()) << set.status.error_message();
  adminv1::User user = GetUser("u1");
  EXPECT_EQ(user.phone_e164(), "+8613900139001");
  EXPECT_EQ(user.phone_country_code(), "+86");
  EXPECT_EQ(user.phone_number(), "13900139001");
  EXPECT_FALSE(user.phone_changes_locked());
  // The same phone again, a phone of another account, a malformed one.
  EXPECT_EQ(SetPhone("u1", "13900139001").api_code, 2230);
  Answer taken = SetPhone("u2", "13900139001");
  EXPECT_EQ(taken.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(taken.api_code, 2035);
  Answer bad = SetPhone("u2", "12345");
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.api_code, 1001);
  // A reason is required, and bounded.
  Answer no_reason = SetPhone("u2", "13900139002", "  ");
  EXPECT_EQ(no_reason.api_code, 1001);
  EXPECT_THAT(no_reason.status.error_message(), HasSubstr("reason"));
  EXPECT_EQ(SetPhone("u2", "13900139002", std::string(513, 'r')).api_code,
            1001);
  EXPECT_TRUE(SetPhone("u2", "13900139002", std::string(512, 'r')).status.ok());
  EXPECT_EQ(SetPhone("", "13900139003").api_code, 1001);
}

TEST_P(AdminE2eTest, SetPhoneTellsTheOldPhoneAndVoidsTheLiveToken) {
  ASSERT_TRUE(SelfChange("u1", 1).status.ok());
  // A verification in flight: its token dies with the admin's change.
  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13800138002");
  verify.set_new_phone_pass_code("222222");
  verify.set_old_phone_country_code("+86");
  verify.set_old_phone_number("13800138001");
  verify.set_old_phone_pass_code("111111");
  v1::UpdatePhoneVerificationResponse verified;
  ASSERT_TRUE(Call(&v1::ProfileService::Stub::UpdatePhoneVerification,
                   gateway_.get(), verify, &verified, {{"x-user-id", "u1"}})
                  .status.ok());
  EXPECT_TRUE(GetUser("u1").has_live_update_token());

  ASSERT_TRUE(SetPhone("u1", "13900139001").status.ok());
  EXPECT_FALSE(GetUser("u1").has_live_update_token());
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  EXPECT_EQ(Call(&v1::ProfileService::Stub::UpdatePhone, gateway_.get(),
                 update, &updated, {{"x-user-id", "u1"}})
                .api_code,
            2310);
  // The replaced phone is told, with a token that undoes the admin's change.
  std::vector<nlohmann::json> notices =
      Notices("phone_changed_notice", "+8613800138001");
  ASSERT_EQ(notices.size(), 1u);
  v1::RevertPhoneChangeRequest revert;
  revert.set_revert_token(notices[0].value("revert_token", ""));
  v1::CommonResponse reverted;
  ASSERT_TRUE(Call(&v1::ProfileService::Stub::RevertPhoneChange,
                   gateway_.get(), revert, &reverted)
                  .status.ok());
  EXPECT_EQ(GetUser("u1").phone_e164(), "+8613800138001");
}

TEST_P(AdminE2eTest, ClearPhoneUnbindsAndTellsThePhone) {
  adminv1::ClearPhoneRequest clear;
  clear.set_user_id("u1");
  clear.set_reason("ticket 4712: lost SIM");
  adminv1::ClearPhoneResponse cleared;
  Answer none = Call(&adminv1::ProfileAdminService::Stub::ClearPhone,
                     admin_.get(), clear, &cleared);
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(none.api_code, 2037);
  ASSERT_TRUE(SelfChange("u1", 1).status.ok());
  ASSERT_TRUE(Call(&adminv1::ProfileAdminService::Stub::ClearPhone,
                   admin_.get(), clear, &cleared)
                  .status.ok());
  EXPECT_EQ(GetUser("u1").phone_e164(), "");
  EXPECT_EQ(Notices("phone_unlinked_notice", "+8613800138001").size(), 1u);
  // The number is free for anyone, the account may bind one without
  // proving the old.
  EXPECT_TRUE(SelfChange("u2", 1).status.ok());
  EXPECT_TRUE(SelfChange("u1", 2).status.ok());
}

TEST_P(AdminE2eTest, UnlockLiftsARevertLock) {
  ASSERT_TRUE(SelfChange("u1", 1).status.ok());
  ASSERT_TRUE(SelfChange("u1", 2, 1).status.ok());
  std::vector<nlohmann::json> notices =
      Notices("phone_changed_notice", "+8613800138001");
  ASSERT_EQ(notices.size(), 1u);
  v1::RevertPhoneChangeRequest revert;
  revert.set_revert_token(notices[0].value("revert_token", ""));
  v1::CommonResponse reverted;
  ASSERT_TRUE(Call(&v1::ProfileService::Stub::RevertPhoneChange,
                   gateway_.get(), revert, &reverted)
                  .status.ok());
  adminv1::User user = GetUser("u1");
  EXPECT_TRUE(user.phone_changes_locked());
  EXPECT_FALSE(user.phone_changes_locked_until().empty());
  EXPECT_EQ(SelfChange("u1", 3, 1).api_code, 2330);
  EXPECT_EQ(SetPhone("u1", "13900139001").api_code, 2330);

  adminv1::UnlockPhoneChangesRequest unlock;
  unlock.set_user_id("u1");
  unlock.set_reason("ticket 4713: the holder called");
  adminv1::UnlockPhoneChangesResponse unlocked;
  ASSERT_TRUE(Call(&adminv1::ProfileAdminService::Stub::UnlockPhoneChanges,
                   admin_.get(), unlock, &unlocked)
                  .status.ok());
  user = GetUser("u1");
  EXPECT_FALSE(user.phone_changes_locked());
  EXPECT_EQ(user.phone_changes_locked_until(), "");
  EXPECT_TRUE(SelfChange("u1", 3, 1).status.ok());
}

TEST_P(AdminE2eTest, HistoryIsNewestFirstWithActorsReasonsAndPages) {
  ASSERT_TRUE(SelfChange("u1", 1).status.ok());
  ASSERT_TRUE(SetPhone("u1", "13900139001", "ticket 1").status.ok());
  adminv1::ClearPhoneRequest clear;
  clear.set_user_id("u1");
  clear.set_reason("ticket 2");
  adminv1::ClearPhoneResponse cleared;
  ASSERT_TRUE(Call(&adminv1::ProfileAdminService::Stub::ClearPhone,
                   admin_.get(), clear, &cleared)
                  .status.ok());
  std::vector<adminv1::PhoneChange> changes = History("u1");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].action(), "clear");
  EXPECT_EQ(changes[0].actor(), kAdminName);
  EXPECT_EQ(changes[0].reason(), "ticket 2");
  EXPECT_EQ(changes[0].old_phone(), "+86*******9001");
  EXPECT_EQ(changes[0].new_phone(), "");
  EXPECT_EQ(changes[1].action(), "set");
  EXPECT_EQ(changes[1].old_phone(), "+86*******8001");
  EXPECT_EQ(changes[1].new_phone(), "+86*******9001");
  EXPECT_EQ(changes[2].action(), "change");
  EXPECT_EQ(changes[2].actor(), "self");
  EXPECT_EQ(changes[2].reason(), "");
  EXPECT_FALSE(changes[2].request_id().empty());
  EXPECT_FALSE(changes[2].changed_at().empty());

  std::string next;
  std::vector<adminv1::PhoneChange> first = History("u1", 2, &next);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_FALSE(next.empty());
  std::string last;
  std::vector<adminv1::PhoneChange> second = History("u1", 2, &last, next);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].action(), "change");
  EXPECT_TRUE(last.empty());

  adminv1::ListPhoneChangesRequest bad;
  bad.set_user_id("u1");
  bad.set_page_size(101);
  adminv1::ListPhoneChangesResponse response;
  EXPECT_EQ(Call(&adminv1::ProfileAdminService::Stub::ListPhoneChanges,
                 admin_.get(), bad, &response)
                .api_code,
            1001);
  bad.set_page_size(0);
  bad.set_page_token("not a token");
  EXPECT_EQ(Call(&adminv1::ProfileAdminService::Stub::ListPhoneChanges,
                 admin_.get(), bad, &response)
                .api_code,
            1001);
}

TEST_P(AdminE2eTest, SetPhoneRacingTheUsersOwnChangeEndsWithOneOwner) {
  for (int round = 0; round < 5; ++round) {
    const std::string user = absl::StrCat("self", round);
    const std::string other = absl::StrCat("admin-set", round);
    // The user's verification first, then both spend at once.
    v1::UpdatePhoneVerificationRequest verify;
    verify.set_new_phone_country_code("+86");
    verify.set_new_phone_number("13800138003");
    verify.set_new_phone_pass_code("333333");
    v1::UpdatePhoneVerificationResponse verified;
    ASSERT_TRUE(Call(&v1::ProfileService::Stub::UpdatePhoneVerification,
                     gateway_.get(), verify, &verified, {{"x-user-id", user}})
                    .status.ok());
    Answer by_user, by_admin;
    std::thread spend([&] {
      v1::UpdatePhoneRequest update;
      update.set_update_phone_token(verified.data().update_phone_token());
      v1::CommonResponse updated;
      by_user = Call(&v1::ProfileService::Stub::UpdatePhone, gateway_.get(),
                     update, &updated, {{"x-user-id", user}});
    });
    by_admin = SetPhone(other, "13800138003");
    spend.join();
    EXPECT_NE(by_user.status.ok(), by_admin.status.ok()) << round;
    const std::string owner = by_user.status.ok() ? user : other;
    const std::string loser = by_user.status.ok() ? other : user;
    EXPECT_EQ(GetUser(owner).phone_e164(), "+8613800138003");
    EXPECT_EQ(GetUser(loser).phone_e164(), "");
    EXPECT_EQ((by_user.status.ok() ? by_admin : by_user).api_code, 2035);
    // Free the number for the next round.
    adminv1::ClearPhoneRequest clear;
    clear.set_user_id(owner);
    clear.set_reason("test round");
    adminv1::ClearPhoneResponse cleared;
    ASSERT_TRUE(Call(&adminv1::ProfileAdminService::Stub::ClearPhone,
                     admin_.get(), clear, &cleared)
                    .status.ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AdminE2eTest,
                         ::testing::Values(Backend::kInMemory,
                                           Backend::kRedisPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kInMemory
                                      ? "InMemory"
                                      : "RedisPostgres";
                         });

}  // namespace
}  // namespace profile
