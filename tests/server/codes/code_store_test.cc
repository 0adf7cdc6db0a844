#include "server/codes/code_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
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

constexpr char kSecret[] = "code-secret";
constexpr absl::Duration kTtl = absl::Minutes(5);
constexpr int kMaxAttempts = 3;

const CodeKey kNewKey{"+8613800138000", CodePurpose::kNewPhone, "u1"};
const CodeKey kOldKey{"+8613800138000", CodePurpose::kOldPhone, "u1"};
const CodeKey kOtherPhoneKey{"+8613912345678", CodePurpose::kNewPhone, "u1"};

std::string Digest(const CodeKey& key, absl::string_view code) {
  return CodeDigest(kSecret, key, code);
}

class CodeStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<CodeStore> NewStore(size_t max_codes = 1000000) {
    InMemoryCodeStoreOptions options;
    options.max_codes = max_codes;
    options.sweep_interval = absl::ZeroDuration();
    return NewInMemoryCodeStore(clock_, options);
  }

  absl::Status Put(CodeStore& store, const CodeKey& key,
                   absl::string_view code, int max_attempts = kMaxAttempts) {
    return store.Put(key, Digest(key, code), clock_->Now() + kTtl,
                     max_attempts);
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

auto IsWrongCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode);
}
auto IsNoLiveCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired);
}

TEST(CodePurposeTest, NamesAndNumbers) {
  EXPECT_EQ(CodePurposeName(CodePurpose::kNewPhone), "new_phone");
  EXPECT_EQ(CodePurposeName(CodePurpose::kOldPhone), "old_phone");
  EXPECT_EQ(static_cast<int>(CodePurpose::kNewPhone), 1);
  EXPECT_EQ(static_cast<int>(CodePurpose::kOldPhone), 2);
}

TEST(NoLiveCodeErrorTest, IsInvalidArgument2300) {
  EXPECT_THAT(NoLiveCodeError(), IsNoLiveCode());
}

TEST(CodeDigestTest, IsAKeyedDigestBindingPhoneAndPurpose) {
  const std::string digest = CodeDigest("s", kNewKey, "123456");
  EXPECT_EQ(digest.size(), 32u);
  EXPECT_EQ(digest, CodeDigest("s", kNewKey, "123456"));
  EXPECT_NE(digest, CodeDigest("t", kNewKey, "123456"));
  EXPECT_NE(digest, CodeDigest("s", kOldKey, "123456"));
  EXPECT_NE(digest, CodeDigest("s", kOtherPhoneKey, "123456"));
  EXPECT_NE(digest, CodeDigest("s", kNewKey, "123457"));
  EXPECT_EQ(digest.find("123456"), std::string::npos);
}

