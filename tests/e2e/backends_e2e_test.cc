// Many replicas on shared backends: real profile_server processes on
// 127.0.0.1, sharing a real Redis and a real PostgreSQL that the test starts
// in temporary directories. Codes sent through one replica verify on
// another, tokens spend anywhere exactly once, nothing acknowledged is lost
// to a kill -9, outages answer UNAVAILABLE and heal without a restart, and
// the schema migrates forward.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/backends/backend_url.h"
#include "server/backends/postgres_url.h"
#include "server/backends/postgres_user_store.h"
#include "server/backends/redis_client.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/health_probe.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::Get;
using ::profile::testing::HealthBecomes;
using ::profile::testing::HealthOf;
using ::profile::testing::PostgresServer;
using ::profile::testing::RaceSpends;
using ::profile::testing::RedisServer;
using ::profile::testing::Send;
using ::profile::testing::ServerProcess;
using ::profile::testing::SpendRace;
using ::profile::testing::Stub;
using ::profile::testing::Update;
using ::profile::testing::Verify;
using ::testing::HasSubstr;

const char kBinary[] = PROFILE_SERVER_BINARY;

class BackendsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    postgres_ = new PostgresServer();
    ASSERT_TRUE(redis_->Start()) << redis_->error();
    ASSERT_TRUE(postgres_->Start()) << postgres_->error();
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete postgres_;
  }

  void SetUp() override {
    database_url_ = postgres_->NewDatabase();
    ASSERT_FALSE(database_url_.empty()) << postgres_->error();
    prefix_ = absl::StrCat("replicas", ++tests_, ":");
  }

  // The flags of one replica; all replicas of a test share the backends,
  // the key prefix and the outbox.
  std::vector<std::string> ReplicaFlags(std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = {
        absl::StrCat("--redis_url=", redis_->url()),
        absl::StrCat("--redis_key_prefix=", prefix_),
        absl::StrCat("--postgres_url=", database_url_),
        absl::StrCat("--code_secret_file=", code_secret_file_),
        absl::StrCat("--sms_sender=outbox:", outbox_),
        "--backend_timeout=1s",
    };
    flags.insert(flags.end(), extra.begin(), extra.end());
    return flags;
  }

  std::string CodeFromOutbox(const std::string& e164) {
    std::ifstream in(outbox_);
    std::string line, code;
    while (std::getline(in, line)) {
      nlohmann::json message = nlohmann::json::parse(line);
      if (message["phone_e164"] == e164 &&
          message["type"] == "verification_code") {
        code = message["code"];
      }
    }
    return code;
  }

  // Sends a code through `sender` and verifies it through `verifier`. A
  // user who has a phone (+86) proves it too, with an old-phone code sent
  // through `sender`, as --verify_old_phone (the default) requires.
  std::string TokenFor(E2eClient& sender, E2eClient& verifier,
                       const std::string& user, const std::string& number) {
    std::string current;
    EXPECT_TRUE(Get(sender, user, &current).status.ok());
    CallResult sent = Send(sender, user, number);
    EXPECT_TRUE(sent.status.ok()) << sent.status.error_message();
    const std::string code = CodeFromOutbox("+86" + number);
    std::string old_number, old_code;
    if (!current.empty()) {
      EXPECT_EQ(current.rfind("+86", 0), 0u) << current;
      old_number = current.substr(3);
      sent = Send(sender, user, old_number, v1::PHONE_CODE_PURPOSE_OLD_PHONE);
      EXPECT_TRUE(sent.status.ok()) << sent.status.error_message();
      old_code = CodeFromOutbox(current);
    }
    std::string token;
    CallResult verified =
        Verify(verifier, user, number, code, &token, old_number, old_code);
    EXPECT_TRUE(verified.status.ok()) << verified.status.error_message();
    return token;
  }

  static RedisServer* redis_;
  static PostgresServer* postgres_;
  static int tests_;
  std::string database_url_;
  std::string prefix_;
  ::profile::testing::TestDir dir_{"profile_replicas"};
  const std::string outbox_ = dir_.File("outbox.jsonl");
  // Every replica keys codes with it.
  const std::string code_secret_file_ =
      dir_.Write("code-secret", std::string(32, 'k'));
};

