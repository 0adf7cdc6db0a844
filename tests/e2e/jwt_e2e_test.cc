// --auth=jwt on the real profile_server binary: the caller is the JWT's sub,
// x-user-id is ignored, every bad token is UNAUTHENTICATED (api code 1000),
// bad JWT flags stop the start, and no token reaches the log. Also the
// identity defences: typ, --jwt_max_lifetime, --jwt_jwks_file (keys by kid,
// rotation) and --max_auth_age (1002 "sign in again") with JWTs and with
// the trusted gateway's x-auth-time.
#include <signal.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "profile/admin/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/testing/e2e_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::KeyPair;
using ::profile::testing::PublicJwk;
using ::profile::testing::RunToExit;
using ::profile::testing::ServerProcess;
using ::profile::testing::SignJwt;
using ::profile::testing::Stub;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;
using ::testing::Not;

const char kBinary[] = PROFILE_SERVER_BINARY;
const char kIssuer[] = "https://login.example.com/";
const char kAudience[] = "profile-service";

std::vector<std::string> JwtFlags(const std::string& key_flag) {
  return {"--auth=jwt", key_flag, absl::StrCat("--jwt_issuer=", kIssuer),
          absl::StrCat("--jwt_audience=", kAudience)};
}

int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

nlohmann::json Claims(const std::string& sub) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return {{"sub", sub},
          {"iss", kIssuer},
          {"aud", kAudience},
          {"iat", now},
          {"exp", now + 300}};
}


CallResult GetProfileWith(E2eClient& client, const std::string& token,
                          v1::GetProfileResponse* response,
                          const std::string& x_user_id = "") {
  std::vector<std::pair<std::string, std::string>> metadata;
  if (!token.empty()) metadata.emplace_back("authorization", "Bearer " + token);
  return client.Call(&Stub::GetProfile, x_user_id, v1::GetProfileRequest(),
                     response, metadata);
}

TEST(JwtE2eTest, Es256TokensIdentifyTheCallerAndBadOnesAreRefused) {
  TestDir dir;
  KeyPair key = testing::MakeKeyPair(dir.path(), "es", "EC:P-256");
  KeyPair other = testing::MakeKeyPair(dir.path(), "other", "EC:P-256");
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      kBinary, {"--auth=jwt", "--jwt_public_key_file=" + key.public_file,
                absl::StrCat("--jwt_issuer=", kIssuer),
                absl::StrCat("--jwt_audience=", kAudience),
                "--log_level=debug"}))
      << server.log();
  EXPECT_THAT(server.log(), HasSubstr("\"auth\":\"jwt\""));
  E2eClient client(server.port());

  const std::string good = SignJwt("ES256", key.private_pem, Claims("alice"));
  v1::GetProfileResponse response;
  CallResult result = GetProfileWith(client, good, &response, "mallory");
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  // The JWT's sub, not the x-user-id sent alongside.
  EXPECT_EQ(response.data().user_id(), "alice");

  nlohmann::json expired = Claims("alice");
  expired["exp"] = absl::ToUnixSeconds(absl::Now()) - 3600;
  nlohmann::json wrong_aud = Claims("alice");
  wrong_aud["aud"] = "billing";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "authorization is missing"},
      {SignJwt("none", "", Claims("alice")), "alg none"},
      {SignJwt("HS256", key.public_pem, Claims("alice")), "alg is not ES256"},
      {SignJwt("ES256", other.private_pem, Claims("alice")),
       "signature is invalid"},
      {SignJwt("ES256", key.private_pem, expired), "expired"},
      {SignJwt("ES256", key.private_pem, wrong_aud), "audience"},
      {"garbage", "not a JWT"},
  };
  for (const auto& [token, message] : bad) {
    result = GetProfileWith(client, token, &response, "alice");
    EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED) << message;
    EXPECT_EQ(result.api_code(), 1000) << message;
    EXPECT_THAT(result.status.error_message(), HasSubstr(message));
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  EXPECT_THAT(server.log(), Not(HasSubstr(good)));
  EXPECT_THAT(server.log(), Not(HasSubstr(good.substr(good.rfind('.') + 1))));
}

