#include "server/auth/authenticator.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "grpcpp/support/string_ref.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace profile
