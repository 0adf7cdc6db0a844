#include "server/auth/jwt_authenticator.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/support/string_ref.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/common/api_error.h"
#include "tests/testing/call_metadata.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::profile::testing::KeyPair;
using ::profile::testing::MakeKeyPair;
using ::profile::testing::SignJwt;
using ::profile::testing::StatusIs;
using ::profile::testing::TestDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-hs256";
constexpr int64_t kNow = 1800000000;  // FakeClock's start

using Metadata = ::profile::testing::FakeMetadata;

nlohmann::json Claims(const std::string& sub = "alice") {
  return {{"sub", sub},
          {"iss", "https://login.example.com/"},
          {"aud", "profile-service"},
          {"iat", kNow - 10},
          {"exp", kNow + 300}};
}

class JwtAuthenticatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    rsa_ = new KeyPair(MakeKeyPair(dir_->path(), "rsa", "RSA:2048"));
    ec_ = new KeyPair(MakeKeyPair(dir_->path(), "ec", "EC:P-256"));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete dir_;
  }

  std::unique_ptr<Authenticator> Make(JwtOptions options) {
    if (options.issuer.empty()) options.issuer = "https://login.example.com/";
    if (options.audience.empty()) options.audience = "profile-service";
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        NewJwtAuthenticator(options, clock_);
    EXPECT_THAT(auth.status(), IsOk());
    return auth.ok() ? *std::move(auth) : nullptr;
  }
  std::unique_ptr<Authenticator> Hs256() {
    JwtOptions options;
    options.hs256_secret = kSecret;
    return Make(options);
  }
  std::unique_ptr<Authenticator> WithKey(const KeyPair& key) {
    JwtOptions options;
    options.public_key_pem = key.public_pem;
    return Make(options);
  }

  absl::StatusOr<std::string> Check(const Authenticator& auth,
                                    const std::string& token) {
    Metadata metadata;
    metadata.Add("authorization", "Bearer " + token);
    return auth.Authenticate(metadata.map());
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  static TestDir* dir_;
  static KeyPair* rsa_;
  static KeyPair* ec_;
};

TestDir* JwtAuthenticatorTest::dir_ = nullptr;
KeyPair* JwtAuthenticatorTest::rsa_ = nullptr;
KeyPair* JwtAuthenticatorTest::ec_ = nullptr;

TEST_F(JwtAuthenticatorTest, Hs256TokenGivesItsSub) {
  auto auth = Hs256();
  absl::StatusOr<std::string> user =
      Check(*auth, SignJwt("HS256", kSecret, Claims()));
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_EQ(*user, "alice");
}

TEST_F(JwtAuthenticatorTest, Rs256TokenGivesItsSub) {
  auto auth = WithKey(*rsa_);
  absl::StatusOr<std::string> user =
      Check(*auth, SignJwt("RS256", rsa_->private_pem, Claims("bob")));
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_EQ(*user, "bob");
}

TEST_F(JwtAuthenticatorTest, Es256TokenGivesItsSub) {
  auto auth = WithKey(*ec_);
  // ECDSA signatures are randomized: several, so that short r or s values
  // (which the r||s form pads) come up too.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> user =
        Check(*auth, SignJwt("ES256", ec_->private_pem, Claims("carol")));
    ASSERT_THAT(user.status(), IsOk());
    EXPECT_EQ(*user, "carol");
  }
}

TEST_F(JwtAuthenticatorTest, SchemeIsCaseInsensitiveAndXUserIdIgnored) {
  auto auth = Hs256();
  Metadata metadata;
  metadata.Add("authorization", "bearer " + SignJwt("HS256", kSecret, Claims()))
      .Add("x-user-id", "mallory");
  absl::StatusOr<std::string> user = auth->Authenticate(metadata.map());
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_EQ(*user, "alice");

  Metadata header_only;
  header_only.Add("x-user-id", "mallory");
  EXPECT_THAT(auth->Authenticate(header_only.map()),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("authorization is missing")));
}

TEST_F(JwtAuthenticatorTest, AudienceMayBeAnArray) {
  auto auth = Hs256();
  nlohmann::json claims = Claims();
  claims["aud"] = {"other", "profile-service"};
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
  claims["aud"] = {"other", "another"};
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("audience")));
}