// The scope profile.admin makes an admin of ProfileAdminService, and no user
// of the public API.
TEST(JwtE2eTest, AdminScopeOpensTheAdminApiOnly) {
  TestDir dir;
  KeyPair key = testing::MakeKeyPair(dir.path(), "es", "EC:P-256");
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary,
                           JwtFlags("--jwt_public_key_file=" + key.public_file)))
      << server.log();
  nlohmann::json admin_claims = Claims("support-agent-7");
  admin_claims["scope"] = "openid profile.admin";
  const std::string admin = SignJwt("ES256", key.private_pem, admin_claims);
  const std::string user = SignJwt("ES256", key.private_pem, Claims("alice"));

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = admin::v1::ProfileAdminService::NewStub(channel);
  const auto get_user = [&](const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    context.AddMetadata("x-user-id", "alice");  // never read here
    admin::v1::GetUserRequest request;
    request.set_user_id("alice");
    admin::v1::GetUserResponse response;
    return stub->GetUser(&context, request, &response);
  };
  EXPECT_TRUE(get_user(admin).ok());
  grpc::Status denied = get_user(user);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("profile.admin"));

  E2eClient client(server.port());
  v1::GetProfileResponse response;
  CallResult as_user = GetProfileWith(client, admin, &response);
  EXPECT_EQ(as_user.code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(as_user.api_code(), 1003);
  EXPECT_EQ(GetProfileWith(client, user, &response).code(),
            grpc::StatusCode::OK);
}

