#include "server/idempotency/idempotency_store.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::profile::testing::StatusIs;

class IdempotencyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<IdempotencyStore> NewStore(size_t max_entries = 1000) {
    InMemoryIdempotencyStoreOptions options;
    options.max_entries = max_entries;
    options.sweep_interval = absl::ZeroDuration();
    return NewInMemoryIdempotencyStore(clock_, options);
  }

  absl::Time In(absl::Duration d) const { return clock_->Now() + d; }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  const std::string key_ = Sha256("key");
  const std::string request_ = Sha256("request");
};

TEST_F(IdempotencyStoreTest, ClaimCompleteReplay) {
  auto store = NewStore();
  absl::StatusOr<IdempotencyClaim> claim =
      store->Begin(key_, request_, In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  EXPECT_EQ(claim->outcome, IdempotencyClaim::kClaimed);
  ASSERT_THAT(store->Complete(key_, claim->claim_id, "answer",
                              In(absl::Minutes(5))),
              IsOk());
  absl::StatusOr<IdempotencyClaim> again =
      store->Begin(key_, request_, In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(again->answer, "answer");
  absl::StatusOr<IdempotencyClaim> other = store->Begin(
      key_, Sha256("other"), In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->outcome, IdempotencyClaim::kOtherRequest);
}

TEST_F(IdempotencyStoreTest, RecordExpiresAtItsTime) {
  auto store = NewStore();
  auto claim = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  ASSERT_THAT(store->Complete(key_, claim->claim_id, "a", In(absl::Seconds(5))),
              IsOk());
  clock_->Advance(absl::Seconds(5));
  auto fresh = store->Begin(key_, Sha256("other"), In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(fresh, IsOk());
  EXPECT_EQ(fresh->outcome, IdempotencyClaim::kClaimed);
}

TEST_F(IdempotencyStoreTest, AbandonedKeyIsClaimedAnew) {
  auto store = NewStore();
  auto claim = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  store->Abandon(key_, claim->claim_id);
  auto again = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome, IdempotencyClaim::kClaimed);
  EXPECT_NE(again->claim_id, claim->claim_id);
  // The stale claim can neither complete nor abandon the new one.
  ASSERT_THAT(store->Complete(key_, claim->claim_id, "stale",
                              In(absl::Minutes(5))),
              IsOk());
  store->Abandon(key_, claim->claim_id);
  ASSERT_THAT(store->Complete(key_, again->claim_id, "fresh",
                              In(absl::Minutes(5))),
              IsOk());
  auto replay = store->Begin(key_, request_, In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(replay->answer, "fresh");
}

TEST_F(IdempotencyStoreTest, DuplicateWaitsForTheHolder) {
  auto store = NewStore();
  auto claim = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  absl::StatusOr<IdempotencyClaim> waited = absl::UnknownError("not run");
  std::thread duplicate([&] {
    waited = store->Begin(key_, request_, In(absl::Seconds(30)),
                          absl::Seconds(10));
  });
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_THAT(store->Complete(key_, claim->claim_id, "done",
                              In(absl::Minutes(5))),
              IsOk());
  duplicate.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_EQ(waited->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(waited->answer, "done");
}

TEST_F(IdempotencyStoreTest, DuplicateOfAHolderThatNeverFinishesIsUnavailable) {
  auto store = NewStore();
  ASSERT_THAT(store->Begin(key_, request_, In(absl::Seconds(30)),
                           absl::Seconds(1)),
              IsOk());
  const absl::Time start = absl::Now();
  EXPECT_THAT(store->Begin(key_, request_, In(absl::Seconds(30)),
                           absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kUnavailable));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  // Once its lease runs out, the key is free again.
  clock_->Advance(absl::Seconds(30));
  auto taken = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->outcome, IdempotencyClaim::kClaimed);
}

TEST_F(IdempotencyStoreTest, FullStoreKeepsNothingUntilSwept) {
  auto store = NewStore(/*max_entries=*/1);
  auto held = store->Begin(Sha256("a"), request_, In(absl::Seconds(30)),
                           absl::Seconds(1));
  ASSERT_THAT(held, IsOk());
  ASSERT_THAT(store->Complete(Sha256("a"), held->claim_id, "",
                              In(absl::Seconds(60))),
              IsOk());
  auto full = store->Begin(key_, request_, In(absl::Seconds(30)),
                           absl::Seconds(1));
  ASSERT_THAT(full, IsOk());
  EXPECT_EQ(full->outcome, IdempotencyClaim::kNotKept);
  clock_->Advance(absl::Seconds(60));
  EXPECT_EQ(store->SweepExpired(), 1u);
  auto claim = store->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  EXPECT_EQ(claim->outcome, IdempotencyClaim::kClaimed);
}

}  // namespace
}  // namespace profile