RedisServer* BackendsE2eTest::redis_ = nullptr;
PostgresServer* BackendsE2eTest::postgres_ = nullptr;
int BackendsE2eTest::tests_ = 0;

TEST_F(BackendsE2eTest, ReplicasShareCodesTokensProfilesAndCooldowns) {
  ServerProcess a, b;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags())) << b.log();
  // --postgres_url loads libpq at start; the outbox sender needs no libcurl.
  EXPECT_TRUE(a.Maps("/libpq.so.5"));
  EXPECT_FALSE(a.Maps("/libcurl.so."));
  E2eClient client_a(a.port()), client_b(b.port());

  // Sent through A, verified through B, spent through A, read through B.
  const std::string token = TokenFor(client_a, client_b, "u1", "13800138001");
  ASSERT_FALSE(token.empty());
  CallResult updated = Update(client_a, "u1", token);
  ASSERT_EQ(updated.code(), grpc::StatusCode::OK)
      << updated.status.error_message();
  std::string phone;
  ASSERT_TRUE(Get(client_b, "u1", &phone).status.ok());
  EXPECT_EQ(phone, "+8613800138001");

  // The cooldown holds across replicas.
  ASSERT_TRUE(Send(client_a, "u2", "13800138002").status.ok());
  CallResult again = Send(client_b, "u2", "13800138002");
  EXPECT_EQ(again.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(again.api_code(), 2100);
  EXPECT_GE(again.retry_after(), 59);

  // The token was single use everywhere: its owner's retry through B is
  // told the change succeeded, anyone else that it is unknown.
  CallResult reused = Update(client_b, "u1", token);
  EXPECT_EQ(reused.code(), grpc::StatusCode::OK)
      << reused.status.error_message();
  reused = Update(client_b, "u3", token);
  EXPECT_EQ(reused.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(reused.api_code(), 2310);
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

TEST_F(BackendsE2eTest, SixtyFourSpendsOfOneTokenAcrossReplicasOneWins) {
  ServerProcess a, b;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags())) << b.log();
  E2eClient client_a(a.port()), client_b(b.port());
  const std::string token = TokenFor(client_b, client_a, "u1", "13800138001");

  const SpendRace race = RaceSpends(
      64, [&](int i) { return Update(i % 2 ? client_a : client_b, "u1", token); });
  // One spend took the token and changed the phone (one audit line between
  // the replicas); the others, as retries of its owner, waited for it and
  // were told it succeeded.
  EXPECT_EQ(race.ok, 64);
  EXPECT_EQ(race.not_found, 0);
  EXPECT_EQ(race.other, 0);
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
  const std::string logs = a.log() + b.log();
  int audits = 0;
  for (size_t at = logs.find("\"audit\":\"phone_change\"");
       at != std::string::npos;
       at = logs.find("\"audit\":\"phone_change\"", at + 1)) {
    ++audits;
  }
  EXPECT_EQ(audits, 1);
}