TEST_F(JwtAuthenticatorTest, IssuerAndAudienceAreOnlyCheckedWhenConfigured) {
  JwtOptions options;
  options.hs256_secret = kSecret;
  auto auth = NewJwtAuthenticator(options, clock_);
  ASSERT_THAT(auth.status(), IsOk());
  nlohmann::json claims = {{"sub", "alice"}, {"exp", kNow + 60}};
  EXPECT_THAT(Check(**auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
}

TEST_F(JwtAuthenticatorTest, ExpiryAndNotBeforeHaveThirtySecondsLeeway) {
  auto auth = Hs256();
  nlohmann::json claims = Claims();
  claims["exp"] = kNow - 29;  // within the leeway
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
  claims["exp"] = kNow - 30;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("expired")));

  claims = Claims();
  claims["nbf"] = kNow + 30;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
  claims["nbf"] = kNow + 31;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not valid yet")));

  // The same token, once time has moved on.
  const std::string token = SignJwt("HS256", kSecret, Claims());
  EXPECT_THAT(Check(*auth, token).status(), IsOk());
  clock_->Advance(absl::Seconds(300 + 30));
  EXPECT_THAT(Check(*auth, token),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("expired")));
}

// Every refusal: UNAUTHENTICATED, api code 1000, a message saying why, and
// never the token itself.
TEST_F(JwtAuthenticatorTest, RefusesEveryBadToken) {
  auto hs = Hs256();
  auto rs = WithKey(*rsa_);
  auto es = WithKey(*ec_);
  KeyPair other_rsa = MakeKeyPair(dir_->path(), "other_rsa", "RSA:2048");
  KeyPair other_ec = MakeKeyPair(dir_->path(), "other_ec", "EC:P-256");
  nlohmann::json claims = Claims();

  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json c = Claims();
    if (value.is_null()) {
      c.erase(key);
    } else {
      c[key] = std::move(value);
    }
    return SignJwt("HS256", kSecret, c);
  };
  const std::string good = SignJwt("HS256", kSecret, claims);
  std::string tampered = good;
  tampered[tampered.find('.') + 5] ^= 1;  // a payload byte

  struct Case {
    const char* name;
    const Authenticator* auth;
    std::string token;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"alg none", hs.get(), SignJwt("none", "", claims), "alg none"},
      {"alg NONE with a signature", hs.get(),
       SignJwt("HS256", kSecret, claims, {{"alg", "NONE"}}), "alg none"},
      {"HS256 token, RSA key (alg confusion)", rs.get(),
       SignJwt("HS256", rsa_->public_pem, claims), "alg is not RS256"},
      {"RS256 token, HS256 secret", hs.get(),
       SignJwt("RS256", rsa_->private_pem, claims), "alg is not HS256"},
      {"ES256 token, RSA key", rs.get(),
       SignJwt("ES256", ec_->private_pem, claims), "alg is not RS256"},
      {"RS512", rs.get(), SignJwt("HS256", kSecret, claims, {{"alg", "RS512"}}),
       "alg is not RS256"},
      {"wrong HS256 secret", hs.get(),
       SignJwt("HS256", "another secret of enough length....", claims),
       "signature is invalid"},
      {"RS256 signed by another key", rs.get(),
       SignJwt("RS256", other_rsa.private_pem, claims),
       "signature is invalid"},
      {"ES256 signed by another key", es.get(),
       SignJwt("ES256", other_ec.private_pem, claims),
       "signature is invalid"},
      {"tampered payload", hs.get(), tampered, "signature is invalid"},
      {"truncated ES256 signature", es.get(),
       SignJwt("ES256", ec_->private_pem, claims).substr(
           0, SignJwt("ES256", ec_->private_pem, claims).size() - 4),
       "signature is invalid"},
      {"crit header", hs.get(),
       SignJwt("HS256", kSecret, claims, {{"crit", {"exp"}}}), "crit"},
      {"no exp", hs.get(), with("exp", nullptr), "no exp"},
      {"string exp", hs.get(), with("exp", "tomorrow"), "exp is not"},
      {"expired", hs.get(), with("exp", kNow - 3600), "expired"},
      {"nbf in the future", hs.get(), with("nbf", kNow + 3600),
       "not valid yet"},
      {"wrong issuer", hs.get(), with("iss", "https://evil.example.com/"),
       "issuer"},
      {"no issuer", hs.get(), with("iss", nullptr), "issuer"},
      {"wrong audience", hs.get(), with("aud", "billing"), "audience"},
      {"no sub", hs.get(), with("sub", nullptr), "no sub"},
      {"numeric sub", hs.get(), with("sub", 42), "no sub"},
      {"empty sub", hs.get(), with("sub", " "), "sub is empty"},
      {"long sub", hs.get(), with("sub", std::string(129, 'a')),
       "longer than 128"},
      {"control characters in sub", hs.get(), with("sub", "al\nice"),
       "control characters"},
      {"two parts", hs.get(), "abc.def", "not a JWT"},
      {"four parts", hs.get(), good + ".x", "not a JWT"},
      {"garbage", hs.get(), "garbage", "not a JWT"},
      {"empty", hs.get(), "", "not a JWT"},
      {"header not base64url", hs.get(), "a+b/." + good.substr(good.find('.') + 1),
       "header is not base64url"},
      {"header not JSON", hs.get(),
       testing::Base64Url("nope") + good.substr(good.find('.')),
       "not a JSON object"},
      {"header a JSON array", hs.get(),
       testing::Base64Url("[1]") + good.substr(good.find('.')),
       "not a JSON object"},
      {"no signature", hs.get(), good.substr(0, good.rfind('.') + 1),
       "signature is missing"},
      {"padded signature", hs.get(), good + "=", "not base64url"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> user = Check(*c.auth, c.token);
    EXPECT_THAT(user, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kUnauthenticated))
        << c.name;
    EXPECT_THAT(user.status().message(), HasSubstr(c.message)) << c.name;
    if (c.token.size() > 8) {
      EXPECT_THAT(std::string(user.status().message()),
                  Not(HasSubstr(c.token)))
          << c.name;
    }
  }
}

