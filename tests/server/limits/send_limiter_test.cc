#include "server/limits/send_limiter.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/api_error.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;

constexpr char kPhone[] = "+8613800138000";
constexpr char kOtherPhone[] = "+8613912345678";

const CodeKey kNewKey{kPhone, CodePurpose::kNewPhone, "u1"};
const CodeKey kOldKey{kPhone, CodePurpose::kOldPhone, "u1"};
const CodeKey kOtherPhoneKey{kOtherPhone, CodePurpose::kNewPhone, "u1"};

CodeKey PhoneKey(int i) {
  return CodeKey{absl::StrCat("+86139123456", 10 + i), CodePurpose::kNewPhone, "u1"};
}

auto IsTooFrequent() {
  return StatusIs(absl::StatusCode::kResourceExhausted, ApiCode::kTooFrequent);
}

class SendLimiterTest : public ::testing::Test {
 protected:
  std::unique_ptr<SendLimiter> NewLimiter(SendLimits limits,
                                          size_t max_entries = 1000000) {
    InMemorySendLimiterOptions options;
    options.limits = limits;
    options.max_entries = max_entries;
    options.sweep_interval = absl::ZeroDuration();
    return NewInMemorySendLimiter(clock_, options);
  }
  std::unique_ptr<SendLimiter> NewLimiter() { return NewLimiter(SendLimits()); }

  // Limits with no cooldown to speak of, to reach the hourly caps quickly.
  static SendLimits Caps(int per_phone, int per_user) {
    SendLimits limits;
    limits.resend_interval = absl::Seconds(1);
    limits.max_per_phone_per_hour = per_phone;
    limits.max_per_user_per_hour = per_user;
    return limits;
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(SendLimiterTest, DefaultLimits) {
  SendLimits limits;
  EXPECT_EQ(limits.resend_interval, absl::Seconds(60));
  EXPECT_EQ(limits.max_per_phone_per_hour, 10);
  EXPECT_EQ(limits.max_per_user_per_hour, 20);
}

TEST_F(SendLimiterTest, FirstSendIsAllowed) {
  auto limiter = NewLimiter();
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
}

TEST_F(SendLimiterTest, CooldownBlocksTheSamePhoneAndPurpose) {
  auto limiter = NewLimiter();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  absl::Status again = limiter->Acquire(kNewKey, "u1");
  EXPECT_THAT(again, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(again), 60);
  // Another user asking for the same phone waits just the same.
  absl::Status other_user = limiter->Acquire(kNewKey, "u2");
  EXPECT_THAT(other_user, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(other_user), 60);
}

TEST_F(SendLimiterTest, CooldownDoesNotBlockAnotherPurposeOrPhone) {
  auto limiter = NewLimiter();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  EXPECT_THAT(limiter->Acquire(kOldKey, "u1"), IsOk());
  EXPECT_THAT(limiter->Acquire(kOtherPhoneKey, "u1"), IsOk());
  EXPECT_THAT(limiter->Acquire(kOldKey, "u1"), IsTooFrequent());
}

TEST_F(SendLimiterTest, RetryAfterIsTheRemainingSeconds) {
  auto limiter = NewLimiter();
  const absl::Time t0 = clock_->Now();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());

  clock_->Set(t0 + absl::Seconds(10));
  EXPECT_EQ(RetryAfterOf(limiter->Acquire(kNewKey, "u1")), 50);
  // Partial seconds round up: never tell a client to come back too early.
  clock_->Set(t0 + absl::Milliseconds(10500));
  EXPECT_EQ(RetryAfterOf(limiter->Acquire(kNewKey, "u1")), 50);
  clock_->Set(t0 + absl::Seconds(59));
  EXPECT_EQ(RetryAfterOf(limiter->Acquire(kNewKey, "u1")), 1);
  clock_->Set(t0 + absl::Seconds(60) - absl::Nanoseconds(1));
  absl::Status last = limiter->Acquire(kNewKey, "u1");
  EXPECT_THAT(last, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(last), 1);
}

TEST_F(SendLimiterTest, CooldownEndsExactlyAtTheResendInterval) {
  auto limiter = NewLimiter();
  const absl::Time t0 = clock_->Now();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  clock_->Set(t0 + absl::Seconds(60) - absl::Nanoseconds(1));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsTooFrequent());
  clock_->Set(t0 + absl::Seconds(60));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  // ...and a new cooldown starts from there.
  EXPECT_EQ(RetryAfterOf(limiter->Acquire(kNewKey, "u1")), 60);
}