TEST_F(BackendsE2eTest, RetriesAreAnsweredAlikeAcrossReplicas) {
  ServerProcess a, b;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags())) << b.log();
  E2eClient client_a(a.port()), client_b(b.port());

  // SendPhoneCode through A, its retry with the key through B: one SMS,
  // the first answer.
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number("13800138001");
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  const std::vector<std::pair<std::string, std::string>> key = {
      {"x-idempotency-key", "replica-key-1"}};
  v1::SendPhoneCodeResponse first, again;
  ASSERT_EQ(client_a.Call(&Stub::SendPhoneCode, "u1", request, &first, key)
                .code(),
            grpc::StatusCode::OK);
  CallResult result =
      client_b.Call(&Stub::SendPhoneCode, "u1", request, &again, key);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(again.data().expires_in(), first.data().expires_in());
  EXPECT_EQ(again.data().resend_after(), first.data().resend_after());
  std::ifstream in(outbox_);
  int texts = 0;
  for (std::string line; std::getline(in, line);) ++texts;
  EXPECT_EQ(texts, 1);
  request.set_phone_number("13800138002");
  result = client_b.Call(&Stub::SendPhoneCode, "u1", request, &again, key);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1004);

  // UpdatePhone through A, its retry through B.
  std::string token;
  ASSERT_EQ(Verify(client_b, "u1", "13800138001",
                   CodeFromOutbox("+8613800138001"), &token)
                .code(),
            grpc::StatusCode::OK);
  ASSERT_EQ(Update(client_a, "u1", token).code(), grpc::StatusCode::OK);
  result = Update(client_b, "u1", token);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  result = Update(client_b, "u2", token);
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);

  // Only digests and TTLs in Redis: no raw key or token in any key name.
  absl::StatusOr<BackendUrl> url =
      ParseBackendUrl(redis_->url(), "redis", "REDIS_PASSWORD");
  ASSERT_TRUE(url.ok()) << url.status();
  std::unique_ptr<RedisClient> redis = RedisClient::Create({*url});
  absl::StatusOr<RedisReply> keys = redis->Command({"KEYS", prefix_ + "*"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  int records = 0;
  for (const RedisReply& key : keys->elements) {
    const std::string& name = key.str;
    EXPECT_EQ(name.find("replica-key-1"), std::string::npos) << name;
    EXPECT_EQ(name.find(token), std::string::npos) << name;
    if (name.rfind(prefix_ + "idempotency:", 0) != 0) continue;
    ++records;
    absl::StatusOr<RedisReply> ttl = redis->Command({"PTTL", name});
    ASSERT_TRUE(ttl.ok()) << ttl.status();
    EXPECT_GT(ttl->integer, 0) << name;
    absl::StatusOr<RedisReply> fields = redis->Command({"HGETALL", name});
    ASSERT_TRUE(fields.ok()) << fields.status();
    for (const RedisReply& field : fields->elements) {
      EXPECT_EQ(field.str.find("replica-key-1"), std::string::npos);
      EXPECT_EQ(field.str.find(token), std::string::npos);
    }
  }
  EXPECT_EQ(records, 2);  // the send's key and the spent token
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

TEST_F(BackendsE2eTest, TwoUsersRacingAcrossReplicasOneWins) {
  ServerProcess a, b;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags({"--code_resend_interval=0s"})))
      << a.log();
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags({"--code_resend_interval=0s"})))
      << b.log();
  E2eClient client_a(a.port()), client_b(b.port());
  for (int round = 0; round < 5; ++round) {
    const std::string number = absl::StrCat("1380013820", round);
    const std::string user_a = absl::StrCat("a", round);
    const std::string user_b = absl::StrCat("b", round);
    const std::string token_a = TokenFor(client_a, client_a, user_a, number);
    const std::string token_b = TokenFor(client_b, client_b, user_b, number);
    CallResult result_a, result_b;
    std::thread thread_a([&] { result_a = Update(client_a, user_a, token_a); });
    std::thread thread_b([&] { result_b = Update(client_b, user_b, token_b); });
    thread_a.join();
    thread_b.join();
    const bool a_won = result_a.code() == grpc::StatusCode::OK;
    EXPECT_NE(a_won, result_b.code() == grpc::StatusCode::OK) << round;
    const CallResult& loser = a_won ? result_b : result_a;
    EXPECT_EQ(loser.code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_EQ(loser.api_code(), 2035);
  }
}

TEST_F(BackendsE2eTest, KillNineLosesNoAcknowledgedChange) {
  constexpr int kUsers = 20;
  {
    ServerProcess a;
    ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
    E2eClient client(a.port());
    for (int i = 0; i < kUsers; ++i) {
      const std::string number = absl::StrCat("139001390", 10 + i);
      const std::string user = absl::StrCat("user", i);
      CallResult updated =
          Update(client, user, TokenFor(client, client, user, number));
      ASSERT_EQ(updated.code(), grpc::StatusCode::OK)
          << updated.status.error_message();
    }
    // Right after the last acknowledgement, with no chance to flush.
    EXPECT_EQ(a.Stop(SIGKILL), 128 + SIGKILL);
  }
  ServerProcess b;
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags())) << b.log();
  E2eClient client(b.port());
  for (int i = 0; i < kUsers; ++i) {
    std::string phone;
    ASSERT_TRUE(Get(client, absl::StrCat("user", i), &phone).status.ok());
    EXPECT_EQ(phone, absl::StrCat("+86139001390", 10 + i));
  }
}

