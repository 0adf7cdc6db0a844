// Tests of the profile_server program itself: flags, flag files, health,
// reflection, signals, real-time token expiry and the --verify_old_phone
// default. Each test starts the real
// binary as a child process on 127.0.0.1 port 0.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/e2e_client.h"
#include "tests/testing/health_probe.h"
#include "tests/testing/reflection_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::HealthOf;
using ::profile::testing::ReflectionClient;
using ::profile::testing::RunToExit;
using ::profile::testing::ServerProcess;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

const char kBinary[] = PROFILE_SERVER_BINARY;
const char kTestNumbers[] = "--test_phone_codes=+8613800138000:246810";

v1::UpdatePhoneVerificationRequest TestNumberVerification() {
  v1::UpdatePhoneVerificationRequest request;
  request.set_new_phone_country_code("+86");
  request.set_new_phone_number("13800138000");
  request.set_new_phone_pass_code("246810");
  return request;
}

v1::SendPhoneCodeRequest NewPhoneCode(const std::string& country_code,
                                      const std::string& number) {
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code(country_code);
  request.set_phone_number(number);
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  return request;
}

TEST(ServerBinaryTest, ServesHealthOverallAndPerService) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {})) << server.log();
  EXPECT_EQ(HealthOf(server.port(), ""), HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(server.port(), "profile.v1.ProfileService"),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(server.port(), "no.such.Service"),
            -1 - grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

TEST(ServerBinaryTest, TheDefaultServerLoadsNeitherLibcurlNorLibpq) {
  // In memory, SMS to the log: no flag needs them, so they are never
  // loaded (server/common/shared_library.h); the flags that do are covered
  // by sms_providers_e2e_test and backends_e2e_test.
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {})) << server.log();
  EXPECT_TRUE(server.Maps("/libssl.so.")) << "is /proc/<pid>/maps read?";
  EXPECT_FALSE(server.Maps("/libcurl.so."));
  EXPECT_FALSE(server.Maps("/libpq.so."));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

TEST(ServerBinaryTest, ReflectionListsAndDescribesTheService) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {})) << server.log();
  ReflectionClient reflection(server.port());

  // `grpcurl list`
  EXPECT_THAT(reflection.ListServices(),
              IsSupersetOf({"profile.v1.ProfileService",
                            "grpc.health.v1.Health"}));

  // `grpcurl describe profile.v1.ProfileService`
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(
      reflection.FileContainingSymbol("profile.v1.ProfileService", &file));
  EXPECT_EQ(file.name(), "profile/v1/profile.proto");
  ASSERT_EQ(file.service_size(), 1);
  std::vector<std::string> methods;
  for (const auto& method : file.service(0).method()) {
    methods.push_back(method.name());
  }
  EXPECT_THAT(methods, ::testing::ElementsAre("SendPhoneCode",
                                              "UpdatePhoneVerification",
                                              "UpdatePhone", "GetProfile",
                                              "RevertPhoneChange"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(ServerBinaryTest, SigtermGoesNotServingDrainsAndExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--drain_delay=2s", kTestNumbers}))
      << server.log();
  E2eClient client(server.port());
  ASSERT_EQ(HealthOf(server.port(), ""), HealthCheckResponse::SERVING);
  kill(server.pid(), SIGTERM);

  // During the drain delay the health says NOT_SERVING while calls are
  // still answered, so load balancers move traffic away without errors.
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  int health = HealthOf(server.port(), "");
  while (health == HealthCheckResponse::SERVING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    health = HealthOf(server.port(), "");
  }
  EXPECT_EQ(health, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(HealthOf(server.port(), "profile.v1.ProfileService"),
            HealthCheckResponse::NOT_SERVING);
  v1::UpdatePhoneVerificationResponse response;
  CallResult result = client.Call(&Stub::UpdatePhoneVerification, "u1",
                                  TestNumberVerification(), &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();

  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("\"stopped\""));
}

TEST(ServerBinaryTest, SigintExitsZero) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {})) << server.log();
  EXPECT_EQ(server.Stop(SIGINT), 0) << server.log();
}

