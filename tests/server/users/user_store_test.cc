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
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

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

}  // namespace
}  // namespace profile