TEST_F(SendLimiterTest, CustomResendInterval) {
  SendLimits limits;
  limits.resend_interval = absl::Seconds(90);
  auto limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  EXPECT_EQ(RetryAfterOf(limiter->Acquire(kNewKey, "u1")), 90);
  clock_->Advance(absl::Seconds(90));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
}

TEST_F(SendLimiterTest, HourlyCapPerPhone) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/3, /*per_user=*/100));
  const absl::Time t0 = clock_->Now();
  for (int i = 0; i < 3; ++i) {
    clock_->Set(t0 + absl::Seconds(10 * i));
    // Different users, so only the phone's cap applies.
    ASSERT_THAT(limiter->Acquire(kNewKey, absl::StrCat("u", i)), IsOk()) << i;
  }
  clock_->Set(t0 + absl::Seconds(100));
  absl::Status capped = limiter->Acquire(kNewKey, "u9");
  EXPECT_THAT(capped, IsTooFrequent());
  // The window opened with the first send: it ends at t0 + 1h.
  EXPECT_EQ(RetryAfterOf(capped), 3600 - 100);
  // Both purposes count against the phone.
  EXPECT_THAT(limiter->Acquire(kOldKey, "u9"), IsTooFrequent());
  // Another phone is unaffected.
  EXPECT_THAT(limiter->Acquire(kOtherPhoneKey, "u9"), IsOk());

  clock_->Set(t0 + absl::Hours(1) - absl::Nanoseconds(1));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u9"), IsTooFrequent());
  clock_->Set(t0 + absl::Hours(1));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u9"), IsOk());
}

TEST_F(SendLimiterTest, BothPurposesShareThePhoneCap) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/2, /*per_user=*/100));
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  ASSERT_THAT(limiter->Acquire(kOldKey, "u1"), IsOk());
  clock_->Advance(absl::Seconds(5));
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsTooFrequent());
  EXPECT_THAT(limiter->Acquire(kOldKey, "u2"), IsTooFrequent());
}

TEST_F(SendLimiterTest, HourlyCapPerUser) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/100, /*per_user=*/3));
  const absl::Time t0 = clock_->Now();
  for (int i = 0; i < 3; ++i) {
    clock_->Set(t0 + absl::Minutes(i));
    ASSERT_THAT(limiter->Acquire(PhoneKey(i), "u1"), IsOk()) << i;
  }
  clock_->Set(t0 + absl::Minutes(10));
  absl::Status capped = limiter->Acquire(PhoneKey(3), "u1");
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(capped), 3600 - 600);
  // Another user is unaffected, even for the same phone.
  EXPECT_THAT(limiter->Acquire(PhoneKey(3), "u2"), IsOk());

  clock_->Set(t0 + absl::Hours(1));
  EXPECT_THAT(limiter->Acquire(PhoneKey(4), "u1"), IsOk());
}

TEST_F(SendLimiterTest, WindowResetsAfterAnHourAndCountsAfresh) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/2, /*per_user=*/100));
  const absl::Time t0 = clock_->Now();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  clock_->Set(t0 + absl::Minutes(59));
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  // The window is fixed from its first send: it ends at t0 + 1h even
  // though the second send was a minute ago.
  clock_->Set(t0 + absl::Hours(1));
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  clock_->Advance(absl::Seconds(1));
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  clock_->Advance(absl::Seconds(1));
  absl::Status capped = limiter->Acquire(kNewKey, "u1");
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(capped), 3600 - 2);
}