TEST(ServerBinaryTest, TokenExpiresInRealTime) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--token_ttl=1s", kTestNumbers}))
      << server.log();
  E2eClient client(server.port());
  v1::UpdatePhoneVerificationResponse verified;
  ASSERT_TRUE(client
                  .Call(&Stub::UpdatePhoneVerification, "u1",
                        TestNumberVerification(), &verified)
                  .status.ok());
  EXPECT_EQ(verified.data().token_expires_in(), 1);

  absl::SleepFor(absl::Milliseconds(1300));
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  CallResult result = client.Call(&Stub::UpdatePhone, "u1", update, &updated);
  EXPECT_EQ(result.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.api_code(), 2310);

  // A token spent within its second works.
  ASSERT_TRUE(client
                  .Call(&Stub::UpdatePhoneVerification, "u1",
                        TestNumberVerification(), &verified)
                  .status.ok());
  update.set_update_phone_token(verified.data().update_phone_token());
  result = client.Call(&Stub::UpdatePhone, "u1", update, &updated);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(ServerBinaryTest, FlagfileIsRead) {
  char path[] = "/tmp/profile_flags_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "--listen=127.0.0.1:0\n--token_ttl=7s\n" << kTestNumbers << "\n";
  }
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {absl::StrCat("--flagfile=", path)}))
      << server.log();
  E2eClient client(server.port());
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result = client.Call(&Stub::UpdatePhoneVerification, "u1",
                                  TestNumberVerification(), &verified);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(verified.data().token_expires_in(), 7);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  std::remove(path);
}

// Two test numbers, so that an account can move from one to the other
// without a texted code.
const char kTwoTestNumbers[] =
    "--test_phone_codes=+8613800138000:246810,+8613800138001:135790";

// Verifies `user`'s move to the second test number, proving the first as
// the old phone when `prove_old`, and spends the token. Returns the first
// call that failed, or the UpdatePhone call.
CallResult MoveToSecondTestNumber(E2eClient& client, const std::string& user,
                                  bool prove_old) {
  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13800138001");
  verify.set_new_phone_pass_code("135790");
  if (prove_old) {
    verify.set_old_phone_country_code("+86");
    verify.set_old_phone_number("13800138000");
    verify.set_old_phone_pass_code("246810");
  }
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result =
      client.Call(&Stub::UpdatePhoneVerification, user, verify, &verified);
  if (!result.status.ok()) return result;
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  return client.Call(&Stub::UpdatePhone, user, update, &updated);
}

// Binds the first test number to `user` (no phone yet: nothing old to
// prove).
void BindFirstTestNumber(E2eClient& client, const std::string& user) {
  v1::UpdatePhoneVerificationResponse verified;
  CallResult result = client.Call(&Stub::UpdatePhoneVerification, user,
                                  TestNumberVerification(), &verified);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  result = client.Call(&Stub::UpdatePhone, user, update, &updated);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
}

std::string PhoneOf(E2eClient& client, const std::string& user) {
  v1::GetProfileResponse profile;
  CallResult result =
      client.Call(&Stub::GetProfile, user, v1::GetProfileRequest(), &profile);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  return profile.data().phone_e164();
}

// The flag's default, as the program applies it: an account that has a
// phone must prove it to move to another.
TEST(ServerBinaryTest, ByDefaultABoundAccountMustProveItsOldPhone) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {kTwoTestNumbers})) << server.log();
  E2eClient client(server.port());
  BindFirstTestNumber(client, "u1");

  CallResult refused = MoveToSecondTestNumber(client, "u1", false);
  EXPECT_EQ(refused.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.api_code(), 1001);
  EXPECT_EQ(refused.status.error_message(),
            "old_phone_country_code: is required to verify the account's "
            "current phone");
  EXPECT_EQ(PhoneOf(client, "u1"), "+8613800138000");

  CallResult moved = MoveToSecondTestNumber(client, "u1", true);
  EXPECT_EQ(moved.code(), grpc::StatusCode::OK)
      << moved.status.error_message();
  EXPECT_EQ(PhoneOf(client, "u1"), "+8613800138001");
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

