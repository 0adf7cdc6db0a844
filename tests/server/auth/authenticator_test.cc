#include "server/auth/authenticator.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/support/string_ref.h"
#include "gtest/gtest.h"
#include "server/auth/auth_factory.h"
#include "server/common/api_error.h"
#include "tests/testing/call_metadata.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::HasSubstr;

using Metadata = ::profile::testing::FakeMetadata;

absl::StatusOr<std::string> AuthenticateWithUserId(const std::string& id) {
  Metadata metadata;
  metadata.Add("x-user-id", id);
  return NewTrustedHeaderAuthenticator()->Authenticate(metadata.map());
}

void ExpectUnauthenticated(const absl::StatusOr<std::string>& result) {
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                               ApiCode::kUnauthenticated));
}

TEST(TrustedHeaderAuthenticatorTest, ReturnsTheUserIdExactly) {
  for (const std::string& id :
       {std::string("u1"), std::string("user-42"),
        std::string("auth0|5f7c8ec7c33c6c004bbafe82"),
        std::string(" padded id "),  // kept as given, not trimmed
        std::string("用户"), std::string("a")}) {
    absl::StatusOr<std::string> user_id = AuthenticateWithUserId(id);
    ASSERT_THAT(user_id, IsOk()) << id;
    EXPECT_EQ(*user_id, id);
  }
}

TEST(TrustedHeaderAuthenticatorTest, IgnoresOtherMetadata) {
  Metadata metadata;
  metadata.Add("authorization", "Bearer xyz")
      .Add("x-user-id", "u1")
      .Add("x-user-id-bin", "zz")
      .Add("x-request-id", "r1");
  absl::StatusOr<std::string> user_id =
      NewTrustedHeaderAuthenticator()->Authenticate(metadata.map());
  ASSERT_THAT(user_id, IsOk());
  EXPECT_EQ(*user_id, "u1");
}

TEST(TrustedHeaderAuthenticatorTest, MissingHeaderIsUnauthenticated) {
  Metadata metadata;
  ExpectUnauthenticated(
      NewTrustedHeaderAuthenticator()->Authenticate(metadata.map()));
  metadata.Add("x-user", "u1").Add("user-id", "u1").Add("x-user-ids", "u1");
  absl::StatusOr<std::string> result =
      NewTrustedHeaderAuthenticator()->Authenticate(metadata.map());
  ExpectUnauthenticated(result);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("missing")));
}

TEST(TrustedHeaderAuthenticatorTest, HeaderKeysAreCaseSensitive) {
  // gRPC lower-cases metadata keys on the wire; anything else never arrives
  // from a real call and must not count.
  Metadata metadata;
  metadata.Add("X-User-Id", "u1");
  ExpectUnauthenticated(
      NewTrustedHeaderAuthenticator()->Authenticate(metadata.map()));
}

TEST(TrustedHeaderAuthenticatorTest, EmptyIsUnauthenticated) {
  absl::StatusOr<std::string> result = AuthenticateWithUserId("");
  ExpectUnauthenticated(result);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("empty")));
}

TEST(TrustedHeaderAuthenticatorTest, BlankIsUnauthenticated) {
  ExpectUnauthenticated(AuthenticateWithUserId(" "));
  ExpectUnauthenticated(AuthenticateWithUserId("   "));
  ExpectUnauthenticated(AuthenticateWithUserId(" \t "));
}

TEST(TrustedHeaderAuthenticatorTest, AcceptsUpTo128Bytes) {
  const std::string id_128(kMaxUserIdBytes, 'a');
  ASSERT_EQ(id_128.size(), 128u);
  absl::StatusOr<std::string> user_id = AuthenticateWithUserId(id_128);
  ASSERT_THAT(user_id, IsOk());
  EXPECT_EQ(*user_id, id_128);

  absl::StatusOr<std::string> result =
      AuthenticateWithUserId(std::string(129, 'a'));
  ExpectUnauthenticated(result);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("128")));
  ExpectUnauthenticated(AuthenticateWithUserId(std::string(100000, 'a')));
}

TEST(TrustedHeaderAuthenticatorTest, LengthIsCountedInBytes) {
  // 43 three-byte characters: 129 bytes.
  std::string id;
  for (int i = 0; i < 43; ++i) id += "用";
  ASSERT_EQ(id.size(), 129u);
  ExpectUnauthenticated(AuthenticateWithUserId(id));
  id.resize(126);  // 42 characters
  EXPECT_THAT(AuthenticateWithUserId(id), IsOk());
}

TEST(TrustedHeaderAuthenticatorTest, ControlCharactersAreUnauthenticated) {
  for (const std::string& id :
       {std::string("u1\n"), std::string("u1\r\nx-admin: 1"),
        std::string("u\t1"), std::string("u1\x1B[2J"), std::string("u1\x7F"),
        std::string("u1\0admin", 8), std::string("\xC2\x85u1"),
        std::string("u1\xE2\x80\xAE"), std::string("\xE2\x81\xA6u1")}) {
    absl::StatusOr<std::string> result = AuthenticateWithUserId(id);
    ExpectUnauthenticated(result);
  }
}

TEST(TrustedHeaderAuthenticatorTest, InvalidUtf8IsUnauthenticated) {
  for (const std::string& id :
       {std::string("u1\xFF"), std::string("\xC0\xAF"),
        std::string("\xED\xA0\x80"), std::string("u\xE4\xB8")}) {
    ExpectUnauthenticated(AuthenticateWithUserId(id));
  }
}