// The outbox lines of `type`, waiting until `count` arrived or `wait` passed.
std::vector<nlohmann::json> OutboxLines(const std::string& outbox,
                                        const std::string& type, size_t count,
                                        absl::Duration wait) {
  std::vector<nlohmann::json> found;
  const absl::Time deadline = absl::Now() + wait;
  do {
    found.clear();
    std::ifstream in(outbox);
    for (std::string line; std::getline(in, line);) {
      nlohmann::json message = nlohmann::json::parse(line);
      if (message["type"] == type) found.push_back(std::move(message));
    }
    if (found.size() >= count) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  return found;
}

// A change acknowledged while no notice can be sent, then kill -9: the
// notice waits in PostgreSQL and the next replica sends it, once.
TEST_F(BackendsE2eTest, NoticeOfAChangeSurvivesKillNine) {
  // Test numbers: their codes need no SMS, so only the notice needs one.
  const std::vector<std::string> flags = {
      "--test_phone_codes=+8613800138001:111111,+8613800138002:222222"};
  {
    std::vector<std::string> failing = ReplicaFlags(flags);
    for (std::string& flag : failing) {
      if (absl::StartsWith(flag, "--sms_sender=")) {
        flag = "--sms_sender=outbox:/dev/full";  // every write fails
      }
    }
    ServerProcess a;
    ASSERT_TRUE(a.Start(kBinary, failing)) << a.log();
    E2eClient client(a.port());
    std::string token;
    ASSERT_TRUE(Verify(client, "u1", "13800138001", "111111", &token).status.ok());
    ASSERT_TRUE(Update(client, "u1", token).status.ok());
    ASSERT_TRUE(Verify(client, "u1", "13800138002", "222222", &token,
                       "13800138001", "111111")
                    .status.ok());
    ASSERT_EQ(Update(client, "u1", token).code(), grpc::StatusCode::OK);
    EXPECT_EQ(a.Stop(SIGKILL), 128 + SIGKILL);
  }
  EXPECT_TRUE(OutboxLines(outbox_, "phone_changed_notice", 1,
                          absl::ZeroDuration())
                  .empty());
  ServerProcess b;
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags(flags))) << b.log();
  // Within the lease the dead replica may hold (15 s), and a backoff.
  std::vector<nlohmann::json> notices =
      OutboxLines(outbox_, "phone_changed_notice", 1, absl::Seconds(25));
  ASSERT_EQ(notices.size(), 1u) << b.log();
  EXPECT_EQ(notices[0]["phone_e164"], "+8613800138001");
  // And only once, however long the relay keeps looking.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(OutboxLines(outbox_, "phone_changed_notice", 2,
                        absl::ZeroDuration())
                .size(),
            1u);
  // The token it carries works on any replica.
  E2eClient client(b.port());
  v1::RevertPhoneChangeRequest revert;
  revert.set_revert_token(notices[0].value("revert_token", ""));
  v1::CommonResponse response;
  EXPECT_EQ(client.Call(&Stub::RevertPhoneChange, "", revert, &response).code(),
            grpc::StatusCode::OK);
  std::string phone;
  ASSERT_TRUE(Get(client, "u1", &phone).status.ok());
  EXPECT_EQ(phone, "+8613800138001");
}