TEST_F(SendLimiterTest, RefusedRequestsDoNotCount) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/100, /*per_user=*/2));
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsTooFrequent());
  }
  EXPECT_THAT(limiter->Acquire(kOtherPhoneKey, "u1"), IsOk());
  EXPECT_THAT(limiter->Acquire(PhoneKey(0), "u1"), IsTooFrequent());
}

TEST_F(SendLimiterTest, SweepForgetsEndedWindows) {
  auto limiter = NewLimiter();
  const absl::Time t0 = clock_->Now();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  // Tracked: one cooldown, one phone window, one user window.
  EXPECT_EQ(limiter->SweepExpired(), 0u);
  clock_->Set(t0 + absl::Seconds(60) - absl::Nanoseconds(1));
  EXPECT_EQ(limiter->SweepExpired(), 0u);
  clock_->Set(t0 + absl::Seconds(60));
  EXPECT_EQ(limiter->SweepExpired(), 1u);  // the cooldown
  clock_->Set(t0 + absl::Hours(1) - absl::Nanoseconds(1));
  EXPECT_EQ(limiter->SweepExpired(), 0u);
  clock_->Set(t0 + absl::Hours(1));
  EXPECT_EQ(limiter->SweepExpired(), 2u);  // the phone's and the user's
  EXPECT_EQ(limiter->SweepExpired(), 0u);
  EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
}

TEST_F(SendLimiterTest, SweepKeepsRunningWindows) {
  auto limiter = NewLimiter(Caps(/*per_phone=*/2, /*per_user=*/100));
  const absl::Time t0 = clock_->Now();
  ASSERT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  ASSERT_THAT(limiter->Acquire(kOldKey, "u1"), IsOk());
  clock_->Set(t0 + absl::Minutes(30));
  EXPECT_EQ(limiter->SweepExpired(), 2u);  // both cooldowns
  // The phone's window survived the sweep, and with it the count.
  EXPECT_THAT(limiter->Acquire(kNewKey, "u2"), IsTooFrequent());
}

TEST_F(SendLimiterTest, TooManyTrackedEntriesIsTooFrequent) {
  auto limiter = NewLimiter(SendLimits(), /*max_entries=*/6);
  int allowed = 0;
  absl::Status refused;
  for (int i = 0; i < 10; ++i) {
    absl::Status status = limiter->Acquire(PhoneKey(i), absl::StrCat("u", i));
    if (status.ok()) {
      ++allowed;
    } else {
      refused = status;
    }
  }
  EXPECT_GE(allowed, 1);
  EXPECT_LT(allowed, 10);
  EXPECT_THAT(refused, IsTooFrequent());
  EXPECT_GT(RetryAfterOf(refused), 0);
  // Once the windows end and are swept there is room again.
  clock_->Advance(absl::Hours(1));
  limiter->SweepExpired();
  EXPECT_THAT(limiter->Acquire(PhoneKey(20), "u20"), IsOk());
}

TEST_F(SendLimiterTest, BackgroundSweepFreesRoom) {
  InMemorySendLimiterOptions options;
  options.max_entries = 3;
  options.sweep_interval = absl::Milliseconds(10);
  auto limiter = NewInMemorySendLimiter(clock_, options);
  ASSERT_THAT(limiter->Acquire(PhoneKey(0), "u0"), IsOk());
  EXPECT_THAT(limiter->Acquire(PhoneKey(1), "u1"), IsTooFrequent());
  clock_->Advance(absl::Hours(1));

  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  absl::Status status = limiter->Acquire(PhoneKey(1), "u1");
  while (!status.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
    status = limiter->Acquire(PhoneKey(1), "u1");
  }
  EXPECT_THAT(status, IsOk());
}

TEST_F(SendLimiterTest, ExactlyOneOfManyConcurrentAcquiresWins) {
  constexpr int kThreads = 16;
  auto limiter = NewLimiter();
  std::atomic<int> ok{0};
  std::atomic<int> too_frequent{0};
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      absl::Status status = limiter->Acquire(kNewKey, absl::StrCat("u", t));
      if (status.ok()) ++ok;
      if (ApiCodeOf(status) == ApiCode::kTooFrequent) ++too_frequent;
    });
  }
  start.Notify();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(too_frequent.load(), kThreads - 1);
}