// The opt-out still works: with --verify_old_phone=false the new phone's
// code alone moves a bound account.
TEST(ServerBinaryTest, VerifyOldPhoneFalseNeedsOnlyTheNewCode) {
  ServerProcess server;
  ASSERT_TRUE(
      server.Start(kBinary, {kTwoTestNumbers, "--verify_old_phone=false"}))
      << server.log();
  E2eClient client(server.port());
  BindFirstTestNumber(client, "u1");

  CallResult moved = MoveToSecondTestNumber(client, "u1", false);
  EXPECT_EQ(moved.code(), grpc::StatusCode::OK)
      << moved.status.error_message();
  EXPECT_EQ(PhoneOf(client, "u1"), "+8613800138001");
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

TEST(ServerBinaryTest, BadFlagsStopTheStartWithAClearMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--code_length=3"}, "--code_length must be from 4 to 10"},
      {{"--code_length=11"}, "--code_length must be from 4 to 10"},
      {{"--code_length=six"}, "code_length"},
      {{"--token_ttl=forever"}, "token_ttl"},
      {{"--token_ttl=0s"}, "--token_ttl must be from 1s to 1h"},
      {{"--code_ttl=-5m"}, "--code_ttl"},
      {{"--max_code_attempts=0"}, "--max_code_attempts"},
      {{"--max_live_tokens=0"}, "--max_live_tokens"},
      {{"--sms_sender=smtp"}, "--sms_sender"},
      {{"--sms_sender=outbox:/nonexistent-dir/outbox"}, "SMS outbox"},
      {{"--test_phone_codes=+86138:12"}, "--test_phone_codes"},
      {{"--auth=none"}, "--auth"},
      {{"--log_level=loud"}, "--log_level"},
      {{"--no_such_flag=1"}, "no_such_flag"},
      {{"positional"}, "unexpected argument"},
      {{"--listen=not-an-address"}, "cannot listen on not-an-address"},
      {{"--sms_allowed_regions=CN,XX"},
       "--sms_allowed_regions holds \"XX\", not an ISO 3166-1 alpha-2"},
      {{"--sms_allowed_regions=cn"}, "--sms_allowed_regions"},
      // Every duration flag has an upper bound: a huge value (which would
      // wrap in gRPC's int milliseconds) stops the start.
      {{"--max_connection_age=1000h"},
       "--max_connection_age must be 0 (never) or 1s to 24h"},
      {{"--max_connection_age=inf"}, "--max_connection_age"},
      {{"--max_connection_idle=1000h"}, "--max_connection_idle"},
      {{"--keepalive_time=1000h"}, "--keepalive_time must be from 10s to 2h"},
      {{"--keepalive_timeout=1000h"}, "--keepalive_timeout"},
      {{"--handshake_timeout=1000h"}, "--handshake_timeout"},
      {{"--code_ttl=1000h"}, "--code_ttl must be over 0 and at most 24h"},
      {{"--code_resend_interval=1000h"}, "--code_resend_interval"},
      {{"--token_ttl=1000h"}, "--token_ttl must be from 1s to 1h"},
      {{"--sms_timeout=1000h"}, "--sms_timeout"},
      {{"--sms_breaker_cooloff=1000h"}, "--sms_breaker_cooloff"},
      {{"--backend_timeout=1000h"}, "--backend_timeout"},
      {{"--drain_delay=1000h"}, "--drain_delay must be from 0s to 5m"},
      {{"--drain_delay=-1s"}, "--drain_delay must be from 0s to 5m"},
      {{"--shutdown_grace=1000h"}, "--shutdown_grace must be from 0s to 5m"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.args[0] << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.args[0];
  }
}

TEST(ServerBinaryTest, ALibraryThatCannotBeLoadedStopsTheStartNamingTheFlag) {
  // The dynamic loader looks in $LD_LIBRARY_PATH first: there, libcurl and
  // libpq are empty files, which it refuses.
  TestDir dir("profile_no_libraries");
  dir.Write("libcurl.so.4", "");
  dir.Write("libpq.so.5", "");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--sms_sender=twilio"},
       "--sms_sender=twilio needs libcurl: cannot load libcurl.so.4 (Debian "
       "package libcurl4): "},
      {{"--code_verifier=twilio_verify"},
       "--code_verifier=twilio_verify needs libcurl: cannot load "
       "libcurl.so.4"},
      {{"--postgres_url=postgresql://127.0.0.1:1/profile"},
       "--postgres_url needs libpq: cannot load libpq.so.5 (Debian package "
       "libpq5): "},
      {{"--migrate_only", "--postgres_url=postgresql://127.0.0.1:1/profile"},
       "--postgres_url needs libpq: cannot load libpq.so.5"},
  };
  ASSERT_EQ(setenv("LD_LIBRARY_PATH", dir.path().c_str(), 1), 0);
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.args[0] << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.args[0];
  }
  unsetenv("LD_LIBRARY_PATH");
}