TEST_F(CodeStoreTest, RightCodeChecksAndIsNotConsumedByCheck) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, ConsumeIsSingleUse) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  ASSERT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, NeverSentIsNoLiveCode) {
  auto store = NewStore();
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, WrongCodeIsWrongCodeAndTheRightOneStillWorks) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "654321")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, MaxAttemptsWrongTriesBurnTheCode) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456", /*max_attempts=*/3), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000001")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000002")), IsWrongCode());
  // The last allowed wrong attempt is still reported as wrong...
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000003")), IsWrongCode());
  // ...and burned the code: even the right code is now gone.
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000004")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, OneWrongTryLessThanTheLimitKeepsTheCode) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456", /*max_attempts=*/3), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000001")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000002")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, SingleAttemptCodeBurnsOnTheFirstWrongTry) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456", /*max_attempts=*/1), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "000001")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, AttemptsAreCountedPerKey) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456", 2), IsOk());
  ASSERT_THAT(Put(*store, kOtherPhoneKey, "123456", 2), IsOk());
  ASSERT_THAT(Put(*store, kOldKey, "123456", 2), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "1")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "2")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Check(kOtherPhoneKey, Digest(kOtherPhoneKey, "123456")),
              IsOk());
  EXPECT_THAT(store->Check(kOldKey, Digest(kOldKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, ConsumeWithAnotherDigestLeavesTheCode) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "654321")),
              IsNoLiveCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, ACodeIsBoundToItsPurpose) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  // No old-phone code was ever sent to this phone.
  EXPECT_THAT(store->Check(kOldKey, Digest(kOldKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Check(kOldKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  EXPECT_THAT(store->Consume(kOldKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());

  // With both codes live, the new-phone code does not pass as the old one:
  // the digests differ even for the same digits.
  ASSERT_THAT(Put(*store, kOldKey, "123456"), IsOk());
  EXPECT_THAT(store->Check(kOldKey, Digest(kNewKey, "123456")), IsWrongCode());
  EXPECT_THAT(store->Check(kOldKey, Digest(kOldKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")), IsOk());
  EXPECT_THAT(store->Consume(kOldKey, Digest(kOldKey, "123456")), IsOk());
}

TEST_F(CodeStoreTest, ACodeIsBoundToItsPhone) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
  EXPECT_THAT(store->Check(kOtherPhoneKey, Digest(kOtherPhoneKey, "123456")),
              IsNoLiveCode());
  ASSERT_THAT(Put(*store, kOtherPhoneKey, "999999"), IsOk());
  EXPECT_THAT(store->Check(kOtherPhoneKey, Digest(kNewKey, "123456")),
              IsWrongCode());
}

TEST_F(CodeStoreTest, ExpiryIsExactToTheTick) {
  auto store = NewStore();
  const absl::Time expiry = clock_->Now() + kTtl;
  ASSERT_THAT(store->Put(kNewKey, Digest(kNewKey, "123456"), expiry, 3),
              IsOk());
  clock_->Set(expiry - absl::Nanoseconds(1));
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  clock_->Set(expiry);
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
  // A wrong code for an expired code is "expired", not "wrong".
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "654321")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, ExpiredCodeCannotBeConsumed) {
  // "A code lives until its expiry (exclusive)" holds for Consume() too:
  // an expired code that no sweep has removed yet is not live.
  auto store = NewStore();
  const absl::Time expiry = clock_->Now() + kTtl;
  ASSERT_THAT(store->Put(kNewKey, Digest(kNewKey, "123456"), expiry, 3),
              IsOk());
  clock_->Set(expiry);
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, PutReplacesTheOlderCode) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "111111"), IsOk());
  ASSERT_THAT(Put(*store, kNewKey, "222222"), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "111111")), IsWrongCode());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "222222")), IsOk());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "111111")),
              IsNoLiveCode());
  EXPECT_THAT(store->Consume(kNewKey, Digest(kNewKey, "222222")), IsOk());
}

TEST_F(CodeStoreTest, PutResetsAttemptsAndExpiry) {
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "111111", 2), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "0")), IsWrongCode());
  clock_->Advance(kTtl - absl::Seconds(1));
  ASSERT_THAT(Put(*store, kNewKey, "222222", 2), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "0")), IsWrongCode());
  clock_->Advance(absl::Seconds(1));  // the first code's expiry
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "222222")), IsOk());
}

TEST_F(CodeStoreTest, SweepRemovesExactlyTheExpiredCodes) {
  auto store = NewStore();
  const absl::Time t0 = clock_->Now();
  for (int i = 1; i <= 5; ++i) {
    const CodeKey key{absl::StrCat("+861380013800", i), CodePurpose::kNewPhone, "u1"};
    ASSERT_THAT(store->Put(key, Digest(key, "123456"), t0 + absl::Seconds(i),
                           3),
                IsOk());
  }
  EXPECT_EQ(store->SweepExpired(), 0u);
  clock_->Set(t0 + absl::Seconds(3));
  EXPECT_EQ(store->SweepExpired(), 3u);
  EXPECT_EQ(store->SweepExpired(), 0u);
  for (int i = 4; i <= 5; ++i) {
    const CodeKey key{absl::StrCat("+861380013800", i), CodePurpose::kNewPhone, "u1"};
    EXPECT_THAT(store->Check(key, Digest(key, "123456")), IsOk()) << i;
  }
  clock_->Set(t0 + absl::Seconds(5));
  EXPECT_EQ(store->SweepExpired(), 2u);
}

