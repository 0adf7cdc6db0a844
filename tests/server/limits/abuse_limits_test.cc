// The limits against abuse, on both SendLimiter implementations: in memory
// and in a real redis-server started by the test (what every replica
// shares). Windows are an hour (a day for wrong codes) of real time here;
// their ends are covered with a fake clock in send_limiter_test.cc.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backends/backend_url.h"
#include "server/backends/redis_client.h"
#include "server/backends/redis_stores.h"
#include "server/common/api_error.h"
#include "server/common/clock.h"
#include "server/limits/send_limiter.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::RedisServer;
using ::profile::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

enum class Kind { kInMemory, kRedis };

auto IsTooFrequent() {
  return StatusIs(absl::StatusCode::kResourceExhausted, ApiCode::kTooFrequent);
}

// A code for a fresh phone and user each time, so that only the limit under
// test can refuse it.
SendRequest Fresh(int i, std::string region = "CN", std::string client = "") {
  return SendRequest{CodeKey{absl::StrCat("+86139000000", 10 + i),
                             CodePurpose::kNewPhone, absl::StrCat("u", i)},
                     std::move(region), std::move(client)};
}

// Limits that only the one under test can reach.
SendLimits Loose() {
  SendLimits limits;
  limits.max_per_ip_per_hour = 1000;
  limits.region_breaker_min_codes = 0;
  return limits;
}

class AbuseLimitsTest : public ::testing::TestWithParam<Kind> {
 protected:
  static void SetUpTestSuite() {
    server_ = new RedisServer();
    ASSERT_TRUE(server_->Start()) << server_->error();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  std::unique_ptr<SendLimiter> NewLimiter(const SendLimits& limits) {
    if (GetParam() == Kind::kInMemory) {
      InMemorySendLimiterOptions options;
      options.limits = limits;
      options.sweep_interval = absl::ZeroDuration();
      return NewInMemorySendLimiter(SystemClock(), options);
    }
    if (redis_ == nullptr) {
      absl::StatusOr<BackendUrl> url =
          ParseBackendUrl(server_->url(), "redis", "REDIS_PASSWORD");
      EXPECT_TRUE(url.ok()) << url.status();
      redis_ = RedisClient::Create({*url});
    }
    return NewRedisSendLimiter(redis_.get(), absl::StrCat("t", ++tests_, ":"),
                               limits);
  }

  static RedisServer* server_;
  static int tests_;
  std::unique_ptr<RedisClient> redis_;
};

RedisServer* AbuseLimitsTest::server_ = nullptr;
int AbuseLimitsTest::tests_ = 0;

TEST_P(AbuseLimitsTest, ClientAddressCap) {
  SendLimits limits = Loose();
  limits.max_per_ip_per_hour = 2;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->Acquire(Fresh(1, "CN", "203.0.113.7")), IsOk());
  ASSERT_THAT(limiter->Acquire(Fresh(2, "CN", "203.0.113.7")), IsOk());
  absl::Status capped = limiter->Acquire(Fresh(3, "CN", "203.0.113.7"));
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(capped), 3500);
  EXPECT_LE(RetryAfterOf(capped), 3600);
  EXPECT_THAT(limiter->Acquire(Fresh(3, "CN", "203.0.113.8")), IsOk());
  // No address, no cap: the gateway did not say.
  EXPECT_THAT(limiter->Acquire(Fresh(4, "CN", "")), IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(5, "CN", "")), IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(6, "CN", "")), IsOk());
}

TEST_P(AbuseLimitsTest, RegionAndServiceBudgets) {
  SendLimits limits = Loose();
  limits.max_per_region_per_hour = 2;
  limits.max_per_hour = 3;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->Acquire(Fresh(1, "CN")), IsOk());
  ASSERT_THAT(limiter->Acquire(Fresh(2, "CN")), IsOk());
  absl::Status capped = limiter->Acquire(Fresh(3, "CN"));
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(capped), 3500);
  // Another region has its own budget, but the service's is shared.
  ASSERT_THAT(limiter->Acquire(Fresh(4, "GB")), IsOk());
  capped = limiter->Acquire(Fresh(5, "US"));
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(capped), 3500);
}

TEST_P(AbuseLimitsTest, RefusedSendsCountNowhere) {
  SendLimits limits = Loose();
  limits.max_per_ip_per_hour = 2;
  limits.max_per_region_per_hour = 1;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->Acquire(Fresh(1, "CN", "198.51.100.1")), IsOk());
  // Refused by the region budget: the address's count is untouched...
  EXPECT_THAT(limiter->Acquire(Fresh(2, "CN", "198.51.100.1")),
              IsTooFrequent());
  EXPECT_THAT(limiter->Acquire(Fresh(3, "CN", "198.51.100.1")),
              IsTooFrequent());
  // ...so one more code may still come from it.
  EXPECT_THAT(limiter->Acquire(Fresh(4, "GB", "198.51.100.1")), IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(5, "US", "198.51.100.1")),
              IsTooFrequent());
}