// Ofcom's drama range, which libphonenumber calls invalid: a configured test
// number there goes through the whole flow; its unconfigured neighbour does
// not.
TEST(ServerBinaryTest, FictionalTestNumberGoesThroughTheWholeFlow) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary,
                           {"--test_phone_codes=+447700900123:135790"}))
      << server.log();
  E2eClient client(server.port());

  v1::SendPhoneCodeResponse sent;
  CallResult result = client.Call(&Stub::SendPhoneCode, "qa",
                                  NewPhoneCode("+44", "07700 900123"), &sent);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(sent.status_code(), 200);

  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+44");
  verify.set_new_phone_number("7700900123");
  verify.set_new_phone_pass_code("135790");
  v1::UpdatePhoneVerificationResponse verified;
  result = client.Call(&Stub::UpdatePhoneVerification, "qa", verify, &verified);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();

  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  result = client.Call(&Stub::UpdatePhone, "qa", update, &updated);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();

  v1::GetProfileResponse profile;
  result = client.Call(&Stub::GetProfile, "qa", v1::GetProfileRequest(),
                       &profile);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(profile.data().phone_e164(), "+447700900123");
  EXPECT_EQ(profile.data().phone_country_code(), "+44");
  EXPECT_EQ(profile.data().phone_number(), "7700900123");

  // The neighbour is fictional too, but not configured.
  result = client.Call(&Stub::SendPhoneCode, "qa",
                       NewPhoneCode("+44", "07700 900124"), &sent);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  verify.set_new_phone_number("07700 900124");
  result = client.Call(&Stub::UpdatePhoneVerification, "qa", verify, &verified);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("new_phone_number"));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

TEST(ServerBinaryTest, UnconfiguredFictionalNumberIsInvalid) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {kTestNumbers})) << server.log();
  E2eClient client(server.port());
  v1::SendPhoneCodeResponse sent;
  CallResult result = client.Call(&Stub::SendPhoneCode, "qa",
                                  NewPhoneCode("+44", "07700 900123"), &sent);
  EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.api_code(), 1001);
  EXPECT_THAT(result.status.error_message(), HasSubstr("phone_number"));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

// Runs `command` through the shell; returns its exit code and its stdout.
std::pair<int, std::string> RunForStdout(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, out};
  char buffer[256];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.append(buffer, n);
  }
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ServerBinaryTest, VersionPrintsTheVersionAndExitsZero) {
  const std::string version = PROFILE_EXPECTED_VERSION;
  auto [code, out] =
      RunForStdout(absl::StrCat("'", kBinary, "' --version 2>/dev/null"));
  EXPECT_EQ(code, 0) << out;
  // "profile_server 1.0.0" and, built in a git checkout, " (commit <hex>)".
  EXPECT_THAT(out, ::testing::MatchesRegex(
                       "profile_server " + version +
                       "( \\(commit [0-9a-f]{12}\\))?\n"));
}

TEST(ServerBinaryTest, ServingLineCarriesTheVersion) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {})) << server.log();
  EXPECT_THAT(server.log(),
              HasSubstr(absl::StrCat("\"message\":\"serving\",\"version\":\"",
                                     PROFILE_EXPECTED_VERSION, "\"")));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(ServerBinaryTest, BusyPortStopsTheStart) {
  ServerProcess first;
  ASSERT_TRUE(first.Start(kBinary, {})) << first.log();
  auto [code, log] =
      RunToExit(kBinary, {absl::StrCat("--listen=127.0.0.1:", first.port())});
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("cannot listen"));
  EXPECT_EQ(HealthOf(first.port(), ""), HealthCheckResponse::SERVING);
  EXPECT_EQ(first.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
