#include "server/backends/backend_url.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace profile {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(BackendUrlTest, ParsesEveryPart) {
  absl::StatusOr<BackendUrl> url =
      ParseBackendUrl("redis://:s3cret@10.0.0.5:6380/2", "redis", nullptr);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->host, "10.0.0.5");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->database, "2");

  url = ParseBackendUrl("postgresql://app:p%40ss@db.local:5432/profile",
                        "postgresql", nullptr);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->user, "app");
  EXPECT_EQ(url->password, "p@ss");
  EXPECT_EQ(url->host, "db.local");
  EXPECT_EQ(url->database, "profile");
}

TEST(BackendUrlTest, ParsesBracketedIpv6) {
  absl::StatusOr<BackendUrl> url =
      ParseBackendUrl("redis://[::1]:6379", "redis", nullptr);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->Redacted(), "[::1]:6379");
}

TEST(BackendUrlTest, PasswordComesFromTheEnvironmentWhenMissing) {
  setenv("PROFILE_TEST_PASSWORD", "from-env", 1);
  absl::StatusOr<BackendUrl> url = ParseBackendUrl(
      "redis://127.0.0.1:6379", "redis", "PROFILE_TEST_PASSWORD");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->password, "from-env");
  // A password in the URL wins.
  url = ParseBackendUrl("redis://:in-url@127.0.0.1:6379", "redis",
                        "PROFILE_TEST_PASSWORD");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->password, "in-url");
  unsetenv("PROFILE_TEST_PASSWORD");
}

TEST(BackendUrlTest, RedactedNeverShowsThePassword) {
  absl::StatusOr<BackendUrl> url = ParseBackendUrl(
      "postgresql://app:topsecret@h:5432/db", "postgresql", nullptr);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->Redacted(), "app:***@h:5432/db");
}

TEST(BackendUrlTest, RejectsMalformedUrlsWithoutEchoingThePassword) {
  for (const char* bad : {
           "http://h:1", "redis://h", "redis://h:0", "redis://h:65536",
           "redis://h:port", "redis://:1", "redis://[::1:6379",
           "redis://:topsecret@h", "redis://h:1/0?x=1", "redis://h :1",
           "redis://:bad%zz@h:1",
       }) {
    absl::StatusOr<BackendUrl> url = ParseBackendUrl(bad, "redis", nullptr);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(url.status().message()),
                Not(HasSubstr("topsecret")));
  }
}

}  // namespace
}  // namespace profile
