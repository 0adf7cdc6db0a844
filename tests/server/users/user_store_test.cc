#include "server/users/user_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
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

constexpr char kPhoneA[] = "+8613800138000";
constexpr char kPhoneB[] = "+8613912345678";
constexpr char kPhoneC[] = "+14155550100";

std::string PhoneOf(UserStore& store, absl::string_view user) {
  absl::StatusOr<std::string> phone = store.GetPhone(user);
  EXPECT_THAT(phone, IsOk());
  return phone.ok() ? *phone : "<error>";
}

std::string OwnerOf(UserStore& store, absl::string_view phone) {
  absl::StatusOr<std::string> owner = store.FindOwner(phone);
  EXPECT_THAT(owner, IsOk());
  return owner.ok() ? *owner : "<error>";
}

auto IsMismatch() {
  return StatusIs(absl::StatusCode::kFailedPrecondition,
                  ApiCode::kOldPhoneMismatch);
}
auto IsTaken() {
  return StatusIs(absl::StatusCode::kAlreadyExists, ApiCode::kPhoneTaken);
}

TEST(UserStoreTest, UnknownUserHasNoPhone) {
  auto store = NewInMemoryUserStore();
  EXPECT_EQ(PhoneOf(*store, "nobody"), "");
  EXPECT_EQ(PhoneOf(*store, ""), "");
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "");
}

auto BindingsAre(absl::string_view user_phone, absl::string_view phone_owner) {
  return ::testing::AllOf(
      ::testing::Field("user_phone", &PhoneBindings::user_phone, user_phone),
      ::testing::Field("phone_owner", &PhoneBindings::phone_owner,
                       phone_owner));
}

TEST(UserStoreTest, LookupReadsTheUsersPhoneAndThePhonesOwner) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store->ChangePhone("u2", "", kPhoneB), IsOk());
  absl::StatusOr<PhoneBindings> bindings = store->Lookup("u1", kPhoneB);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_THAT(*bindings, BindingsAre(kPhoneA, "u2"));
  bindings = store->Lookup("u1", kPhoneA);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_THAT(*bindings, BindingsAre(kPhoneA, "u1"));
  bindings = store->Lookup("nobody", kPhoneC);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_THAT(*bindings, BindingsAre("", ""));
}

// A store that only answers the two single reads, to check the default
// Lookup() built on them, errors included.
class TwoReadStore : public UserStore {
 public:
  absl::StatusOr<std::string> GetPhone(absl::string_view user_id) override {
    if (user_id == "broken") return ApiError(ApiCode::kUnavailable, "down");
    return user_id == "u1" ? kPhoneA : "";
  }
  absl::StatusOr<std::string> FindOwner(absl::string_view phone) override {
    if (phone == kPhoneC) return ApiError(ApiCode::kUnavailable, "down");
    return phone == kPhoneA ? "u1" : "";
  }
  absl::Status ChangePhone(absl::string_view, absl::string_view,
                           absl::string_view, const ChangeRecord&) override {
    return absl::UnimplementedError("read only");
  }
  absl::StatusOr<RevertOutcome> Revert(const RevertRequest&) override {
    return absl::UnimplementedError("read only");
  }
  absl::Status Unlock(absl::string_view, const ChangeRecord&) override {
    return absl::UnimplementedError("read only");
  }
  absl::StatusOr<std::vector<ChangeEntry>> ListChanges(absl::string_view, int,
                                                       int64_t) override {
    return absl::UnimplementedError("read only");
  }
  NoticeQueue* notices() override { return nullptr; }
};

TEST(UserStoreTest, DefaultLookupCombinesTheTwoReads) {
  TwoReadStore store;
  absl::StatusOr<PhoneBindings> bindings = store.Lookup("u1", kPhoneA);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_THAT(*bindings, BindingsAre(kPhoneA, "u1"));
  bindings = store.Lookup("u2", kPhoneB);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_THAT(*bindings, BindingsAre("", ""));
  EXPECT_THAT(store.Lookup("broken", kPhoneA),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kUnavailable));
  EXPECT_THAT(store.Lookup("u1", kPhoneC),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kUnavailable));
}