// Two replicas relay one outbox: every notice goes out once.
TEST_F(BackendsE2eTest, TwoReplicasSendEachNoticeOnce) {
  constexpr int kUsers = 12;
  std::vector<std::string> codes;
  for (int i = 0; i < 2 * kUsers; ++i) {
    codes.push_back(absl::StrCat("+86139001390", 10 + i, ":", 100000 + i));
  }
  const std::vector<std::string> flags = {
      absl::StrCat("--test_phone_codes=", absl::StrJoin(codes, ","))};
  ServerProcess a, b;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags(flags))) << a.log();
  ASSERT_TRUE(b.Start(kBinary, ReplicaFlags(flags))) << b.log();
  E2eClient client_a(a.port()), client_b(b.port());
  for (int i = 0; i < kUsers; ++i) {
    E2eClient& client = i % 2 == 0 ? client_a : client_b;
    const std::string user = absl::StrCat("user", i);
    const std::string first = absl::StrCat("139001390", 10 + 2 * i);
    const std::string second = absl::StrCat("139001390", 11 + 2 * i);
    std::string token;
    ASSERT_TRUE(Verify(client, user, first, absl::StrCat(100000 + 2 * i),
                       &token)
                    .status.ok());
    ASSERT_TRUE(Update(client, user, token).status.ok());
    ASSERT_TRUE(Verify(client, user, second, absl::StrCat(100001 + 2 * i),
                       &token, first, absl::StrCat(100000 + 2 * i))
                    .status.ok());
    ASSERT_TRUE(Update(client, user, token).status.ok());
  }
  std::vector<nlohmann::json> notices = OutboxLines(
      outbox_, "phone_changed_notice", kUsers, absl::Seconds(15));
  absl::SleepFor(absl::Seconds(2));
  notices = OutboxLines(outbox_, "phone_changed_notice", kUsers + 1,
                        absl::ZeroDuration());
  std::set<std::string> phones;
  for (const nlohmann::json& notice : notices) {
    phones.insert(notice.value("phone_e164", ""));
  }
  EXPECT_EQ(notices.size(), static_cast<size_t>(kUsers));
  EXPECT_EQ(phones.size(), static_cast<size_t>(kUsers));
  EXPECT_TRUE(postgres_->Exec(
      ParsePostgresUrl(database_url_, nullptr)->database,
      "DO $$ BEGIN IF (SELECT count(*) FROM notices) <> 0 THEN RAISE "
      "EXCEPTION 'notices left in the outbox'; END IF; END $$"))
      << postgres_->error();
}

