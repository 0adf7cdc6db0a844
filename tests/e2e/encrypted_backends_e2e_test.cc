// Encrypted backends, as production runs them: the real profile_server on a
// Redis that speaks only TLS, reached through stunnel in client mode (the
// sidecar; Debian's hiredis has no TLS), and on a PostgreSQL that accepts
// TCP only over TLS, with the URL's sslmode=verify-full going to libpq
// unchanged. Every server runs on 127.0.0.1 in a temporary directory, with
// a CA and certificates that openssl makes for this run. A tunnel or URL
// that trusts another CA fails the start or the call clearly, and quickly.
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/backend_servers.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::Get;
using ::profile::testing::MakeTestPki;
using ::profile::testing::PostgresServer;
using ::profile::testing::RedisAnswersPlaintext;
using ::profile::testing::RedisServer;
using ::profile::testing::Send;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::StunnelClient;
using ::profile::testing::TestDir;
using ::profile::testing::TestPki;
using ::profile::testing::Update;
using ::profile::testing::Verify;
using ::testing::HasSubstr;
using ::testing::Not;

const char kBinary[] = PROFILE_SERVER_BINARY;
constexpr char kRedisPassword[] = "redis-pass-1c9e";
// PostgreSQL trusts 127.0.0.1 here and never asks for it; it is in the URL
// to show that no log or error repeats it.
constexpr char kPostgresPassword[] = "pg-pass-77ab";
// Longer than any start or call may take, far shorter than a hang.
constexpr absl::Duration kPrompt = absl::Seconds(15);

class EncryptedBackendsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir("profile_encrypted");
    pki_ = new TestPki(MakeTestPki(dir_->path()));
    redis_ = new RedisServer();
    redis_->EnableTls(pki_->server_cert, pki_->server_key, pki_->ca_cert,
                      kRedisPassword);
    ASSERT_TRUE(redis_->Start()) << redis_->error();
    postgres_ = new PostgresServer();
    postgres_->EnableTls(pki_->server_cert, pki_->server_key);
    ASSERT_TRUE(postgres_->Start()) << postgres_->error();
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete postgres_;
    delete pki_;
    delete dir_;
  }

  void SetUp() override {
    const std::string url = postgres_->NewDatabase();
    ASSERT_FALSE(url.empty()) << postgres_->error();
    database_ = url.substr(url.rfind('/') + 1);
    prefix_ = absl::StrCat("enc", ++tests_, ":");
  }

  // A URL as production writes it, trusting `ca_file`, and with two hosts
  // (the first one down) to show that libpq gets the host list as it is.
  std::string TlsPostgresUrl(const std::string& ca_file) const {
    return absl::StrCat("postgresql://postgres:", kPostgresPassword,
                        "@localhost:", ::profile::testing::FreePort(),
                        ",localhost:", postgres_->port(), "/", database_,
                        "?sslmode=verify-full&sslrootcert=", ca_file);
  }

  std::vector<std::string> Flags(const std::string& redis_url,
                                 const std::string& postgres_url) const {
    return {absl::StrCat("--redis_url=", redis_url),
            absl::StrCat("--redis_key_prefix=", prefix_),
            absl::StrCat("--postgres_url=", postgres_url),
            absl::StrCat("--sms_sender=outbox:", outbox_),
            absl::StrCat("--code_secret_file=", code_secret_file_),
            "--backend_timeout=2s"};
  }

  std::string CodeFromOutbox(const std::string& e164) const {
    std::ifstream in(outbox_);
    std::string line, code;
    while (std::getline(in, line)) {
      nlohmann::json message = nlohmann::json::parse(line);
      if (message["phone_e164"] == e164) code = message["code"];
    }
    return code;
  }

  // redis-cli over TLS, trusting the test CA; returns its output.
  static std::string RedisCli(const std::string& args) {
    return ::profile::testing::Run(absl::StrCat(
        "redis-cli --tls --cacert '", pki_->ca_cert, "' -h 127.0.0.1 -p ",
        redis_->port(), " -a ", kRedisPassword, " --no-auth-warning ", args));
  }

  static TestDir* dir_;
  static TestPki* pki_;
  static RedisServer* redis_;
  static PostgresServer* postgres_;
  static int tests_;
  std::string database_;
  std::string prefix_;
  TestDir test_dir_{"profile_encrypted_test"};
  const std::string outbox_ = test_dir_.File("outbox.jsonl");
  const std::string code_secret_file_ =
      test_dir_.Write("code_secret", std::string(32, 'k'));
};