TEST(UserStoreTest, FirstChangeCreatesTheProfile) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  EXPECT_EQ(PhoneOf(*store, "u1"), kPhoneA);
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "u1");
  EXPECT_EQ(PhoneOf(*store, "u2"), "");
}

TEST(UserStoreTest, ChangeMovesThePhoneAndFreesTheOldOne) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store->ChangePhone("u1", kPhoneA, kPhoneB), IsOk());
  EXPECT_EQ(PhoneOf(*store, "u1"), kPhoneB);
  EXPECT_EQ(OwnerOf(*store, kPhoneB), "u1");
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "");
  // The freed phone can be claimed by someone else.
  ASSERT_THAT(store->ChangePhone("u2", "", kPhoneA), IsOk());
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "u2");
  EXPECT_EQ(PhoneOf(*store, "u1"), kPhoneB);
}

TEST(UserStoreTest, CompareAndSetMismatchIsFailedPrecondition) {
  auto store = NewInMemoryUserStore();
  // The account has no phone, but the caller expected one.
  EXPECT_THAT(store->ChangePhone("u1", kPhoneA, kPhoneB), IsMismatch());
  EXPECT_EQ(PhoneOf(*store, "u1"), "");
  EXPECT_EQ(OwnerOf(*store, kPhoneB), "");

  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  // The account has a phone, but the caller expected none.
  EXPECT_THAT(store->ChangePhone("u1", "", kPhoneB), IsMismatch());
  // The account has another phone than expected.
  EXPECT_THAT(store->ChangePhone("u1", kPhoneC, kPhoneB), IsMismatch());
  EXPECT_EQ(PhoneOf(*store, "u1"), kPhoneA);
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "u1");
  EXPECT_EQ(OwnerOf(*store, kPhoneB), "");
}

TEST(UserStoreTest, PhoneOfAnotherAccountIsAlreadyExists) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  EXPECT_THAT(store->ChangePhone("u2", "", kPhoneA), IsTaken());
  ASSERT_THAT(store->ChangePhone("u2", "", kPhoneB), IsOk());
  EXPECT_THAT(store->ChangePhone("u2", kPhoneB, kPhoneA), IsTaken());
  // Nothing moved.
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "u1");
  EXPECT_EQ(OwnerOf(*store, kPhoneB), "u2");
  EXPECT_EQ(PhoneOf(*store, "u1"), kPhoneA);
  EXPECT_EQ(PhoneOf(*store, "u2"), kPhoneB);
}

TEST(UserStoreTest, MismatchIsCheckedBeforeOwnership) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  // Both wrong: the stale expectation is reported.
  EXPECT_THAT(store->ChangePhone("u2", kPhoneC, kPhoneA), IsMismatch());
}

TEST(UserStoreTest, UsersAreIndependent) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store->ChangePhone("u2", "", kPhoneB), IsOk());
  ASSERT_THAT(store->ChangePhone("u1", kPhoneA, kPhoneC), IsOk());
  EXPECT_EQ(PhoneOf(*store, "u2"), kPhoneB);
  EXPECT_EQ(OwnerOf(*store, kPhoneB), "u2");
}

TEST(UserStoreTest, UserIdsAreExact) {
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  EXPECT_EQ(PhoneOf(*store, "U1"), "");
  EXPECT_EQ(PhoneOf(*store, "u1 "), "");
  EXPECT_THAT(store->ChangePhone("U1", "", kPhoneA), IsTaken());
}