TEST_F(CodeStoreTest, CapacityIsEnforced) {
  // "Put() fails beyond this many held codes": of 40 distinct keys put into
  // a store with max_codes = 3, exactly 3 are held and the rest refused.
  auto store = NewStore(/*max_codes=*/3);
  int stored = 0;
  for (int i = 0; i < 40; ++i) {
    const CodeKey key{absl::StrCat("+86138001380", 10 + i),
                      CodePurpose::kNewPhone, "u1"};
    absl::Status put = Put(*store, key, "123456");
    if (put.ok()) {
      ++stored;
    } else {
      EXPECT_EQ(put.code(), absl::StatusCode::kResourceExhausted) << put;
    }
  }
  EXPECT_EQ(stored, 3) << "the store held " << stored
                       << " codes with max_codes = 3";
}

TEST_F(CodeStoreTest, ReplacingACodeAtCapacityIsAllowed) {
  auto store = NewStore(/*max_codes=*/1);
  ASSERT_THAT(Put(*store, kNewKey, "111111"), IsOk());
  EXPECT_THAT(Put(*store, kNewKey, "222222"), IsOk());
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "222222")), IsOk());
}

TEST_F(CodeStoreTest, ConsumedAndSweptCodesFreeCapacity) {
  auto store = NewStore(/*max_codes=*/1);
  ASSERT_THAT(Put(*store, kNewKey, "111111"), IsOk());
  ASSERT_THAT(store->Consume(kNewKey, Digest(kNewKey, "111111")), IsOk());
  ASSERT_THAT(Put(*store, kOtherPhoneKey, "111111"), IsOk());
  clock_->Advance(kTtl);
  EXPECT_EQ(store->SweepExpired(), 1u);
  EXPECT_THAT(Put(*store, kOldKey, "111111"), IsOk());
}

TEST_F(CodeStoreTest, ExactlyOneConcurrentConsumeWins) {
  constexpr int kThreads = 32;
  for (int round = 0; round < 5; ++round) {
    auto store = NewStore();
    ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
    const std::string digest = Digest(kNewKey, "123456");
    std::atomic<int> ok{0};
    std::atomic<int> gone{0};
    absl::Notification start;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.WaitForNotification();
        absl::Status consumed = store->Consume(kNewKey, digest);
        if (consumed.ok()) {
          ++ok;
        } else if (ApiCodeOf(consumed) == ApiCode::kCodeExpired) {
          ++gone;
        }
      });
    }
    start.Notify();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(gone.load(), kThreads - 1);
  }
}

TEST_F(CodeStoreTest, ConcurrentWrongChecksAreCountedAtomically) {
  constexpr int kThreads = 32;
  constexpr int kAttempts = 5;
  auto store = NewStore();
  ASSERT_THAT(Put(*store, kNewKey, "123456", kAttempts), IsOk());
  std::atomic<int> wrong{0};
  std::atomic<int> gone{0};
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      absl::Status checked =
          store->Check(kNewKey, Digest(kNewKey, absl::StrCat("9", t)));
      if (ApiCodeOf(checked) == ApiCode::kWrongCode) ++wrong;
      if (ApiCodeOf(checked) == ApiCode::kCodeExpired) ++gone;
    });
  }
  start.Notify();
  for (auto& thread : threads) thread.join();
  // Exactly max_attempts guesses were judged; the rest found it burned.
  EXPECT_EQ(wrong.load(), kAttempts);
  EXPECT_EQ(gone.load(), kThreads - kAttempts);
  EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")),
              IsNoLiveCode());
}

TEST_F(CodeStoreTest, DestroyingAStoreStopsItsSweeper) {
  InMemoryCodeStoreOptions options;
  options.sweep_interval = absl::Milliseconds(1);
  for (int i = 0; i < 20; ++i) {
    auto store = NewInMemoryCodeStore(clock_, options);
    ASSERT_THAT(Put(*store, kNewKey, "123456"), IsOk());
    EXPECT_THAT(store->Check(kNewKey, Digest(kNewKey, "123456")), IsOk());
  }
}

}  // namespace
}  // namespace profile
