#include "server/auth/jwt_authenticator.h"

#include <cstdio>
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
#include "server/common/crypto.h"
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
using ::profile::testing::PublicJwk;
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

TEST_F(JwtAuthenticatorTest, IssuerAudienceAndLifetimeAreRequired) {
  JwtOptions options;
  options.hs256_secret = kSecret;
  EXPECT_THAT(NewJwtAuthenticator(options, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--jwt_issuer is required with --auth=jwt")));
  options.issuer = "https://login.example.com/";
  EXPECT_THAT(
      NewJwtAuthenticator(options, clock_).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("--jwt_audience is required with --auth=jwt")));
  options.audience = "profile-service";
  for (absl::Duration lifetime : {absl::Seconds(59), absl::Hours(24 * 30 + 1),
                                  absl::ZeroDuration()}) {
    options.max_lifetime = lifetime;
    EXPECT_THAT(NewJwtAuthenticator(options, clock_).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--jwt_max_lifetime must be from 1m")))
        << lifetime;
  }
  options.max_lifetime = absl::Hours(24 * 30);
  EXPECT_THAT(NewJwtAuthenticator(options, clock_).status(), IsOk());
}

TEST_F(JwtAuthenticatorTest, TypMustSayJwtOrAccessToken) {
  auto auth = Hs256();
  for (const char* typ : {"JWT", "jwt", "at+jwt", "AT+JWT",
                          "application/at+jwt", "application/jwt"}) {
    EXPECT_THAT(
        Check(*auth, SignJwt("HS256", kSecret, Claims(), {{"typ", typ}}))
            .status(),
        IsOk())
        << typ;
  }
  // A header without typ at all is fine too.
  const std::string signed_part = testing::Base64Url(R"({"alg":"HS256"})") +
                                  "." + testing::Base64Url(Claims().dump());
  EXPECT_THAT(Check(*auth, signed_part + "." +
                               testing::Base64Url(
                                   HmacSha256(kSecret, signed_part)))
                  .status(),
              IsOk());
  for (const nlohmann::json& typ :
       {nlohmann::json("JOSE"), nlohmann::json("dpop+jwt"),
        nlohmann::json("id_token+jwt"), nlohmann::json(""), nlohmann::json(7),
        nlohmann::json(nullptr)}) {
    absl::StatusOr<std::string> user =
        Check(*auth, SignJwt("HS256", kSecret, Claims(), {{"typ", typ}}));
    EXPECT_THAT(user, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kUnauthenticated))
        << typ;
    EXPECT_THAT(user.status().message(), HasSubstr("typ is neither JWT"))
        << typ;
  }
}

TEST_F(JwtAuthenticatorTest, LifetimeIsBoundedByMaxLifetime) {
  auto auth = Hs256();  // the default: 24h
  nlohmann::json claims = Claims();
  claims["iat"] = kNow - 60;
  claims["exp"] = kNow - 60 + 24 * 3600;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
  claims["exp"] = kNow - 60 + 24 * 3600 + 1;
  absl::StatusOr<std::string> user =
      Check(*auth, SignJwt("HS256", kSecret, claims));
  EXPECT_THAT(user, StatusIs(absl::StatusCode::kUnauthenticated,
                             ApiCode::kUnauthenticated));
  EXPECT_THAT(std::string(user.status().message()),
              HasSubstr("lives longer than --jwt_max_lifetime allows "
                        "(exp - iat is 24h1s, over 24h)"));

  JwtOptions options;
  options.hs256_secret = kSecret;
  options.max_lifetime = absl::Hours(1);
  auto short_lived = Make(options);
  claims = Claims();  // lives 310 s
  EXPECT_THAT(Check(*short_lived, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
  claims["exp"] = kNow + 3600;
  EXPECT_THAT(Check(*short_lived, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("lives longer")));

  // Without iat nothing bounds the lifetime: refused.
  claims = Claims();
  claims.erase("iat");
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("no iat, which --jwt_max_lifetime needs")));
  claims["iat"] = "yesterday";
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("iat is not a number")));
  claims["iat"] = kNow + 31;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("issued in the future")));
  claims["iat"] = kNow + 30;  // clock skew
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)).status(),
              IsOk());
}