TEST(UserStoreTest, TwoUsersRacingForOnePhoneHaveExactlyOneWinner) {
  constexpr int kThreadsPerUser = 8;
  for (int round = 0; round < 20; ++round) {
    auto store = NewInMemoryUserStore();
    std::atomic<int> ok{0};
    std::atomic<int> taken{0};
    std::atomic<int> mismatch{0};
    std::atomic<int> other{0};
    absl::Notification start;
    std::vector<std::thread> threads;
    for (const char* user : {"alice", "bob"}) {
      for (int t = 0; t < kThreadsPerUser; ++t) {
        threads.emplace_back([&, user] {
          start.WaitForNotification();
          absl::Status status = store->ChangePhone(user, "", kPhoneA);
          if (status.ok()) {
            ++ok;
          } else if (ApiCodeOf(status) == ApiCode::kPhoneTaken) {
            ++taken;
          } else if (ApiCodeOf(status) == ApiCode::kOldPhoneMismatch) {
            ++mismatch;  // the winner's own other threads: "" is stale
          } else {
            ++other;
          }
        });
      }
    }
    start.Notify();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(other.load(), 0);
    // The loser's threads all see the phone taken; the winner's other
    // threads see their expectation "" is stale.
    EXPECT_EQ(taken.load(), kThreadsPerUser);
    EXPECT_EQ(mismatch.load(), kThreadsPerUser - 1);
    const std::string owner = OwnerOf(*store, kPhoneA);
    ASSERT_TRUE(owner == "alice" || owner == "bob") << owner;
    EXPECT_EQ(PhoneOf(*store, owner), kPhoneA);
    EXPECT_EQ(PhoneOf(*store, owner == "alice" ? "bob" : "alice"), "");
  }
}

TEST(UserStoreTest, ConcurrentChangesOfOneAccountAreSerialized) {
  // Many threads each try to move u1 from A to their own phone: exactly one
  // compare-and-set succeeds.
  constexpr int kThreads = 16;
  auto store = NewInMemoryUserStore();
  ASSERT_THAT(store->ChangePhone("u1", "", kPhoneA), IsOk());
  std::atomic<int> ok{0};
  std::atomic<int> mismatch{0};
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      absl::Status status = store->ChangePhone(
          "u1", kPhoneA, absl::StrCat("+86139000000", 10 + t));
      if (status.ok()) ++ok;
      if (ApiCodeOf(status) == ApiCode::kOldPhoneMismatch) ++mismatch;
    });
  }
  start.Notify();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(mismatch.load(), kThreads - 1);
  EXPECT_EQ(OwnerOf(*store, kPhoneA), "");
  const std::string phone = PhoneOf(*store, "u1");
  EXPECT_EQ(OwnerOf(*store, phone), "u1");
}

