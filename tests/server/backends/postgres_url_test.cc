#include "server/backends/postgres_url.h"

#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace profile {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PostgresUrlTest, KeepsTheUrlAsItIs) {
  // What production uses, and what libpq offers beyond it: the URL must
  // reach libpq unchanged.
  for (const char* text : {
           "postgresql://profile@profile-postgres:5432/profile"
           "?sslmode=verify-full&sslrootcert=/etc/ca.crt",
           "postgresql://app@db1:5432,db2:5433/profile"
           "?target_session_attrs=read-write",
           "postgres://app@[::1]:5432/profile?sslmode=require",
           "postgresql://db.local/profile",
       }) {
    absl::StatusOr<PostgresUrl> url = ParsePostgresUrl(text, nullptr);
    ASSERT_TRUE(url.ok()) << text << ": " << url.status();
    EXPECT_EQ(url->uri, text);
    EXPECT_EQ(url->database, "profile") << text;
    EXPECT_EQ(url->password, "") << text;
    EXPECT_EQ(url->Redacted(), text);
  }
}

TEST(PostgresUrlTest, PasswordComesFromTheEnvironmentOnlyWhenMissing) {
  setenv("PROFILE_TEST_PASSWORD", "from-env", 1);
  absl::StatusOr<PostgresUrl> url =
      ParsePostgresUrl("postgresql://app@h:5432/db", "PROFILE_TEST_PASSWORD");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->password, "from-env");
  // A password in the URL, either way libpq takes one, wins.
  for (const char* text : {"postgresql://app:in-url@h:5432/db",
                           "postgresql://app@h:5432/db?password=in-url"}) {
    url = ParsePostgresUrl(text, "PROFILE_TEST_PASSWORD");
    ASSERT_TRUE(url.ok()) << url.status();
    EXPECT_EQ(url->password, "") << text;
  }
  unsetenv("PROFILE_TEST_PASSWORD");
  // Neither: libpq's password file (~/.pgpass, $PGPASSFILE) decides.
  url = ParsePostgresUrl("postgresql://app@h:5432/db", "PROFILE_TEST_PASSWORD");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->password, "");
}

TEST(PostgresUrlTest, RedactedNeverShowsThePassword) {
  absl::StatusOr<PostgresUrl> url = ParsePostgresUrl(
      "postgresql://app:top%40secret@h1:5432,h2:5432/db"
      "?sslmode=verify-full&password=topsecret2&application_name=x",
      nullptr);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->Redacted(),
            "postgresql://app:***@h1:5432,h2:5432/db"
            "?sslmode=verify-full&password=***&application_name=x");
}

TEST(PostgresUrlTest, RejectsWhatLibpqRejectsWithoutEchoingThePassword) {
  for (const char* bad : {
           "mysql://u:topsecret@h:1/db",
           "host=h password=topsecret dbname=db",
           "postgresql://u:topsecret%zz@h:1/db",
           "postgresql://u:topsecret@h:1/db?no_such_parameter=1",
           "postgresql://u:topsecret@[::1:5432/db",
       }) {
    absl::StatusOr<PostgresUrl> url = ParsePostgresUrl(bad, nullptr);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(url.status().message()),
                Not(HasSubstr("topsecret")))
        << bad;
  }
}

}  // namespace
}  // namespace profile