TEST(JwtE2eTest, Hs256SecretFileWorksAndJwtMayListenOnAnOpenPort) {
  TestDir dir;
  const std::string secret = "a shared secret of at least thirty-two bytes";
  const std::string file = dir.Write("secret", secret + "\n");
  ServerProcess server;
  // JWTs prove the caller, so an open address needs no mutual TLS.
  std::vector<std::string> flags = JwtFlags("--jwt_secret_file=" + file);
  flags.push_back("--listen=0.0.0.0:0");
  ASSERT_TRUE(server.Start(kBinary, flags)) << server.log();
  E2eClient client(server.port());
  v1::GetProfileResponse response;
  nlohmann::json claims = Claims("bob");
  CallResult result =
      GetProfileWith(client, SignJwt("HS256", secret, claims), &response);
  ASSERT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(response.data().user_id(), "bob");
  result = GetProfileWith(client, "", &response, "bob");
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(result.api_code(), 1000);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(JwtE2eTest, BadJwtFlagsStopTheStartNamingTheFlag) {
  TestDir dir;
  KeyPair rsa = testing::MakeKeyPair(dir.path(), "rsa", "RSA:2048");
  const std::string short_secret = dir.Write("short", "tooshort\n");
  const std::string missing = dir.path() + "/missing";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string issuer = absl::StrCat("--jwt_issuer=", kIssuer);
  const std::string audience = absl::StrCat("--jwt_audience=", kAudience);
  const std::string good_key = "--jwt_public_key_file=" + rsa.public_file;
  const std::string bad_jwks = dir.Write("bad.jwks", R"({"keys": []})");
  const std::vector<Case> cases = {
      {{"--auth=jwt", issuer, audience},
       "--auth=jwt needs exactly one of --jwt_secret_file"},
      {{"--auth=jwt", "--jwt_secret_file=" + short_secret,
        "--jwt_public_key_file=" + rsa.public_file, issuer, audience},
       "exactly one of"},
      {{"--auth=jwt", good_key, "--jwt_jwks_file=" + bad_jwks, issuer,
        audience},
       "exactly one of"},
      {{"--jwt_secret_file=" + short_secret},
       "--jwt_secret_file and --jwt_public_key_file and --jwt_jwks_file need "
       "--auth=jwt"},
      {{"--jwt_jwks_file=" + bad_jwks}, "need --auth=jwt"},
      {{"--auth=jwt", good_key, audience},
       "--jwt_issuer is required with --auth=jwt"},
      {{"--auth=jwt", good_key, issuer},
       "--jwt_audience is required with --auth=jwt"},
      {{"--auth=jwt", good_key, issuer, audience, "--jwt_max_lifetime=30s"},
       "--jwt_max_lifetime must be from 1m to 720h"},
      {{"--auth=jwt", good_key, issuer, audience, "--jwt_max_lifetime=721h"},
       "--jwt_max_lifetime must be from 1m to 720h"},
      {{"--max_auth_age=30s"}, "--max_auth_age must be 0s (off) or from 1m"},
      {{"--auth=jwt", "--jwt_secret_file=" + short_secret, issuer, audience},
       "--jwt_secret_file must hold at least 32 bytes"},
      {{"--auth=jwt", "--jwt_secret_file=" + missing, issuer, audience},
       "--jwt_secret_file: cannot read " + missing},
      {{"--auth=jwt", "--jwt_public_key_file=" + missing, issuer, audience},
       "--jwt_public_key_file: cannot read " + missing},
      {{"--auth=jwt", "--jwt_public_key_file=" + rsa.private_file, issuer,
        audience},
       "--jwt_public_key_file does not hold a PEM public key"},
      {{"--auth=jwt", "--jwt_jwks_file=" + missing, issuer, audience},
       "--jwt_jwks_file: cannot read " + missing},
      {{"--auth=jwt", "--jwt_jwks_file=" + bad_jwks, issuer, audience},
       "--jwt_jwks_file holds no RS256 or ES256 signing key"},
      {{"--auth=oauth"}, "--auth must be trusted_header or jwt"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.message << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.message;
  }
}

// Refused tokens of the identity defences: UNAUTHENTICATED, api code 1000.
void ExpectRefused(E2eClient& client, const std::string& token,
                   const std::string& message) {
  v1::GetProfileResponse response;
  CallResult result = GetProfileWith(client, token, &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED) << message;
  EXPECT_EQ(result.api_code(), 1000) << message;
  EXPECT_THAT(result.status.error_message(), HasSubstr(message));
}

void ExpectAccepted(E2eClient& client, const std::string& token,
                    const std::string& user) {
  v1::GetProfileResponse response;
  CallResult result = GetProfileWith(client, token, &response);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  EXPECT_EQ(response.data().user_id(), user);
}

TEST(JwtE2eTest, TypAndLifetimeAreChecked) {
  TestDir dir;
  KeyPair key = testing::MakeKeyPair(dir.path(), "es", "EC:P-256");
  std::vector<std::string> flags =
      JwtFlags("--jwt_public_key_file=" + key.public_file);
  flags.push_back("--jwt_max_lifetime=1h");
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, flags)) << server.log();
  E2eClient client(server.port());

  ExpectAccepted(client,
                 SignJwt("ES256", key.private_pem, Claims("alice"),
                         {{"typ", "at+jwt"}}),
                 "alice");
  ExpectRefused(client,
                SignJwt("ES256", key.private_pem, Claims("alice"),
                        {{"typ", "JOSE"}}),
                "typ is neither JWT nor at+jwt");
  ExpectRefused(client,
                SignJwt("ES256", key.private_pem, Claims("alice"),
                        {{"typ", "dpop+jwt"}}),
                "typ is neither JWT nor at+jwt");
  nlohmann::json claims = Claims("alice");
  claims["exp"] = Now() + 2 * 3600;
  ExpectRefused(client, SignJwt("ES256", key.private_pem, claims),
                "lives longer than --jwt_max_lifetime allows");
  claims["exp"] = Now() + 1800;
  ExpectAccepted(client, SignJwt("ES256", key.private_pem, claims), "alice");
  claims.erase("iat");
  ExpectRefused(client, SignJwt("ES256", key.private_pem, claims),
                "no iat, which --jwt_max_lifetime needs");
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(JwtE2eTest, JwksFileChoosesTheKeyByKidAndFollowsRotation) {
  TestDir dir;
  KeyPair rsa = testing::MakeKeyPair(dir.path(), "rsa", "RSA:2048");
  KeyPair ec = testing::MakeKeyPair(dir.path(), "ec", "EC:P-256");
  KeyPair next = testing::MakeKeyPair(dir.path(), "next", "EC:P-256");
  const std::string path = dir.path() + "/jwks.json";
  auto replace = [&](const nlohmann::json& jwks) {
    // As a Kubernetes Secret update: a new file takes the old one's place.
    const std::string staged = dir.Write("jwks.staged", jwks.dump());
    ASSERT_EQ(std::rename(staged.c_str(), path.c_str()), 0);
  };
  replace({{"keys", {PublicJwk(rsa, "rsa-2026"), PublicJwk(ec, "ec-2026")}}});
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, JwtFlags("--jwt_jwks_file=" + path)))
      << server.log();
  E2eClient client(server.port());

  ExpectAccepted(client,
                 SignJwt("RS256", rsa.private_pem, Claims("alice"),
                         {{"kid", "rsa-2026"}}),
                 "alice");
  const std::string ec_token = SignJwt("ES256", ec.private_pem, Claims("bob"),
                                       {{"kid", "ec-2026"}});
  ExpectAccepted(client, ec_token, "bob");
  ExpectRefused(client, SignJwt("RS256", rsa.private_pem, Claims("alice")),
                "no kid");
  ExpectRefused(client,
                SignJwt("RS256", rsa.private_pem, Claims("alice"),
                        {{"kid", "rsa-2025"}}),
                "kid is not in the key set");
  ExpectRefused(client,
                SignJwt("ES256", ec.private_pem, Claims("alice"),
                        {{"kid", "rsa-2026"}}),
                "alg is not RS256");

  // Rotation: the new key arrives, the old one leaves.
  replace({{"keys", {PublicJwk(next, "ec-2027")}}});
  const std::string next_token = SignJwt("ES256", next.private_pem,
                                         Claims("carol"), {{"kid", "ec-2027"}});
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  v1::GetProfileResponse response;
  while (GetProfileWith(client, next_token, &response).code() !=
             grpc::StatusCode::OK &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ExpectAccepted(client, next_token, "carol");
  ExpectRefused(client, ec_token, "kid is not in the key set");

  // A broken file keeps the last good key set, with a warning.
  replace({{"keys", "not an array"}});
  absl::SleepFor(absl::Milliseconds(1100));
  ExpectAccepted(client, next_token, "carol");
  absl::SleepFor(absl::Milliseconds(1100));
  ExpectAccepted(client, next_token, "carol");
  EXPECT_THAT(server.log(), HasSubstr("--jwt_jwks_file reloaded"));
  EXPECT_THAT(server.log(),
              HasSubstr("--jwt_jwks_file changed but is not usable; keeping "
                        "the last good key set"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

v1::SendPhoneCodeRequest SendRequest() {
  v1::SendPhoneCodeRequest request;
  request.set_phone_country_code("+86");
  request.set_phone_number("13800138000");
  request.set_purpose(v1::PHONE_CODE_PURPOSE_NEW_PHONE);
  return request;
}

// The three calls that change the account, with `metadata`; each result.
std::vector<CallResult> ChangeCalls(
    E2eClient& client, const std::string& user,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<CallResult> results;
  v1::SendPhoneCodeResponse sent;
  results.push_back(client.Call(&Stub::SendPhoneCode, user, SendRequest(),
                                &sent, metadata));
  v1::UpdatePhoneVerificationRequest verify;
  verify.set_new_phone_country_code("+86");
  verify.set_new_phone_number("13800138000");
  verify.set_new_phone_pass_code("246810");
  v1::UpdatePhoneVerificationResponse verified;
  results.push_back(client.Call(&Stub::UpdatePhoneVerification, user, verify,
                                &verified, metadata));
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(
      verified.data().update_phone_token().empty()
          ? "kq3WZ0b9x1Vd8mT4rLw7YfN2cHs6JpEa5uQiGoBkXzM"
          : verified.data().update_phone_token());
  v1::CommonResponse updated;
  results.push_back(
      client.Call(&Stub::UpdatePhone, user, update, &updated, metadata));
  return results;
}

void ExpectSignInAgain(const std::vector<CallResult>& results) {
  for (const CallResult& result : results) {
    EXPECT_EQ(result.code(), grpc::StatusCode::UNAUTHENTICATED)
        << result.status.error_message();
    EXPECT_EQ(result.api_code(), 1002);
    EXPECT_EQ(result.status.error_message(), "sign in again");
  }
}

TEST(JwtE2eTest, MaxAuthAgeGuardsChangesButNotReads) {
  TestDir dir;
  KeyPair key = testing::MakeKeyPair(dir.path(), "es", "EC:P-256");
  std::vector<std::string> flags =
      JwtFlags("--jwt_public_key_file=" + key.public_file);
  flags.push_back("--max_auth_age=15m");
  flags.push_back("--test_phone_codes=+8613800138000:246810");
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, flags)) << server.log();
  E2eClient client(server.port());
  auto bearer = [&](const nlohmann::json& claims) {
    return std::vector<std::pair<std::string, std::string>>{
        {"authorization", "Bearer " + SignJwt("ES256", key.private_pem, claims)}};
  };

  // Signed in an hour ago (auth_time), token fresh: reads yes, changes no.
  nlohmann::json stale = Claims("alice");
  stale["auth_time"] = Now() - 3600;
  v1::GetProfileResponse profile;
  CallResult result = client.Call(&Stub::GetProfile, "", {}, &profile,
                                  bearer(stale));
  EXPECT_EQ(result.code(), grpc::StatusCode::OK)
      << result.status.error_message();
  ExpectSignInAgain(ChangeCalls(client, "", bearer(stale)));

  // No auth_time: iat is the sign-in, and 20 minutes is too old.
  nlohmann::json old_iat = Claims("alice");
  old_iat["iat"] = Now() - 20 * 60;
  ExpectSignInAgain(ChangeCalls(client, "", bearer(old_iat)));

  // In Chinese.
  std::vector<std::pair<std::string, std::string>> zh = bearer(stale);
  zh.emplace_back("x-authing-lang", "zh-CN");
  v1::SendPhoneCodeResponse sent;
  result = client.Call(&Stub::SendPhoneCode, "", SendRequest(), &sent, zh);
  EXPECT_EQ(result.api_code(), 1002);
  EXPECT_EQ(result.status.error_message(), "请重新登录");

  // A recent sign-in goes through the whole flow.
  nlohmann::json fresh = Claims("alice");
  fresh["auth_time"] = Now() - 60;
  for (const CallResult& r : ChangeCalls(client, "", bearer(fresh))) {
    EXPECT_EQ(r.code(), grpc::StatusCode::OK) << r.status.error_message();
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(JwtE2eTest, MaxAuthAgeWithTrustedHeadersReadsXAuthTime) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, {"--max_auth_age=15m",
                                     "--test_phone_codes=+8613800138000:246810"}))
      << server.log();
  E2eClient client(server.port());
  const std::string now = absl::StrCat(Now());
  const std::string hour_ago = absl::StrCat(Now() - 3600);

  v1::GetProfileResponse profile;
  CallResult result = client.Call(&Stub::GetProfile, "u1", {}, &profile);
  EXPECT_EQ(result.code(), grpc::StatusCode::OK);
  // Without x-auth-time, or with an old one: sign in again.
  ExpectSignInAgain(ChangeCalls(client, "u1", {}));
  ExpectSignInAgain(ChangeCalls(client, "u1", {{"x-auth-time", hour_ago}}));
  // Malformed: INVALID_ARGUMENT naming it.
  for (const char* bad : {"yesterday", "-1", "1.5e9"}) {
    v1::SendPhoneCodeResponse sent;
    result = client.Call(&Stub::SendPhoneCode, "u1", SendRequest(), &sent,
                         {{"x-auth-time", bad}});
    EXPECT_EQ(result.code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(result.api_code(), 1001) << bad;
    EXPECT_THAT(result.status.error_message(), HasSubstr("x-auth-time"));
  }
  for (const CallResult& r : ChangeCalls(client, "u1", {{"x-auth-time", now}})) {
    EXPECT_EQ(r.code(), grpc::StatusCode::OK) << r.status.error_message();
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace profile