TEST_P(AbuseLimitsTest, VerificationsPerUser) {
  SendLimits limits = Loose();
  limits.max_verifications_per_user_per_hour = 3;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(limiter->AcquireVerification("u1"), IsOk()) << i;
  }
  absl::Status capped = limiter->AcquireVerification("u1");
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(capped), 3500);
  EXPECT_LE(RetryAfterOf(capped), 3600);
  EXPECT_THAT(limiter->AcquireVerification("u2"), IsOk());
}

TEST_P(AbuseLimitsTest, WrongCodesPerUserAndPhoneForADay) {
  SendLimits limits = Loose();
  limits.max_code_failures_per_day = 2;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  const std::string phone = "+8613900000010";
  EXPECT_THAT(limiter->CheckCodeFailures("u1", phone), IsOk());
  ASSERT_THAT(limiter->RecordCodeFailure("u1", phone), IsOk());
  EXPECT_THAT(limiter->CheckCodeFailures("u1", phone), IsOk());
  ASSERT_THAT(limiter->RecordCodeFailure("u1", phone), IsOk());
  absl::Status capped = limiter->CheckCodeFailures("u1", phone);
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(capped), 24 * 3600 - 100);
  EXPECT_LE(RetryAfterOf(capped), 24 * 3600);
  // Per user and per phone: nobody else is locked out.
  EXPECT_THAT(limiter->CheckCodeFailures("u2", phone), IsOk());
  EXPECT_THAT(limiter->CheckCodeFailures("u1", "+8613900000011"), IsOk());
}

TEST_P(AbuseLimitsTest, AVerificationReadsTheWrongCodeCapsOfItsPhones) {
  SendLimits limits = Loose();
  limits.max_verifications_per_user_per_hour = 2;
  limits.max_code_failures_per_day = 1;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  const std::string capped_phone = "+8613900000020";
  const std::string free_phone = "+8613900000021";
  ASSERT_THAT(limiter->RecordCodeFailure("u1", capped_phone), IsOk());
  absl::StatusOr<FailureCaps> caps =
      limiter->AcquireVerification("u1", {free_phone, capped_phone});
  ASSERT_THAT(caps, IsOk());
  ASSERT_EQ(caps->size(), 2u);
  EXPECT_THAT((*caps)[0], IsOk());
  EXPECT_THAT((*caps)[1], IsTooFrequent());
  EXPECT_GT(RetryAfterOf((*caps)[1]), 24 * 3600 - 100);
  EXPECT_LE(RetryAfterOf((*caps)[1]), 24 * 3600);
  // As CheckCodeFailures() answers: per user and phone.
  EXPECT_THAT(limiter->CheckCodeFailures("u1", capped_phone), IsTooFrequent());
  caps = limiter->AcquireVerification("u2", {capped_phone});
  ASSERT_THAT(caps, IsOk());
  EXPECT_THAT((*caps)[0], IsOk());
  // The verification counted, the reads did not; a refused verification
  // reads nothing.
  EXPECT_THAT(limiter->AcquireVerification("u1", {free_phone}).status(),
              IsOk());
  EXPECT_THAT(limiter->AcquireVerification("u1", {free_phone}).status(),
              IsTooFrequent());
}

TEST_P(AbuseLimitsTest, OneCallRecordsTheVerifiedCodesOfSeveralRegions) {
  SendLimits limits = Loose();
  limits.region_breaker_min_codes = 4;
  limits.region_breaker_min_conversion = 0.5;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(limiter->Acquire(Fresh(i, "NG")), IsOk()) << i;
    ASSERT_THAT(limiter->Acquire(Fresh(10 + i, "GB")), IsOk()) << i;
  }
  // 2 of 4 in NG (listed twice), 1 of 4 in GB; "" counts nothing.
  ASSERT_THAT(
      limiter->RecordVerified(std::vector<std::string>{"NG", "GB", "", "NG"}),
      IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(20, "NG")), IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(21, "GB")), IsTooFrequent());
}