TEST_F(JwtAuthenticatorTest, AuthTimeIsAuthTimeElseIat) {
  auto auth = Hs256();
  Metadata metadata;
  nlohmann::json claims = Claims();
  metadata.Add("authorization", "Bearer " + SignJwt("HS256", kSecret, claims));
  absl::StatusOr<Identity> identity = auth->Identify(metadata.map());
  ASSERT_THAT(identity.status(), IsOk());
  EXPECT_EQ(identity->user_id, "alice");
  EXPECT_EQ(identity->auth_time, absl::FromUnixSeconds(kNow - 10));

  claims["auth_time"] = kNow - 7200;
  Metadata with_auth_time;
  with_auth_time.Add("authorization",
                     "Bearer " + SignJwt("HS256", kSecret, claims));
  identity = auth->Identify(with_auth_time.map());
  ASSERT_THAT(identity.status(), IsOk());
  EXPECT_EQ(identity->auth_time, absl::FromUnixSeconds(kNow - 7200));

  claims["auth_time"] = "recently";
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("auth_time is not a number")));
  claims["auth_time"] = kNow + 3600;
  EXPECT_THAT(Check(*auth, SignJwt("HS256", kSecret, claims)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("auth_time is in the future")));
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
  for (Case c : cases) {
    c.options.issuer = "https://login.example.com/";
    c.options.audience = "profile-service";
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
  flags.audience = "profile-service";
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

nlohmann::json Jwks(std::vector<nlohmann::json> keys) {
  return {{"keys", std::move(keys)}};
}

TEST_F(JwtAuthenticatorTest, JwksPicksTheKeyByKid) {
  JwtOptions options;
  options.jwks_json =
      Jwks({PublicJwk(*rsa_, "rsa-1"), PublicJwk(*ec_, "ec-1"),
            // Keys this server does not verify with are left out.
            {{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}},
            {{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AQAB"},
             {"e", "AQAB"}}})
          .dump();
  auto auth = Make(options);
  ASSERT_NE(auth, nullptr);
  absl::StatusOr<std::string> user = Check(
      *auth, SignJwt("RS256", rsa_->private_pem, Claims("bob"),
                     {{"kid", "rsa-1"}}));
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_EQ(*user, "bob");
  user = Check(*auth, SignJwt("ES256", ec_->private_pem, Claims("carol"),
                              {{"kid", "ec-1"}}));
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_EQ(*user, "carol");

  KeyPair other = MakeKeyPair(dir_->path(), "jwks_other", "EC:P-256");
  struct Case {
    const char* name;
    std::string token;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"no kid", SignJwt("RS256", rsa_->private_pem, Claims()), "no kid"},
      {"empty kid",
       SignJwt("RS256", rsa_->private_pem, Claims(), {{"kid", ""}}), "no kid"},
      {"numeric kid",
       SignJwt("RS256", rsa_->private_pem, Claims(), {{"kid", 1}}), "no kid"},
      {"unknown kid",
       SignJwt("RS256", rsa_->private_pem, Claims(), {{"kid", "rsa-2"}}),
       "kid is not in the key set"},
      {"a left-out key's kid",
       SignJwt("HS256", "secret", Claims(), {{"kid", "hmac"}}),
       "kid is not in the key set"},
      {"ES256 token naming the RSA key",
       SignJwt("ES256", ec_->private_pem, Claims(), {{"kid", "rsa-1"}}),
       "alg is not RS256"},
      {"HS256 with the RSA public key as secret",
       SignJwt("HS256", rsa_->public_pem, Claims(), {{"kid", "rsa-1"}}),
       "alg is not RS256"},
      {"signed by another key",
       SignJwt("ES256", other.private_pem, Claims(), {{"kid", "ec-1"}}),
       "signature is invalid"},
  };
  for (const Case& c : cases) {
    user = Check(*auth, c.token);
    EXPECT_THAT(user, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kUnauthenticated))
        << c.name;
    EXPECT_THAT(user.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST_F(JwtAuthenticatorTest, RefusesUnusableJwks) {
  KeyPair small_rsa = MakeKeyPair(dir_->path(), "jwks_small", "RSA:1024");
  nlohmann::json off_curve = PublicJwk(*ec_, "ec");
  off_curve["y"] = off_curve["x"];
  nlohmann::json short_x = PublicJwk(*ec_, "ec");
  short_x["x"] = testing::Base64Url("short");
  nlohmann::json no_kid = PublicJwk(*rsa_, "x");
  no_kid.erase("kid");
  nlohmann::json no_n = PublicJwk(*rsa_, "r");
  no_n.erase("n");
  nlohmann::json p384 = PublicJwk(*ec_, "p384");
  p384["crv"] = "P-384";
  struct Case {
    std::string jwks;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"not json", "is not a JWK Set"},
      {"[]", "is not a JWK Set"},
      {R"({"keys": {}})", "is not a JWK Set"},
      {R"({"keys": []})", "holds no RS256 or ES256 signing key"},
      {R"({"keys": [1]})", "key 0 is not a JSON object"},
      {Jwks({p384}).dump(), "holds no RS256 or ES256 signing key"},
      {Jwks({no_kid}).dump(), "key 0 has no kid"},
      {Jwks({PublicJwk(*rsa_, "a"), PublicJwk(*ec_, "a")}).dump(),
       "key 1 repeats kid \"a\""},
      {Jwks({no_n}).dump(), "key 0 (kid \"r\") has no base64url n and e"},
      {Jwks({PublicJwk(small_rsa, "s")}).dump(), "shorter than 2048 bits"},
      {Jwks({short_x}).dump(), "x and y of 32 bytes"},
      {Jwks({off_curve}).dump(), "is not a point on P-256"},
  };
  for (const Case& c : cases) {
    JwtOptions options;
    options.jwks_json = c.jwks;
    options.issuer = "https://login.example.com/";
    options.audience = "profile-service";
    EXPECT_THAT(NewJwtAuthenticator(options, clock_).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("--jwt_jwks_file"),
                               HasSubstr(c.message))))
        << c.jwks;
  }
  JwtFileOptions flags;
  flags.issuer = "https://login.example.com/";
  flags.audience = "profile-service";
  flags.jwks_file = dir_->Write("bad.jwks", "{}");
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--jwt_jwks_file is not a JWK Set"),
                             HasSubstr("bad.jwks"))));
  flags.secret_file = dir_->Write("secret2", kSecret);
  EXPECT_THAT(NewJwtAuthenticatorFromFiles(flags, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exactly one of")));
}

// Key rotation: the file is replaced (as a Kubernetes Secret update swaps
// a symlink), and the next check, a second later, reads it.
TEST_F(JwtAuthenticatorTest, JwksFileIsReadAgainWhenItChanges) {
  KeyPair next = MakeKeyPair(dir_->path(), "jwks_next", "EC:P-256");
  const std::string path = dir_->path() + "/jwks.json";
  auto replace = [&](const std::string& text) {
    const std::string staged = dir_->Write("jwks.staged", text);
    ASSERT_EQ(std::rename(staged.c_str(), path.c_str()), 0);
  };
  replace(Jwks({PublicJwk(*ec_, "old")}).dump());
  JwtFileOptions flags;
  flags.jwks_file = path;
  flags.issuer = "https://login.example.com/";
  flags.audience = "profile-service";
  auto made = NewJwtAuthenticatorFromFiles(flags, clock_);
  ASSERT_THAT(made.status(), IsOk());
  const Authenticator& auth = **made;
  const std::string old_token =
      SignJwt("ES256", ec_->private_pem, Claims(), {{"kid", "old"}});
  const std::string new_token =
      SignJwt("ES256", next.private_pem, Claims(), {{"kid", "new"}});
  EXPECT_THAT(Check(auth, old_token).status(), IsOk());
  EXPECT_THAT(Check(auth, new_token),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not in the key set")));

  // Both keys while clients move over.
  replace(Jwks({PublicJwk(*ec_, "old"), PublicJwk(next, "new")}).dump());
  clock_->Advance(absl::Milliseconds(500));  // not checked yet
  EXPECT_THAT(Check(auth, new_token),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not in the key set")));
  clock_->Advance(absl::Milliseconds(500));
  EXPECT_THAT(Check(auth, new_token).status(), IsOk());
  EXPECT_THAT(Check(auth, old_token).status(), IsOk());

  // A broken or missing file keeps the last good set.
  replace("{\"keys\": [");
  clock_->Advance(absl::Seconds(1));
  EXPECT_THAT(Check(auth, new_token).status(), IsOk());
  ASSERT_EQ(std::remove(path.c_str()), 0);
  clock_->Advance(absl::Seconds(1));
  EXPECT_THAT(Check(auth, old_token).status(), IsOk());

  // The old key retired.
  replace(Jwks({PublicJwk(next, "new")}).dump());
  clock_->Advance(absl::Seconds(1));
  EXPECT_THAT(Check(auth, new_token).status(), IsOk());
  EXPECT_THAT(Check(auth, old_token),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not in the key set")));
}

}  // namespace
}  // namespace profile
