// --auth=jwt on the real profile_server binary: the caller is the JWT's sub,
// x-user-id is ignored, every bad token is UNAUTHENTICATED (api code 1000),
// bad JWT flags stop the start, and no token reaches the log.
#include <signal.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/e2e_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::CallResult;
using ::profile::testing::E2eClient;
using ::profile::testing::KeyPair;
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

TEST(JwtE2eTest, Hs256SecretFileWorksAndJwtMayListenOnAnOpenPort) {
  TestDir dir;
  const std::string secret = "a shared secret of at least thirty-two bytes";
  const std::string file = dir.Write("secret", secret + "\n");
  ServerProcess server;
  // JWTs prove the caller, so an open address needs no mutual TLS.
  ASSERT_TRUE(server.Start(kBinary, {"--auth=jwt", "--jwt_secret_file=" + file,
                                     "--listen=0.0.0.0:0"}))
      << server.log();
  E2eClient client(server.port());
  v1::GetProfileResponse response;
  nlohmann::json claims = {{"sub", "bob"},
                           {"exp", absl::ToUnixSeconds(absl::Now()) + 60}};
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
  const std::vector<Case> cases = {
      {{"--auth=jwt"}, "--auth=jwt needs exactly one of --jwt_secret_file"},
      {{"--auth=jwt", "--jwt_secret_file=" + short_secret,
        "--jwt_public_key_file=" + rsa.public_file},
       "exactly one of"},
      {{"--jwt_secret_file=" + short_secret},
       "--jwt_secret_file and --jwt_public_key_file need --auth=jwt"},
      {{"--auth=jwt", "--jwt_secret_file=" + short_secret},
       "--jwt_secret_file must hold at least 32 bytes"},
      {{"--auth=jwt", "--jwt_secret_file=" + missing},
       "--jwt_secret_file: cannot read " + missing},
      {{"--auth=jwt", "--jwt_public_key_file=" + missing},
       "--jwt_public_key_file: cannot read " + missing},
      {{"--auth=jwt", "--jwt_public_key_file=" + rsa.private_file},
       "--jwt_public_key_file does not hold a PEM public key"},
      {{"--auth=oauth"}, "--auth must be trusted_header or jwt"},
  };
  for (const Case& c : cases) {
    auto [code, log] = RunToExit(kBinary, c.args);
    EXPECT_EQ(code, 1) << c.args.back() << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.args.back();
  }
}

}  // namespace
}  // namespace profile