TEST_P(AbuseLimitsTest, RegionBreakerSuspendsARegionThatDoesNotConvert) {
  SendLimits limits = Loose();
  limits.region_breaker_min_codes = 4;
  limits.region_breaker_min_conversion = 0.5;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(limiter->Acquire(Fresh(i, "NG")), IsOk()) << i;
  }
  ASSERT_THAT(limiter->RecordVerified("NG"), IsOk());  // 1 of 4
  absl::StatusOr<std::vector<RegionSuspension>> suspended =
      limiter->SuspendedRegions();
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  EXPECT_THAT(*suspended, IsEmpty());

  absl::Status refused = limiter->Acquire(Fresh(5, "NG"));
  EXPECT_THAT(refused, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(refused), 3590);
  EXPECT_LE(RetryAfterOf(refused), 3600);
  // It stays suspended, whatever is verified meanwhile.
  ASSERT_THAT(limiter->RecordVerified("NG"), IsOk());
  EXPECT_THAT(limiter->Acquire(Fresh(6, "NG")), IsTooFrequent());
  suspended = limiter->SuspendedRegions();
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  EXPECT_THAT(*suspended,
              ElementsAre(Field(&RegionSuspension::region, "NG")));
  EXPECT_GT(suspended->front().until, absl::Now() + absl::Minutes(59));
  // Other regions are not affected.
  EXPECT_THAT(limiter->Acquire(Fresh(7, "GB")), IsOk());
}

TEST_P(AbuseLimitsTest, RegionBreakerSparesARegionThatConverts) {
  SendLimits limits = Loose();
  limits.region_breaker_min_codes = 4;
  limits.region_breaker_min_conversion = 0.5;
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(limiter->Acquire(Fresh(i, "CN")), IsOk()) << i;
  }
  ASSERT_THAT(limiter->RecordVerified("CN"), IsOk());
  ASSERT_THAT(limiter->RecordVerified("CN"), IsOk());  // 2 of 4
  for (int i = 4; i < 10; ++i) {
    ASSERT_THAT(limiter->Acquire(Fresh(i, "CN")), IsOk()) << i;
    ASSERT_THAT(limiter->RecordVerified("CN"), IsOk());
  }
  absl::StatusOr<std::vector<RegionSuspension>> suspended =
      limiter->SuspendedRegions();
  ASSERT_TRUE(suspended.ok()) << suspended.status();
  EXPECT_THAT(*suspended, IsEmpty());
}

TEST_P(AbuseLimitsTest, RegionBreakerOffAtZero) {
  SendLimits limits = Loose();
  ASSERT_EQ(limits.region_breaker_min_codes, 0);
  std::unique_ptr<SendLimiter> limiter = NewLimiter(limits);
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(limiter->Acquire(Fresh(i, "NG")), IsOk()) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Limiters, AbuseLimitsTest,
                         ::testing::Values(Kind::kInMemory, Kind::kRedis),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kInMemory
                                      ? "InMemory"
                                      : "Redis";
                         });

TEST(ClientAddressKeyTest, IPv4IsItselfAndIPv6CountsByItsSlash64) {
  EXPECT_EQ(ClientAddressKey("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(ClientAddressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientAddressKey("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientAddressKey("::ffff:203.0.113.7"), "203.0.113.7");
}

TEST(SendLimitsTest, NewDefaultsAndBounds) {
  SendLimits limits;
  EXPECT_EQ(limits.max_per_ip_per_hour, 30);
  EXPECT_EQ(limits.max_per_region_per_hour, 0);
  EXPECT_EQ(limits.max_per_hour, 0);
  EXPECT_EQ(limits.max_verifications_per_user_per_hour, 30);
  EXPECT_EQ(limits.max_code_failures_per_day, 20);
  EXPECT_EQ(limits.region_breaker_min_codes, 100);
  EXPECT_DOUBLE_EQ(limits.region_breaker_min_conversion, 0.1);
  EXPECT_THAT(limits.Validate(), IsOk());

  struct Case {
    void (*set)(SendLimits&);
    const char* flag;
  };
  for (const Case& c : std::vector<Case>{
           {[](SendLimits& l) { l.max_per_ip_per_hour = 0; },
            "--max_codes_per_ip_per_hour"},
           {[](SendLimits& l) { l.max_per_region_per_hour = -1; },
            "--max_codes_per_region_per_hour"},
           {[](SendLimits& l) { l.max_per_hour = 1000001; },
            "--max_codes_per_hour"},
           {[](SendLimits& l) { l.max_verifications_per_user_per_hour = 0; },
            "--max_verifications_per_user_per_hour"},
           {[](SendLimits& l) { l.max_code_failures_per_day = 0; },
            "--max_code_failures_per_day"},
           {[](SendLimits& l) { l.region_breaker_min_codes = -1; },
            "--region_breaker_min_codes"},
           {[](SendLimits& l) { l.region_breaker_min_conversion = 1.5; },
            "--region_breaker_min_conversion"},
           {[](SendLimits& l) { l.region_breaker_min_conversion = -0.1; },
            "--region_breaker_min_conversion"},
       }) {
    SendLimits bad;
    c.set(bad);
    EXPECT_THAT(bad.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::HasSubstr(c.flag)));
  }
}

}  // namespace
}  // namespace profile