TEST_F(JwtAuthenticatorTest, RefusesBadAuthorizationMetadata) {
  auto auth = Hs256();
  const std::string token = SignJwt("HS256", kSecret, Claims());
  struct Case {
    std::vector<std::string> values;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{}, "authorization is missing"},
      {{"Bearer " + token, "Bearer " + token}, "more than once"},
      {{"Basic dXNlcjpwYXNz"}, "must be \"Bearer <JWT>\""},
      {{token}, "must be \"Bearer <JWT>\""},
      {{"Bearer"}, "must be \"Bearer <JWT>\""},
      {{"Bearer " + std::string(9000, 'a')}, "too long"},
  };
  for (const Case& c : cases) {
    Metadata metadata;
    for (const std::string& value : c.values) {
      metadata.Add("authorization", value);
    }
    absl::StatusOr<std::string> user = auth->Authenticate(metadata.map());
    EXPECT_THAT(user, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kUnauthenticated))
        << c.message;
    EXPECT_THAT(user.status().message(), HasSubstr(c.message));
  }
}

TEST_F(JwtAuthenticatorTest, RefusesUnusableKeys) {
  KeyPair small_rsa = MakeKeyPair(dir_->path(), "small", "RSA:1024");
  KeyPair p384 = MakeKeyPair(dir_->path(), "p384", "EC:P-384");
  KeyPair ed = MakeKeyPair(dir_->path(), "ed", "ED25519");
  struct Case {
    JwtOptions options;
    const char* message;
  };
  auto secret = [](std::string s) {
    JwtOptions o;
    o.hs256_secret = std::move(s);
    return o;
  };
  auto pem = [](std::string s) {
    JwtOptions o;
    o.public_key_pem = std::move(s);
    return o;
  };
  JwtOptions both = secret(kSecret);
  both.public_key_pem = rsa_->public_pem;
  const std::vector<Case> cases = {
      {JwtOptions{}, "exactly one of"},
      {both, "exactly one of"},
      {secret("short"), "--jwt_secret_file must hold at least 32 bytes"},
      {pem("not a key"), "--jwt_public_key_file does not hold a PEM"},
      {pem(rsa_->private_pem), "--jwt_public_key_file does not hold a PEM"},
      {pem(small_rsa.public_pem), "shorter than 2048 bits"},
      {pem(p384.public_pem), "not on P-256"},
      {pem(ed.public_pem), "neither RSA nor EC P-256"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(NewJwtAuthenticator(c.options, clock_).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)))
        << c.message;
  }
}

TEST_F(JwtAuthenticatorTest, FromFlagsReadsFilesAndNamesTheFlag) {
  JwtFileOptions flags;
  flags.secret_file = dir_->Write("secret", std::string(kSecret) + "\n");
  flags.issuer = "https://login.example.com/";
  auto auth = NewJwtAuthenticatorFromFiles(flags, clock_);
  ASSERT_THAT(auth.status(), IsOk());
  // The trailing newline is not part of the secret.
  EXPECT_THAT(Check(**auth, SignJwt("HS256", kSecret, Claims())).status(),
              IsOk());

  flags.secret_file = dir_->path() + "/missing";
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--jwt_secret_file"),
                             HasSubstr("No such file"))));
  flags.secret_file = dir_->path();
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
  flags.secret_file = "";
  flags.public_key_file = dir_->Write("garbage.pem", "garbage");
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--jwt_public_key_file"),
                             HasSubstr("garbage.pem"))));
  flags.public_key_file = ec_->public_file;
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(), IsOk());
}

}  // namespace
}  // namespace profile