TEST_F(BackendsE2eTest, RedisOutageIsUnavailableAndHealsWithoutRestart) {
  ServerProcess a;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  E2eClient client(a.port());
  ASSERT_TRUE(Send(client, "u1", "13800138001").status.ok());
  ASSERT_EQ(HealthOf(a.port()), HealthCheckResponse::SERVING);

  redis_->Stop();
  CallResult down = Send(client, "u1", "13800138002");
  EXPECT_EQ(down.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(down.api_code(), 5003);
  EXPECT_THAT(down.status.error_message(), HasSubstr("retry later"));
  EXPECT_TRUE(HealthBecomes(a.port(), HealthCheckResponse::NOT_SERVING,
                            absl::Seconds(10)));
  // Profiles live in PostgreSQL and are still readable.
  std::string phone;
  EXPECT_TRUE(Get(client, "u1", &phone).status.ok());

  ASSERT_TRUE(redis_->Start()) << redis_->error();
  EXPECT_TRUE(HealthBecomes(a.port(), HealthCheckResponse::SERVING,
                            absl::Seconds(10)));
  CallResult healed = Send(client, "u1", "13800138003");
  EXPECT_EQ(healed.code(), grpc::StatusCode::OK)
      << healed.status.error_message();
  EXPECT_EQ(a.Stop(SIGTERM), 0) << a.log();
}

TEST_F(BackendsE2eTest, PostgresOutageIsUnavailableAndHealsWithoutRestart) {
  ServerProcess a;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  E2eClient client(a.port());
  const std::string token = TokenFor(client, client, "u1", "13800138001");
  ASSERT_TRUE(Update(client, "u1", token).status.ok());
  // A token for the next change, to spend while PostgreSQL is down.
  const std::string next = TokenFor(client, client, "u1", "13800138002");

  postgres_->Stop();
  std::string phone;
  CallResult down = Get(client, "u1", &phone);
  EXPECT_EQ(down.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(down.api_code(), 5003);
  // The failed spend leaves the token spendable.
  CallResult update_down = Update(client, "u1", next);
  EXPECT_EQ(update_down.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(update_down.api_code(), 5003);
  EXPECT_TRUE(HealthBecomes(a.port(), HealthCheckResponse::NOT_SERVING,
                            absl::Seconds(10)));

  ASSERT_TRUE(postgres_->Start()) << postgres_->error();
  EXPECT_TRUE(HealthBecomes(a.port(), HealthCheckResponse::SERVING,
                            absl::Seconds(10)));
  CallResult healed = Get(client, "u1", &phone);
  EXPECT_EQ(healed.code(), grpc::StatusCode::OK)
      << healed.status.error_message();
  EXPECT_EQ(phone, "+8613800138001");
  CallResult retried = Update(client, "u1", next);
  EXPECT_EQ(retried.code(), grpc::StatusCode::OK)
      << retried.status.error_message();
  ASSERT_EQ(Get(client, "u1", &phone).code(), grpc::StatusCode::OK);
  EXPECT_EQ(phone, "+8613800138002");
  EXPECT_EQ(a.Stop(SIGTERM), 0) << a.log();
}

TEST_F(BackendsE2eTest, MigrationsRunTwiceAndUpgradeAnOlderSchema) {
  // A database left at schema version 1 by an older release, with data.
  absl::StatusOr<PostgresUrl> url = ParsePostgresUrl(database_url_, nullptr);
  ASSERT_TRUE(url.ok()) << url.status();
  PostgresOptions options{*url, absl::Seconds(2), 2};
  ASSERT_TRUE(MigratePostgres(options, 1).ok());
  ASSERT_EQ(*PostgresSchemaVersion(options), 1);
  const std::string database = url->database;
  ASSERT_TRUE(postgres_->Exec(
      database,
      "INSERT INTO profiles (user_id, phone_e164) VALUES ('old', "
      "'+8613800138009')"))
      << postgres_->error();

  for (int run = 0; run < 2; ++run) {
    ServerProcess migrate;
    EXPECT_FALSE(migrate.Start(
        kBinary, {absl::StrCat("--postgres_url=", database_url_),
                  "--migrate_only"}));
    EXPECT_EQ(migrate.Wait(absl::Seconds(20)), 0) << migrate.log();
    EXPECT_THAT(migrate.log(), HasSubstr("schema migrated"));
    EXPECT_EQ(*PostgresSchemaVersion(options), kPostgresSchemaVersion);
  }
  // The data from version 1 is served, and a change writes the audit table
  // that version 2 added.
  ServerProcess a;
  ASSERT_TRUE(a.Start(kBinary, ReplicaFlags())) << a.log();
  E2eClient client(a.port());
  std::string phone;
  ASSERT_TRUE(Get(client, "old", &phone).status.ok());
  EXPECT_EQ(phone, "+8613800138009");
  ASSERT_TRUE(Update(client, "old", TokenFor(client, client, "old",
                                             "13800138008"))
                  .status.ok());
  EXPECT_TRUE(postgres_->Exec(
      database,
      "DO $$ BEGIN IF (SELECT count(*) FROM phone_changes WHERE user_id = "
      "'old' AND old_phone_e164 = '+8613800138009') <> 1 THEN RAISE "
      "EXCEPTION 'no audit row'; END IF; END $$"))
      << postgres_->error();
  // And the revert token that version 3 added, with the change.
  EXPECT_TRUE(postgres_->Exec(
      database,
      "DO $$ BEGIN IF (SELECT count(*) FROM phone_reverts WHERE user_id = "
      "'old' AND old_phone_e164 = '+8613800138009') <> 1 THEN RAISE "
      "EXCEPTION 'no revert token'; END IF; END $$"))
      << postgres_->error();
}

TEST_F(BackendsE2eTest, BadBackendFlagsStopTheStart) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--redis_url=http://127.0.0.1:6379"}, "--redis_url"},
      {{"--redis_url=redis://127.0.0.1"}, "has no port"},
      // No code secret in Redis beside the digests it keys.
      {{"--redis_url=redis://127.0.0.1:6379"},
       "--code_secret_file is required with --redis_url"},
      {{"--postgres_url=postgresql://u@127.0.0.1:5432"}, "must name a database"},
      {{"--postgres_url=mysql://u@h:1/db"}, "--postgres_url"},
      {{"--migrate_only"}, "needs --postgres_url"},
      {{"--backend_timeout=0s"}, "--backend_timeout"},
      // Notices wait in PostgreSQL with their revert tokens sealed by it.
      {{"--postgres_url=postgresql://u@127.0.0.1:1/db"},
       "--code_secret_file is required with --postgres_url"},
      {{"--postgres_url=postgresql://u@127.0.0.1:1/db",
        absl::StrCat("--code_secret_file=", code_secret_file_)},
       "cannot migrate the PostgreSQL schema"},
  };
  for (const Case& c : cases) {
    ServerProcess server;
    EXPECT_FALSE(server.Start(kBinary, c.flags, absl::Seconds(20)))
        << c.flags[0];
    EXPECT_EQ(server.Wait(absl::Seconds(20)), 1) << c.flags[0];
    EXPECT_THAT(server.log(), HasSubstr(c.message)) << c.flags[0];
  }
}

}  // namespace
}  // namespace profile