TestDir* EncryptedBackendsE2eTest::dir_ = nullptr;
TestPki* EncryptedBackendsE2eTest::pki_ = nullptr;
RedisServer* EncryptedBackendsE2eTest::redis_ = nullptr;
PostgresServer* EncryptedBackendsE2eTest::postgres_ = nullptr;
int EncryptedBackendsE2eTest::tests_ = 0;

TEST_F(EncryptedBackendsE2eTest, FullFlowOverTlsToBothBackends) {
  StunnelClient tunnel;
  ASSERT_TRUE(tunnel.Start(redis_->port(), pki_->ca_cert, "localhost"))
      << tunnel.error();
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, Flags(tunnel.redis_url(kRedisPassword),
                                          TlsPostgresUrl(pki_->ca_cert))))
      << server.log() << tunnel.log();
  E2eClient client(server.port());

  CallResult sent = Send(client, "u1", "13800138001");
  ASSERT_EQ(sent.code(), grpc::StatusCode::OK) << sent.status.error_message();
  std::string token;
  CallResult verified = Verify(client, "u1", "13800138001",
                               CodeFromOutbox("+8613800138001"), &token);
  ASSERT_EQ(verified.code(), grpc::StatusCode::OK)
      << verified.status.error_message();
  ASSERT_FALSE(token.empty());
  CallResult updated = Update(client, "u1", token);
  ASSERT_EQ(updated.code(), grpc::StatusCode::OK)
      << updated.status.error_message();
  std::string phone;
  CallResult got = Get(client, "u1", &phone);
  ASSERT_EQ(got.code(), grpc::StatusCode::OK) << got.status.error_message();
  EXPECT_EQ(phone, "+8613800138001");

  // Redis: no plaintext port (--port 0) and plaintext on the TLS port gets
  // no answer, so the keys the server wrote came over TLS.
  EXPECT_FALSE(RedisAnswersPlaintext(redis_->port()));
  const std::string keys =
      RedisCli(absl::StrCat("--scan --pattern '", prefix_, "*'"));
  EXPECT_THAT(keys, HasSubstr(prefix_));
  EXPECT_THAT(tunnel.log(), HasSubstr("Certificate accepted"));

  // PostgreSQL: every connection of the server's pool is TLS, and a
  // plaintext connection is refused (pg_hba.conf has only hostssl).
  EXPECT_TRUE(postgres_->Exec(
      database_,
      "DO $$ BEGIN IF (SELECT count(*) FROM pg_stat_activity a JOIN "
      "pg_stat_ssl s USING (pid) WHERE a.application_name = "
      "'profile-service' AND s.ssl) = 0 OR EXISTS (SELECT 1 FROM "
      "pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE "
      "a.application_name = 'profile-service' AND NOT s.ssl) THEN RAISE "
      "EXCEPTION 'a connection of the server is not TLS'; END IF; END $$"))
      << postgres_->error();
  PGconn* plaintext = PQconnectdb(
      absl::StrCat("host=127.0.0.1 port=", postgres_->port(),
                   " user=postgres sslmode=disable dbname=", database_)
          .c_str());
  EXPECT_NE(PQstatus(plaintext), CONNECTION_OK);
  EXPECT_THAT(PQerrorMessage(plaintext), HasSubstr("no encryption"));
  PQfinish(plaintext);

  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
  EXPECT_THAT(server.log(), Not(HasSubstr(kPostgresPassword)));
  EXPECT_THAT(server.log(), Not(HasSubstr(kRedisPassword)));
}