TEST(TrustedHeaderAuthenticatorTest, DuplicatedHeaderIsUnauthenticated) {
  Metadata same;
  same.Add("x-user-id", "u1").Add("x-user-id", "u1");
  absl::StatusOr<std::string> result =
      NewTrustedHeaderAuthenticator()->Authenticate(same.map());
  ExpectUnauthenticated(result);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("more than once")));

  Metadata different;
  different.Add("x-user-id", "u1").Add("x-user-id", "admin");
  ExpectUnauthenticated(
      NewTrustedHeaderAuthenticator()->Authenticate(different.map()));

  Metadata with_empty;
  with_empty.Add("x-user-id", "").Add("x-user-id", "u1");
  ExpectUnauthenticated(
      NewTrustedHeaderAuthenticator()->Authenticate(with_empty.map()));
}

TEST(TrustedHeaderAuthenticatorTest, OneAuthenticatorServesManyCalls) {
  std::unique_ptr<Authenticator> auth = NewTrustedHeaderAuthenticator();
  Metadata a;
  a.Add("x-user-id", "alice");
  Metadata b;
  b.Add("x-user-id", "bob");
  Metadata none;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*auth->Authenticate(a.map()), "alice");
    EXPECT_EQ(*auth->Authenticate(b.map()), "bob");
    ExpectUnauthenticated(auth->Authenticate(none.map()));
  }
}

TEST(TrustedHeaderAuthenticatorTest, XAuthTimeIsTheSignInTime) {
  std::unique_ptr<Authenticator> auth = NewTrustedHeaderAuthenticator();
  Metadata without;
  without.Add("x-user-id", "u1");
  absl::StatusOr<Identity> identity = auth->Identify(without.map());
  ASSERT_THAT(identity.status(), IsOk());
  EXPECT_EQ(identity->auth_time, absl::InfinitePast());

  Metadata with;
  with.Add("x-user-id", "u1").Add("x-auth-time", "1800000000");
  identity = auth->Identify(with.map());
  ASSERT_THAT(identity.status(), IsOk());
  EXPECT_EQ(identity->user_id, "u1");
  EXPECT_EQ(identity->auth_time, absl::FromUnixSeconds(1800000000));
}

TEST(TrustedHeaderAuthenticatorTest, MalformedXAuthTimeIsInvalidArgument) {
  std::unique_ptr<Authenticator> auth = NewTrustedHeaderAuthenticator();
  for (const std::vector<std::string>& values :
       std::vector<std::vector<std::string>>{
           {""}, {"abc"}, {"-5"}, {"+5"}, {"1.5"}, {" 12"}, {"12 "},
           {"1e9"}, {"0x10"}, {"123456789012"}, {"1800000000", "1800000000"}}) {
    Metadata metadata;
    metadata.Add("x-user-id", "u1");
    for (const std::string& value : values) metadata.Add("x-auth-time", value);
    absl::StatusOr<Identity> identity = auth->Identify(metadata.map());
    EXPECT_THAT(identity, StatusIs(absl::StatusCode::kInvalidArgument,
                                   ApiCode::kInvalidArgument))
        << values[0];
    EXPECT_THAT(identity.status().message(), HasSubstr("x-auth-time"))
        << values[0];
  }
}

TEST(CheckSignInAgeTest, OffAcceptsAnySignIn) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  EXPECT_THAT(CheckSignInAge(Identity{"u1"}, absl::ZeroDuration(), now),
              IsOk());
}

TEST(CheckSignInAgeTest, OldUnknownOrFutureSignInMustSignInAgain) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  const absl::Duration max_age = absl::Minutes(15);
  auto at = [](absl::Time t) {
    Identity identity;
    identity.user_id = "u1";
    identity.auth_time = t;
    return identity;
  };
  EXPECT_THAT(CheckSignInAge(at(now), max_age, now), IsOk());
  EXPECT_THAT(CheckSignInAge(at(now - max_age), max_age, now), IsOk());
  EXPECT_THAT(CheckSignInAge(at(now + kSignInClockSkew), max_age, now),
              IsOk());
  for (absl::Time t : {now - max_age - absl::Seconds(1), absl::InfinitePast(),
                       absl::UnixEpoch(),
                       now + kSignInClockSkew + absl::Seconds(1)}) {
    absl::Status status = CheckSignInAge(at(t), max_age, now);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                                 ApiCode::kSignInAgain));
    EXPECT_EQ(status.message(), "sign in again");
  }
}

TEST(AuthOptionsTest, MaxAuthAgeIsOffOrInRange) {
  AuthOptions options;
  EXPECT_THAT(options.Validate(), IsOk());
  options.max_auth_age = absl::Minutes(15);
  EXPECT_THAT(options.Validate(), IsOk());
  for (absl::Duration bad : {absl::Seconds(59), -absl::Seconds(1),
                             absl::Hours(24 * 30 + 1)}) {
    options.max_auth_age = bad;
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("--max_auth_age must be 0s (off) or")))
        << bad;
  }
}

TEST(AuthOptionsTest, JwtNeedsIssuerAudienceAndOneKeyFile) {
  AuthOptions options;
  options.jwt.jwks_file = "/etc/profile/jwks.json";
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--jwt_jwks_file need --auth=jwt")));
  options.mode = "jwt";
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--jwt_issuer is required")));
  options.jwt.issuer = "https://login.example.com/";
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--jwt_audience is required")));
  options.jwt.audience = "profile-service";
  EXPECT_THAT(options.Validate(), IsOk());
  options.jwt.public_key_file = "/etc/profile/jwt.pub";
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exactly one of")));
}

}  // namespace
}  // namespace profile
