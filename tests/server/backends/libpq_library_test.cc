#include "server/backends/libpq_library.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(LibpqLibraryTest, LoadsLibpqOnceWithEveryFunction) {
  absl::StatusOr<const LibpqLibrary*> pq = LoadLibpq();
  ASSERT_THAT(pq, IsOk());
  EXPECT_EQ(*LoadLibpq(), *pq);
  EXPECT_EQ(&Libpq(), *pq);
  char* error = nullptr;
  PQconninfoOption* options =
      Libpq().PQconninfoParse("postgresql://h/db", &error);
  ASSERT_NE(options, nullptr);
  Libpq().PQconninfoFree(options);
}

TEST(LibpqLibraryTest, AMissingLibraryIsAnErrorNamingItAndItsPackage) {
  absl::StatusOr<LibpqLibrary> pq = OpenLibpq("libpq.so.0-missing");
  EXPECT_THAT(pq, StatusIs(absl::StatusCode::kFailedPrecondition,
                           AllOf(HasSubstr("cannot load libpq.so.0-missing"),
                                 HasSubstr("Debian package libpq5"))));
}

TEST(LibpqLibraryTest, ALibraryWithoutTheFunctionsIsAnErrorNamingOne) {
  // A library that loads, but is not libpq.
  absl::StatusOr<LibpqLibrary> pq = OpenLibpq("libz.so.1");
  EXPECT_THAT(pq, StatusIs(absl::StatusCode::kFailedPrecondition,
                           HasSubstr("libz.so.1 has no function PQ")));
}

}  // namespace
}  // namespace profile
