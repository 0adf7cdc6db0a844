#include "server/http/curl_library.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CurlLibraryTest, LoadsLibcurlOnceWithEveryFunction) {
  absl::StatusOr<const CurlLibrary*> curl = LoadCurl();
  ASSERT_THAT(curl, IsOk());
  EXPECT_EQ(*LoadCurl(), *curl);
  const CurlLibrary& lib = **curl;
  CURL* easy = lib.curl_easy_init();
  ASSERT_NE(easy, nullptr);
  EXPECT_EQ(lib.curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
  EXPECT_STREQ(lib.curl_easy_strerror(CURLE_OK), "No error");
  lib.curl_easy_cleanup(easy);
}

TEST(CurlLibraryTest, AMissingLibraryIsAnErrorNamingItAndItsPackage) {
  absl::StatusOr<CurlLibrary> curl = OpenCurl("libcurl.so.0-missing");
  EXPECT_THAT(curl, StatusIs(absl::StatusCode::kFailedPrecondition,
                             AllOf(HasSubstr("cannot load libcurl.so.0-missing"),
                                   HasSubstr("Debian package libcurl4"))));
}

TEST(CurlLibraryTest, ALibraryWithoutTheFunctionsIsAnErrorNamingOne) {
  // A library that loads, but is not libcurl.
  absl::StatusOr<CurlLibrary> curl = OpenCurl("libz.so.1");
  EXPECT_THAT(curl, StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr("libz.so.1 has no function curl_")));
}

}  // namespace
}  // namespace profile