TEST(UserStoreTest, ManyUsersSwappingPhonesKeepTheIndexConsistent) {
  // Users move between a pool of phones concurrently; afterwards every
  // user's phone is owned by exactly that user and no phone has two owners.
  constexpr int kUsers = 8;
  constexpr int kPhones = 12;
  constexpr int kIterations = 500;
  auto store = NewInMemoryUserStore();
  auto phone = [](int i) { return absl::StrCat("+86139000000", 10 + i); };
  std::vector<std::thread> threads;
  for (int u = 0; u < kUsers; ++u) {
    threads.emplace_back([&, u] {
      const std::string user = absl::StrCat("u", u);
      for (int i = 0; i < kIterations; ++i) {
        absl::StatusOr<std::string> current = store->GetPhone(user);
        if (!current.ok()) continue;
        (void)store->ChangePhone(user, *current, phone((u + i) % kPhones));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int owned = 0;
  for (int p = 0; p < kPhones; ++p) {
    const std::string owner = OwnerOf(*store, phone(p));
    if (owner.empty()) continue;
    ++owned;
    EXPECT_EQ(PhoneOf(*store, owner), phone(p));
  }
  int with_phone = 0;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = absl::StrCat("u", u);
    const std::string p = PhoneOf(*store, user);
    if (p.empty()) continue;
    ++with_phone;
    EXPECT_EQ(OwnerOf(*store, p), user);
  }
  EXPECT_EQ(owned, with_phone);
}

// Revert tokens and notices: the store keeps the tokens' digests; any
// string stands for one here.

constexpr absl::Duration kWindow = absl::Hours(1);
constexpr absl::Duration kLock = absl::Hours(24);

// What a change that replaces a phone commits: its revert token's digest
// and, if `notify`, the kPhoneChanged notice to `old_phone`.
ChangeRecord Revertible(absl::string_view token_hash,
                        absl::string_view old_phone = "",
                        absl::string_view new_phone = "") {
  ChangeRecord record;
  record.request_id = "req-change";
  record.revert_token_hash = std::string(token_hash);
  record.revert_window = kWindow;
  if (!old_phone.empty()) {
    record.notify = true;
    record.notice.type = NoticeType::kPhoneChanged;
    record.notice.user_id = "u1";
    record.notice.phone_e164 = std::string(old_phone);
    record.notice.new_phone_e164 = std::string(new_phone);
    record.notice.sealed_revert_token = "sealed";
    record.notice.request_id = "req-change";
  }
  return record;
}

RevertRequest RevertOf(absl::string_view token_hash) {
  RevertRequest request;
  request.token_hash = std::string(token_hash);
  request.lock_for = kLock;
  request.request_id = "req-revert";
  return request;
}

auto IsRevertNotFound() {
  return StatusIs(absl::StatusCode::kNotFound, ApiCode::kRevertTokenNotFound);
}
auto IsLocked() {
  return StatusIs(absl::StatusCode::kFailedPrecondition,
                  ApiCode::kChangesLocked);
}

std::vector<Notice> LeaseAll(UserStore& store) {
  absl::StatusOr<std::vector<Notice>> due =
      store.notices()->Lease(16, absl::Seconds(60));
  EXPECT_THAT(due, IsOk());
  return due.ok() ? *due : std::vector<Notice>();
}

class UserStoreRevertTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<UserStore> store_ = NewInMemoryUserStore(clock_);
};

TEST_F(UserStoreRevertTest, RestoresTheOldPhoneWhateverThePhoneIsNow) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneB, kPhoneC), IsOk());
  absl::StatusOr<RevertOutcome> reverted = store_->Revert(RevertOf("t1"));
  ASSERT_THAT(reverted, IsOk());
  EXPECT_EQ(reverted->user_id, "u1");
  EXPECT_EQ(reverted->restored_phone, kPhoneA);
  EXPECT_EQ(reverted->removed_phone, kPhoneC);
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
  EXPECT_EQ(OwnerOf(*store_, kPhoneA), "u1");
  EXPECT_EQ(OwnerOf(*store_, kPhoneB), "");
  EXPECT_EQ(OwnerOf(*store_, kPhoneC), "");
}

TEST_F(UserStoreRevertTest, TokenIsSingleUse) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->Revert(RevertOf("t1")), IsOk());
  EXPECT_THAT(store_->Revert(RevertOf("t1")), IsRevertNotFound());
  EXPECT_THAT(store_->Revert(RevertOf("never-issued")), IsRevertNotFound());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
}

TEST_F(UserStoreRevertTest, TokenExpiresAfterItsWindow) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->ChangePhone("u2", "", kPhoneC), IsOk());
  ASSERT_THAT(store_->ChangePhone("u2", kPhoneC, kPhoneA, Revertible("t2")),
              IsOk());
  // t2 was issued at the same time: it still works just before the end.
  clock_->Advance(kWindow - absl::Nanoseconds(1));
  EXPECT_THAT(store_->Revert(RevertOf("t2")), IsOk());
  clock_->Advance(absl::Nanoseconds(1));
  EXPECT_THAT(store_->Revert(RevertOf("t1")), IsRevertNotFound());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneB);
}