TEST_F(EncryptedBackendsE2eTest, TunnelTrustingAnotherCaFailsClearly) {
  StunnelClient tunnel;
  ASSERT_TRUE(tunnel.Start(redis_->port(), pki_->other_ca_cert, "localhost"))
      << tunnel.error();
  // The server starts (Redis is not read at start), and every call that
  // needs Redis is UNAVAILABLE, promptly.
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, Flags(tunnel.redis_url(kRedisPassword),
                                          TlsPostgresUrl(pki_->ca_cert))))
      << server.log();
  E2eClient client(server.port());
  const absl::Time start = absl::Now();
  CallResult sent = Send(client, "u1", "13800138001");
  EXPECT_EQ(sent.code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(sent.api_code(), 5003);
  EXPECT_LT(absl::Now() - start, kPrompt);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
  EXPECT_THAT(server.log(), Not(HasSubstr(kRedisPassword)));

  // The tunnel says why: the server's certificate is not from its CA.
  EXPECT_THAT(tunnel.log(), HasSubstr("certificate verify failed"));
}

TEST_F(EncryptedBackendsE2eTest, PasswordFromLibpqsPasswordFile) {
  // A role that must give its password (pg_hba.conf: scram-sha-256), and a
  // URL without one: libpq finds it in $PGPASSFILE.
  ASSERT_TRUE(postgres_->Exec(
      database_, absl::StrCat("CREATE ROLE app_", database_,
                              " LOGIN PASSWORD 'from-pgpass'; ALTER DATABASE ",
                              database_, " OWNER TO app_", database_)))
      << postgres_->error();
  const std::string url = absl::StrCat(
      "postgresql://app_", database_, "@localhost:", postgres_->port(), "/",
      database_, "?sslmode=verify-full&sslrootcert=", pki_->ca_cert);
  const std::vector<std::string> flags = {
      absl::StrCat("--postgres_url=", url),
      absl::StrCat("--code_secret_file=", code_secret_file_),
      absl::StrCat("--sms_sender=outbox:", outbox_), "--backend_timeout=2s"};

  // Without the file, PostgreSQL asks for the password and gets none.
  auto [code, log] = ::profile::testing::RunToExit(kBinary, flags);
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("no password supplied"));

  // libpq ignores a password file that others can read.
  const std::string pgpass = test_dir_.Write(
      "pgpass", absl::StrCat("localhost:", postgres_->port(), ":", database_,
                             ":app_", database_, ":from-pgpass\n"));
  ASSERT_EQ(chmod(pgpass.c_str(), 0600), 0);
  setenv("PGPASSFILE", pgpass.c_str(), 1);
  ServerProcess server;
  const bool started = server.Start(kBinary, flags);
  unsetenv("PGPASSFILE");
  ASSERT_TRUE(started) << server.log();
  E2eClient client(server.port());
  std::string phone;
  CallResult got = Get(client, "u1", &phone);
  EXPECT_EQ(got.code(), grpc::StatusCode::OK) << got.status.error_message();
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

TEST_F(EncryptedBackendsE2eTest, PostgresUrlTrustingAnotherCaFailsClearly) {
  // Redis in memory: only PostgreSQL can fail.
  const std::string url = TlsPostgresUrl(pki_->other_ca_cert);
  const absl::Time start = absl::Now();
  auto [code, log] = ::profile::testing::RunToExit(
      kBinary,
      {absl::StrCat("--postgres_url=", url),
       absl::StrCat("--code_secret_file=", code_secret_file_),
       absl::StrCat("--sms_sender=outbox:", outbox_), "--backend_timeout=2s"});
  EXPECT_EQ(code, 1) << log;
  EXPECT_LT(absl::Now() - start, kPrompt);
  EXPECT_THAT(log, HasSubstr("cannot migrate the PostgreSQL schema"));
  EXPECT_THAT(log, HasSubstr("certificate verify failed"));
  // The URL in the error is the operator's, but without the password.
  EXPECT_THAT(log, HasSubstr("postgresql://postgres:***@localhost:"));
  EXPECT_THAT(log, Not(HasSubstr(kPostgresPassword)));
}

}  // namespace
}  // namespace profile