TEST_F(SendLimiterTest, DestroyingALimiterStopsItsSweeper) {
  InMemorySendLimiterOptions options;
  options.sweep_interval = absl::Milliseconds(1);
  for (int i = 0; i < 20; ++i) {
    auto limiter = NewInMemorySendLimiter(clock_, options);
    EXPECT_THAT(limiter->Acquire(kNewKey, "u1"), IsOk());
  }
}

TEST_F(SendLimiterTest, VerificationWindowEndsAfterAnHour) {
  SendLimits limits;
  limits.max_verifications_per_user_per_hour = 2;
  auto limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->AcquireVerification("u1"), IsOk());
  clock_->Advance(absl::Minutes(30));
  ASSERT_THAT(limiter->AcquireVerification("u1"), IsOk());
  absl::Status capped = limiter->AcquireVerification("u1");
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(capped), 30 * 60);
  clock_->Advance(absl::Minutes(30));
  EXPECT_THAT(limiter->AcquireVerification("u1"), IsOk());
}

TEST_F(SendLimiterTest, WrongCodeWindowEndsAfterADay) {
  SendLimits limits;
  limits.max_code_failures_per_day = 1;
  auto limiter = NewLimiter(limits);
  ASSERT_THAT(limiter->RecordCodeFailure("u1", kPhone), IsOk());
  clock_->Advance(absl::Hours(23));
  absl::Status capped = limiter->CheckCodeFailures("u1", kPhone);
  EXPECT_THAT(capped, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(capped), 3600);
  clock_->Advance(absl::Hours(1));
  EXPECT_THAT(limiter->CheckCodeFailures("u1", kPhone), IsOk());
  EXPECT_EQ(limiter->SweepExpired(), 1u);
}

TEST_F(SendLimiterTest, RegionSuspensionLiftsAfterAnHourWithAFreshWindow) {
  SendLimits limits;
  limits.resend_interval = absl::Seconds(1);
  limits.region_breaker_min_codes = 3;
  limits.region_breaker_min_conversion = 0.5;
  auto limiter = NewLimiter(limits);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(limiter->Acquire({PhoneKey(i), "NG", ""}), IsOk()) << i;
  }
  clock_->Advance(absl::Minutes(10));
  absl::Status suspended = limiter->Acquire({PhoneKey(3), "NG", ""});
  EXPECT_THAT(suspended, IsTooFrequent());
  EXPECT_EQ(RetryAfterOf(suspended), 3600);
  clock_->Advance(absl::Minutes(59));
  EXPECT_EQ(RetryAfterOf(limiter->Acquire({PhoneKey(3), "NG", ""})), 60);
  clock_->Advance(absl::Minutes(1));
  // The codes that tripped it are forgotten: the region starts afresh.
  EXPECT_THAT(limiter->Acquire({PhoneKey(3), "NG", ""}), IsOk());
  absl::StatusOr<std::vector<RegionSuspension>> regions =
      limiter->SuspendedRegions();
  ASSERT_TRUE(regions.ok());
  EXPECT_TRUE(regions->empty());
}

TEST_F(SendLimiterTest, ManyAddressesStayWithinMaxEntries) {
  SendLimits limits;
  limits.resend_interval = absl::Seconds(1);
  limits.max_per_user_per_hour = 1000;
  auto limiter = NewLimiter(limits, /*max_entries=*/20);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    SendRequest request{PhoneKey(i), "CN", absl::StrCat("198.51.100.", i)};
    if (limiter->Acquire(request).ok()) ++allowed;
  }
  // Each send holds a cooldown, a phone, a client and a region window.
  EXPECT_LT(allowed, 10);
  EXPECT_GE(allowed, 3);
}

}  // namespace
}  // namespace profile