TEST_F(UserStoreRevertTest, RevertOfAnEarlierChangeVoidsTheLaterTokens) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneB, kPhoneC, Revertible("t2")),
              IsOk());
  absl::StatusOr<RevertOutcome> reverted = store_->Revert(RevertOf("t1"));
  ASSERT_THAT(reverted, IsOk());
  EXPECT_EQ(reverted->restored_phone, kPhoneA);
  EXPECT_EQ(reverted->removed_phone, kPhoneC);
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
  EXPECT_THAT(store_->Revert(RevertOf("t2")), IsRevertNotFound());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
}

TEST_F(UserStoreRevertTest, OldPhoneTakenIsAlreadyExistsAndTheTokenStays) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->ChangePhone("u2", "", kPhoneA), IsOk());
  EXPECT_THAT(store_->Revert(RevertOf("t1")), IsTaken());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneB);
  EXPECT_EQ(OwnerOf(*store_, kPhoneA), "u2");
  // Not locked by the failed revert.
  absl::StatusOr<PhoneBindings> bindings = store_->Lookup("u1", kPhoneA);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_EQ(bindings->changes_locked_until, absl::InfinitePast());

  ASSERT_THAT(store_->ChangePhone("u2", kPhoneA, kPhoneC), IsOk());
  absl::StatusOr<RevertOutcome> reverted = store_->Revert(RevertOf("t1"));
  ASSERT_THAT(reverted, IsOk());
  EXPECT_EQ(reverted->removed_phone, kPhoneB);
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
  EXPECT_EQ(PhoneOf(*store_, "u2"), kPhoneC);
}

TEST_F(UserStoreRevertTest, LocksChangesOfTheAccountUntilTheLockEnds) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  absl::StatusOr<PhoneBindings> bindings = store_->Lookup("u1", kPhoneC);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_EQ(bindings->changes_locked_until, absl::InfinitePast());

  const absl::Time reverted_at = clock_->Now();
  ASSERT_THAT(store_->Revert(RevertOf("t1")), IsOk());
  bindings = store_->Lookup("u1", kPhoneC);
  ASSERT_THAT(bindings, IsOk());
  EXPECT_EQ(bindings->changes_locked_until, reverted_at + kLock);
  EXPECT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneC), IsLocked());
  // Only that account.
  EXPECT_THAT(store_->ChangePhone("u2", "", kPhoneB), IsOk());

  clock_->Set(reverted_at + kLock - absl::Nanoseconds(1));
  EXPECT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneC), IsLocked());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneA);
  clock_->Set(reverted_at + kLock);
  EXPECT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneC), IsOk());
  EXPECT_EQ(PhoneOf(*store_, "u1"), kPhoneC);
}

TEST_F(UserStoreRevertTest, ChangeCommitsItsNoticeOnlyWhenAsked) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  EXPECT_THAT(LeaseAll(*store_), ::testing::IsEmpty());
  const absl::Time changed_at = clock_->Now();
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneB, kPhoneC,
                                  Revertible("t2", kPhoneB, kPhoneC)),
              IsOk());
  const std::vector<Notice> due = LeaseAll(*store_);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_GT(due[0].id, 0);
  EXPECT_EQ(due[0].type, NoticeType::kPhoneChanged);
  EXPECT_EQ(due[0].user_id, "u1");
  EXPECT_EQ(due[0].phone_e164, kPhoneB);
  EXPECT_EQ(due[0].new_phone_e164, kPhoneC);
  EXPECT_EQ(due[0].sealed_revert_token, "sealed");
  EXPECT_EQ(due[0].request_id, "req-change");
  EXPECT_EQ(due[0].created_at, changed_at);
  EXPECT_EQ(due[0].attempts, 1);
}

TEST_F(UserStoreRevertTest, RevertThatUnlinksANumberQueuesItsNotice) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  RevertRequest request = RevertOf("t1");
  request.language = Language::kChinese;
  ASSERT_THAT(store_->Revert(request), IsOk());
  const std::vector<Notice> due = LeaseAll(*store_);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].type, NoticeType::kPhoneUnlinked);
  EXPECT_EQ(due[0].user_id, "u1");
  EXPECT_EQ(due[0].phone_e164, kPhoneB);
  EXPECT_EQ(due[0].language, Language::kChinese);
  EXPECT_EQ(due[0].request_id, "req-revert");
}

TEST_F(UserStoreRevertTest, RevertThatUnlinksNothingQueuesNothing) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB, Revertible("t1")),
              IsOk());
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneB, kPhoneA), IsOk());
  absl::StatusOr<RevertOutcome> reverted = store_->Revert(RevertOf("t1"));
  ASSERT_THAT(reverted, IsOk());
  EXPECT_EQ(reverted->restored_phone, kPhoneA);
  EXPECT_EQ(reverted->removed_phone, "");
  EXPECT_THAT(LeaseAll(*store_), ::testing::IsEmpty());
}

TEST_F(UserStoreRevertTest, LeaseHoldsRetryDelaysDeliveredRemoves) {
  ASSERT_THAT(store_->ChangePhone("u1", "", kPhoneA), IsOk());
  const absl::Time changed_at = clock_->Now();
  ASSERT_THAT(store_->ChangePhone("u1", kPhoneA, kPhoneB,
                                  Revertible("t1", kPhoneA, kPhoneB)),
              IsOk());
  NoticeQueue* queue = store_->notices();
  std::vector<Notice> due = LeaseAll(*store_);
  ASSERT_EQ(due.size(), 1u);
  const int64_t id = due[0].id;
  // Held for the lease: nobody else gets it meanwhile.
  clock_->Advance(absl::Seconds(59));
  EXPECT_THAT(LeaseAll(*store_), ::testing::IsEmpty());
  absl::StatusOr<NoticeBacklog> backlog = queue->Backlog();
  ASSERT_THAT(backlog, IsOk());
  EXPECT_EQ(backlog->pending, 1u);
  EXPECT_EQ(backlog->oldest, clock_->Now() - changed_at);

  ASSERT_THAT(queue->Retry(id, absl::Seconds(30)), IsOk());
  clock_->Advance(absl::Seconds(30) - absl::Nanoseconds(1));
  EXPECT_THAT(LeaseAll(*store_), ::testing::IsEmpty());
  clock_->Advance(absl::Nanoseconds(1));
  due = LeaseAll(*store_);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, id);
  EXPECT_EQ(due[0].attempts, 2);

  ASSERT_THAT(queue->Delivered({id}), IsOk());
  backlog = queue->Backlog();
  ASSERT_THAT(backlog, IsOk());
  EXPECT_EQ(backlog->pending, 0u);
  EXPECT_EQ(backlog->oldest, absl::ZeroDuration());
  clock_->Advance(absl::Minutes(5));
  EXPECT_THAT(LeaseAll(*store_), ::testing::IsEmpty());
}

TEST_F(UserStoreRevertTest, DeliveredForgetsExactlyTheNoticesNamed) {
  const std::string phones[] = {kPhoneA, kPhoneB, kPhoneC};
  for (int i = 0; i < 3; ++i) {
    const std::string user = absl::StrCat("u", i);
    const std::string next = absl::StrCat("+86138001389", 10 + i);
    ASSERT_THAT(store_->ChangePhone(user, "", phones[i]), IsOk());
    ASSERT_THAT(store_->ChangePhone(user, phones[i], next,
                                    Revertible(user, phones[i], next)),
                IsOk());
  }
  std::vector<Notice> due = LeaseAll(*store_);
  ASSERT_EQ(due.size(), 3u);
  NoticeQueue* queue = store_->notices();
  ASSERT_THAT(queue->Delivered({due[0].id, due[2].id}), IsOk());
  ASSERT_THAT(queue->Delivered({}), IsOk());
  EXPECT_EQ(queue->Backlog()->pending, 1u);
  clock_->Advance(absl::Seconds(60));
  std::vector<Notice> left = LeaseAll(*store_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, due[1].id);
}

}  // namespace
}  // namespace profile
