#include "server/token/token_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

constexpr absl::Duration kTtl = absl::Seconds(60);

std::string Hash(absl::string_view token) { return Sha256(token); }

TokenGrant Grant(std::string user, std::string old_phone = "+8613800138000",
                 std::string new_phone = "+8613912345678") {
  return TokenGrant{std::move(user), std::move(old_phone),
                    std::move(new_phone)};
}

class TokenStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<TokenStore> NewStore(size_t max_live_tokens = 1000000) {
    InMemoryTokenStoreOptions options;
    options.max_live_tokens = max_live_tokens;
    options.sweep_interval = absl::ZeroDuration();
    return NewInMemoryTokenStore(clock_, options);
  }

  absl::Time expires_at() const { return clock_->Now() + kTtl; }

  void ExpectNotFound(TokenStore& store, absl::string_view token,
                      absl::string_view user) {
    EXPECT_THAT(store.Take(Hash(token), user),
                StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound))
        << token;
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(TokenStoreTest, TakeReturnsTheExactGrant) {
  auto store = NewStore();
  const TokenGrant grant = Grant("u1", "+8613800138000", "+14155550100");
  ASSERT_THAT(store->Issue(Hash("t1"), grant, expires_at()), IsOk());
  EXPECT_EQ(store->Size(), 1u);

  absl::StatusOr<TokenGrant> taken = store->Take(Hash("t1"), "u1");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->user_id, "u1");
  EXPECT_EQ(taken->old_phone_e164, "+8613800138000");
  EXPECT_EQ(taken->new_phone_e164, "+14155550100");
  EXPECT_TRUE(*taken == grant);
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, GrantWithEmptyOldPhoneRoundTrips) {
  auto store = NewStore();
  const TokenGrant grant = Grant("new-user", "", "+447400123456");
  ASSERT_THAT(store->Issue(Hash("t1"), grant, expires_at()), IsOk());
  absl::StatusOr<TokenGrant> taken = store->Take(Hash("t1"), "new-user");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->old_phone_e164, "");
  EXPECT_EQ(taken->new_phone_e164, "+447400123456");
  EXPECT_EQ(taken->user_id, "new-user");
}

TEST_F(TokenStoreTest, PhonesOfEveryLengthRoundTrip) {
  auto store = NewStore();
  const std::vector<std::string> phones = {
      "+14155550100", "+4930123456", "+8613800138000", "+123456789012345",
      "+6834002", "+999999999999999"};
  for (size_t i = 0; i < phones.size(); ++i) {
    const std::string user = absl::StrCat("u", i);
    const std::string token = absl::StrCat("t", i);
    const TokenGrant grant = Grant(user, phones[i], phones[phones.size() - 1 - i]);
    ASSERT_THAT(store->Issue(Hash(token), grant, expires_at()), IsOk());
    absl::StatusOr<TokenGrant> taken = store->Take(Hash(token), user);
    ASSERT_THAT(taken, IsOk());
    EXPECT_EQ(taken->old_phone_e164, grant.old_phone_e164);
    EXPECT_EQ(taken->new_phone_e164, grant.new_phone_e164);
  }
}

TEST_F(TokenStoreTest, UserIdsRoundTripByteForByte) {
  auto store = NewStore();
  const std::string user_ids[] = {"用户-1", std::string(128, 'x'),
                                  "auth0|abc", "UPPER", "upper"};
  for (const std::string& user : user_ids) {
    const std::string token = absl::StrCat("token-of-", user);
    ASSERT_THAT(store->Issue(Hash(token), Grant(user), expires_at()), IsOk());
  }
  EXPECT_EQ(store->Size(), 5u);
  for (const std::string& user : user_ids) {
    absl::StatusOr<TokenGrant> taken =
        store->Take(Hash(absl::StrCat("token-of-", user)), user);
    ASSERT_THAT(taken, IsOk()) << user;
    EXPECT_EQ(taken->user_id, user);
  }
}

TEST_F(TokenStoreTest, SecondTakeIsNotFound) {
  auto store = NewStore();
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), expires_at()), IsOk());
  ASSERT_THAT(store->Take(Hash("t1"), "u1"), IsOk());
  ExpectNotFound(*store, "t1", "u1");
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, UnknownTokenIsNotFound) {
  auto store = NewStore();
  ExpectNotFound(*store, "never issued", "u1");
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), expires_at()), IsOk());
  ExpectNotFound(*store, "t2", "u1");
  EXPECT_EQ(store->Size(), 1u);
}

TEST_F(TokenStoreTest, TheStoreIsKeyedByHashNotByToken) {
  auto store = NewStore();
  const std::string token = Base64UrlEncode(RandomBytes(32));
  ASSERT_THAT(store->Issue(Hash(token), Grant("u1"), expires_at()), IsOk());
  // The raw token bytes, or their prefix, are not the key.
  EXPECT_THAT(store->Take(token, "u1"),
              StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound));
  EXPECT_THAT(store->Take(token.substr(0, 32), "u1"),
              StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound));
  EXPECT_THAT(store->Take(Hash(Hash(token)), "u1"),
              StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound));
  EXPECT_THAT(store->Take(Hash(token), "u1"), IsOk());
}

TEST_F(TokenStoreTest, TakeByAnotherUserIsPermissionDeniedAndKeepsTheToken) {
  auto store = NewStore();
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), expires_at()), IsOk());
  EXPECT_THAT(store->Take(Hash("t1"), "u2"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       ApiCode::kTokenOtherUser));
  EXPECT_THAT(store->Take(Hash("t1"), ""),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       ApiCode::kTokenOtherUser));
  EXPECT_THAT(store->Take(Hash("t1"), "U1"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       ApiCode::kTokenOtherUser));
  EXPECT_EQ(store->Size(), 1u);
  absl::StatusOr<TokenGrant> taken = store->Take(Hash("t1"), "u1");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->user_id, "u1");
}

TEST_F(TokenStoreTest, ExpiryIsExactToTheTick) {
  auto store = NewStore();
  const absl::Time expiry = clock_->Now() + kTtl;
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), expiry), IsOk());
  ASSERT_THAT(store->Issue(Hash("t2"), Grant("u2"), expiry), IsOk());

  clock_->Set(expiry - absl::Nanoseconds(1));
  EXPECT_THAT(store->Take(Hash("t1"), "u1"), IsOk());

  clock_->Set(expiry);
  ExpectNotFound(*store, "t2", "u2");
  // Expired beats "another user": an expired token reveals nothing.
  EXPECT_THAT(store->Take(Hash("t2"), "u3"),
              StatusIs(absl::StatusCode::kNotFound, ApiCode::kTokenNotFound));
  clock_->Advance(absl::Hours(1));
  ExpectNotFound(*store, "t2", "u2");
}

TEST_F(TokenStoreTest, SizeCountsExpiredTokensUntilSwept) {
  auto store = NewStore();
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), clock_->Now() + kTtl),
              IsOk());
  clock_->Advance(kTtl);
  ExpectNotFound(*store, "t1", "u1");
  EXPECT_EQ(store->Size(), 1u);
  EXPECT_EQ(store->SweepExpired(), 1u);
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, SweepRemovesExactlyTheExpiredTokens) {
  auto store = NewStore();
  const absl::Time t0 = clock_->Now();
  // Ten tokens expiring at t0+1s ... t0+10s.
  for (int i = 1; i <= 10; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)),
                             t0 + absl::Seconds(i)),
                IsOk());
  }
  EXPECT_EQ(store->SweepExpired(), 0u);
  EXPECT_EQ(store->Size(), 10u);

  clock_->Set(t0 + absl::Seconds(4));  // t1..t4 expired, t4 exactly now
  EXPECT_EQ(store->SweepExpired(), 4u);
  EXPECT_EQ(store->Size(), 6u);
  EXPECT_EQ(store->SweepExpired(), 0u);
  for (int i = 1; i <= 4; ++i) {
    ExpectNotFound(*store, absl::StrCat("t", i), absl::StrCat("u", i));
  }
  // The survivors are intact.
  EXPECT_THAT(store->Take(Hash("t5"), "u5"), IsOk());
  EXPECT_EQ(store->Size(), 5u);

  clock_->Set(t0 + absl::Seconds(10) - absl::Nanoseconds(1));
  EXPECT_EQ(store->SweepExpired(), 4u);  // t6..t9
  EXPECT_EQ(store->Size(), 1u);
  EXPECT_THAT(store->Take(Hash("t10"), "u10"), IsOk());
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, SweptUserCanBeIssuedAgain) {
  auto store = NewStore(1);
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), clock_->Now() + kTtl),
              IsOk());
  clock_->Advance(kTtl);
  EXPECT_EQ(store->SweepExpired(), 1u);
  // The sweep freed the one slot; another user fits.
  ASSERT_THAT(store->Issue(Hash("t2"), Grant("u2"), expires_at()), IsOk());
  EXPECT_THAT(store->Take(Hash("t2"), "u2"), IsOk());
  ASSERT_THAT(store->Issue(Hash("t3"), Grant("u1"), expires_at()), IsOk());
  EXPECT_THAT(store->Take(Hash("t3"), "u1"), IsOk());
}

TEST_F(TokenStoreTest, NewIssueRevokesTheUsersPreviousToken) {
  auto store = NewStore();
  ASSERT_THAT(store->Issue(Hash("old"), Grant("u1", "", "+8613800138000"),
                           expires_at()),
              IsOk());
  ASSERT_THAT(store->Issue(Hash("other"), Grant("u2"), expires_at()), IsOk());
  ASSERT_THAT(store->Issue(Hash("new"), Grant("u1", "", "+8613912345678"),
                           expires_at()),
              IsOk());
  EXPECT_EQ(store->Size(), 2u);
  ExpectNotFound(*store, "old", "u1");
  absl::StatusOr<TokenGrant> taken = store->Take(Hash("new"), "u1");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->new_phone_e164, "+8613912345678");
  // Another user's token is untouched.
  EXPECT_THAT(store->Take(Hash("other"), "u2"), IsOk());
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, ManyReissuesHoldOneToken) {
  auto store = NewStore();
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)), Grant("u1"),
                             expires_at()),
                IsOk());
    EXPECT_EQ(store->Size(), 1u);
  }
  for (int i = 0; i < 99; ++i) ExpectNotFound(*store, absl::StrCat("t", i), "u1");
  EXPECT_THAT(store->Take(Hash("t99"), "u1"), IsOk());
}

TEST_F(TokenStoreTest, IssueAfterTakeDoesNotRevokeAnything) {
  auto store = NewStore();
  ASSERT_THAT(store->Issue(Hash("t1"), Grant("u1"), expires_at()), IsOk());
  ASSERT_THAT(store->Take(Hash("t1"), "u1"), IsOk());
  ASSERT_THAT(store->Issue(Hash("t2"), Grant("u1"), expires_at()), IsOk());
  ASSERT_THAT(store->Issue(Hash("t3"), Grant("u2"), expires_at()), IsOk());
  EXPECT_EQ(store->Size(), 2u);
  EXPECT_THAT(store->Take(Hash("t2"), "u1"), IsOk());
  EXPECT_THAT(store->Take(Hash("t3"), "u2"), IsOk());
}

TEST_F(TokenStoreTest, CapacityIsEnforced) {
  auto store = NewStore(3);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)), expires_at()),
                IsOk());
  }
  EXPECT_EQ(store->Size(), 3u);
  EXPECT_THAT(store->Issue(Hash("t4"), Grant("u4"), expires_at()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  EXPECT_EQ(store->Size(), 3u);
  ExpectNotFound(*store, "t4", "u4");

  // The tokens already held are untouched by the refusal.
  for (int i = 1; i <= 3; ++i) {
    EXPECT_THAT(store->Take(Hash(absl::StrCat("t", i)), absl::StrCat("u", i)),
                IsOk());
  }
  // Taking frees the slots.
  EXPECT_THAT(store->Issue(Hash("t4"), Grant("u4"), expires_at()), IsOk());
}

TEST_F(TokenStoreTest, SameUserCanReissueAtCapacity) {
  auto store = NewStore(3);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)), expires_at()),
                IsOk());
  }
  ASSERT_THAT(store->Issue(Hash("t2-again"), Grant("u2"), expires_at()),
              IsOk());
  EXPECT_EQ(store->Size(), 3u);
  ExpectNotFound(*store, "t2", "u2");
  EXPECT_THAT(store->Take(Hash("t2-again"), "u2"), IsOk());
  EXPECT_THAT(store->Take(Hash("t1"), "u1"), IsOk());
  EXPECT_THAT(store->Take(Hash("t3"), "u3"), IsOk());
}

TEST_F(TokenStoreTest, ExactlyOneOfManyConcurrentTakesWins) {
  constexpr int kThreads = 64;
  for (int round = 0; round < 5; ++round) {
    auto store = NewStore();
    const std::string hash = Hash(absl::StrCat("contended-", round));
    ASSERT_THAT(store->Issue(hash, Grant("u1"), expires_at()), IsOk());
    std::atomic<int> ok{0};
    std::atomic<int> not_found{0};
    std::atomic<int> other{0};
    absl::Notification start;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.WaitForNotification();
        absl::StatusOr<TokenGrant> taken = store->Take(hash, "u1");
        if (taken.ok()) {
          ++ok;
        } else if (taken.status().code() == absl::StatusCode::kNotFound &&
                   ApiCodeOf(taken.status()) == ApiCode::kTokenNotFound) {
          ++not_found;
        } else {
          ++other;
        }
      });
    }
    start.Notify();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(not_found.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(store->Size(), 0u);
  }
}

TEST_F(TokenStoreTest, ConcurrentIssueAndTakeKeepSizeConsistent) {
  // Two threads, each with its own users: every token issued is taken
  // except every third, which must remain.
  constexpr int kPerThread = 3000;
  auto store = NewStore();
  std::atomic<int> failures{0};
  auto worker = [&](const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string user = absl::StrCat(prefix, "-u", i);
      const std::string hash = Hash(absl::StrCat(prefix, "-t", i));
      if (!store->Issue(hash, Grant(user), expires_at()).ok()) ++failures;
      if (i % 3 != 0 && !store->Take(hash, user).ok()) ++failures;
    }
  };
  std::thread a(worker, "a");
  std::thread b(worker, "b");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store->Size(), 2u * kPerThread / 3);
  for (const char* prefix : {"a", "b"}) {
    for (int i = 0; i < kPerThread; i += 3) {
      ASSERT_THAT(store->Take(Hash(absl::StrCat(prefix, "-t", i)),
                              absl::StrCat(prefix, "-u", i)),
                  IsOk());
    }
  }
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, ConcurrentReissuesForSharedUsersKeepOneTokenEach) {
  // Two threads issue and take tokens for the same 20 users. Whatever the
  // interleaving, each user ends with at most one live token, and Size()
  // counts exactly the tokens that can still be taken.
  constexpr int kUsers = 20;
  constexpr int kPerThread = 2000;
  auto store = NewStore();
  auto worker = [&](const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string user = absl::StrCat("u", i % kUsers);
      const std::string hash = Hash(absl::StrCat(prefix, i));
      (void)store->Issue(hash, Grant(user), expires_at());
      if (i % 7 == 0) (void)store->Take(hash, user);
    }
  };
  std::thread a(worker, "a");
  std::thread b(worker, "b");
  a.join();
  b.join();

  const size_t size = store->Size();
  EXPECT_LE(size, static_cast<size_t>(kUsers));
  size_t takeable = 0;
  std::vector<int> per_user(kUsers, 0);
  for (const char* prefix : {"a", "b"}) {
    for (int i = 0; i < kPerThread; ++i) {
      if (store->Take(Hash(absl::StrCat(prefix, i)),
                      absl::StrCat("u", i % kUsers))
              .ok()) {
        ++takeable;
        ++per_user[i % kUsers];
      }
    }
  }
  EXPECT_EQ(takeable, size);
  for (int u = 0; u < kUsers; ++u) EXPECT_LE(per_user[u], 1) << "user " << u;
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, AnotherUsersTokenIsDeniedWhateverShardsTheyLandIn) {
  // The store is sharded by user: with this many users, most pairs of
  // owner and caller sit in different shards, some in the same one.
  constexpr int kUsers = 500;
  auto store = NewStore();
  for (int i = 0; i < kUsers; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)), expires_at()),
                IsOk());
  }
  for (int i = 0; i < kUsers; ++i) {
    for (int other : {1, 7, kUsers / 2}) {
      EXPECT_THAT(store->Take(Hash(absl::StrCat("t", i)),
                              absl::StrCat("u", (i + other) % kUsers)),
                  StatusIs(absl::StatusCode::kPermissionDenied,
                           ApiCode::kTokenOtherUser))
          << i;
    }
    ExpectNotFound(*store, absl::StrCat("never-", i), absl::StrCat("u", i));
  }
  EXPECT_EQ(store->Size(), static_cast<size_t>(kUsers));
  for (int i = 0; i < kUsers; i += 2) {
    ASSERT_THAT(store->Take(Hash(absl::StrCat("t", i)), absl::StrCat("u", i)),
                IsOk());
  }
  // A taken token is NOT_FOUND for everyone; the others are still denied.
  for (int i = 0; i < kUsers; ++i) {
    const std::string token = absl::StrCat("t", i);
    const std::string other = absl::StrCat("u", (i + 1) % kUsers);
    if (i % 2 == 0) {
      ExpectNotFound(*store, token, other);
    } else {
      EXPECT_THAT(store->Take(Hash(token), other),
                  StatusIs(absl::StatusCode::kPermissionDenied,
                           ApiCode::kTokenOtherUser));
    }
  }
  // Expired beats "another user" in every shard too.
  clock_->Advance(kTtl);
  for (int i = 1; i < kUsers; i += 2) {
    ExpectNotFound(*store, absl::StrCat("t", i),
                   absl::StrCat("u", (i + 1) % kUsers));
  }
  EXPECT_EQ(store->SweepExpired(), static_cast<size_t>(kUsers / 2));
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, OwnerWinsAgainstConcurrentTakesByOtherUsers) {
  constexpr int kThreads = 16;
  for (int round = 0; round < 5; ++round) {
    auto store = NewStore();
    const std::string hash = Hash(absl::StrCat("contended-", round));
    ASSERT_THAT(store->Issue(hash, Grant("owner"), expires_at()), IsOk());
    std::atomic<int> ok{0};
    std::atomic<int> wrong{0};
    absl::Notification start;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.WaitForNotification();
        // Threads 0 and 1 are the owner; the others, other users, answered
        // PERMISSION_DENIED until the owner takes it, NOT_FOUND after.
        const std::string user = t < 2 ? "owner" : absl::StrCat("other", t);
        absl::StatusOr<TokenGrant> taken = store->Take(hash, user);
        if (taken.ok()) {
          ++ok;
          if (t >= 2) ++wrong;
        } else if (t < 2) {
          if (ApiCodeOf(taken.status()) != ApiCode::kTokenNotFound) ++wrong;
        } else if (ApiCodeOf(taken.status()) != ApiCode::kTokenOtherUser &&
                   ApiCodeOf(taken.status()) != ApiCode::kTokenNotFound) {
          ++wrong;
        }
      });
    }
    start.Notify();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(store->Size(), 0u);
  }
}

TEST_F(TokenStoreTest, FullStoreSweepsExpiredTokensBeforeRefusing) {
  InMemoryTokenStoreOptions options;
  options.max_live_tokens = 5;
  options.sweep_interval = absl::ZeroDuration();
  std::atomic<size_t> expired{0};
  options.on_expired = [&](size_t n) { expired += n; };
  auto store = NewInMemoryTokenStore(clock_, options);
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)),
                             clock_->Now() + absl::Seconds(1)),
                IsOk());
  }
  EXPECT_THAT(store->Issue(Hash("t5"), Grant("u5"), expires_at()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  clock_->Advance(absl::Seconds(1));
  // No SweepExpired(): the refused Issue() sweeps by itself.
  ASSERT_THAT(store->Issue(Hash("t5"), Grant("u5"), expires_at()), IsOk());
  EXPECT_EQ(expired.load(), 5u);
  EXPECT_EQ(store->Size(), 1u);
  EXPECT_THAT(store->Take(Hash("t5"), "u5"), IsOk());
}

TEST_F(TokenStoreTest, SmallCapIsExactUnderConcurrentIssues) {
  // Below 4096 slots are reserved one at a time: exactly the cap succeeds.
  constexpr size_t kCap = 50;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  auto store = NewStore(kCap);
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  absl::Notification start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.WaitForNotification();
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status issued =
            store->Issue(Hash(absl::StrCat(t, "-t", i)),
                         Grant(absl::StrCat(t, "-u", i)), expires_at());
        if (issued.ok()) {
          ++ok;
        } else if (ApiCodeOf(issued) == ApiCode::kTooManyTokens) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  start.Notify();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), static_cast<int>(kCap));
  EXPECT_EQ(refused.load(), kThreads * kPerThread - static_cast<int>(kCap));
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(store->Size(), kCap);
}

TEST_F(TokenStoreTest, LargeCapIsExactWithBatchedCredits) {
  // At this cap shards reserve slots in batches; filled from two threads,
  // the store still takes exactly the remaining room, then refuses, and a
  // Take() or a sweep makes room again.
  constexpr size_t kCap = 100000;
  constexpr int kPerThread = 49000;
  auto store = NewStore(kCap);
  std::atomic<int> failures{0};
  auto fill = [&](const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!store->Issue(Hash(absl::StrCat(prefix, "-t", i)),
                        Grant(absl::StrCat(prefix, "-u", i)), expires_at())
               .ok()) {
        ++failures;
      }
    }
  };
  std::thread a(fill, "a");
  std::thread b(fill, "b");
  a.join();
  b.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_EQ(store->Size(), 2u * kPerThread);

  const size_t room = kCap - 2 * kPerThread;
  for (size_t i = 0; i < room; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("c-t", i)),
                             Grant(absl::StrCat("c-u", i)),
                             clock_->Now() + absl::Seconds(1)),
                IsOk())
        << i;
  }
  EXPECT_EQ(store->Size(), kCap);
  EXPECT_THAT(store->Issue(Hash("over"), Grant("over"), expires_at()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  // A user replacing their own token at the cap still succeeds.
  ASSERT_THAT(store->Issue(Hash("a-t0-again"), Grant("a-u0"), expires_at()),
              IsOk());
  ExpectNotFound(*store, "a-t0", "a-u0");
  EXPECT_EQ(store->Size(), kCap);

  // A Take() makes room for exactly one more, whichever shard it lands in.
  ASSERT_THAT(store->Take(Hash("b-t1"), "b-u1"), IsOk());
  ASSERT_THAT(store->Issue(Hash("over"), Grant("over"), expires_at()), IsOk());
  EXPECT_THAT(store->Issue(Hash("over2"), Grant("over2"), expires_at()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  EXPECT_EQ(store->Size(), kCap);

  // The sweep of the `room` short-lived tokens makes room for as many.
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(store->SweepExpired(), room);
  for (size_t i = 0; i < room; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("d-t", i)),
                             Grant(absl::StrCat("d-u", i)), expires_at()),
                IsOk())
        << i;
  }
  EXPECT_THAT(store->Issue(Hash("over2"), Grant("over2"), expires_at()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ApiCode::kTooManyTokens));
  EXPECT_EQ(store->Size(), kCap);
}

TEST_F(TokenStoreTest, BackgroundSweepRemovesExpiredTokens) {
  InMemoryTokenStoreOptions options;
  options.sweep_interval = absl::Milliseconds(10);
  auto store = NewInMemoryTokenStore(clock_, options);
  for (int i = 0; i < 50; ++i) {
    ASSERT_THAT(store->Issue(Hash(absl::StrCat("t", i)),
                             Grant(absl::StrCat("u", i)), expires_at()),
                IsOk());
  }
  EXPECT_EQ(store->Size(), 50u);
  clock_->Advance(kTtl);

  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (store->Size() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(store->Size(), 0u);
}

TEST_F(TokenStoreTest, BackgroundSweepKeepsLiveTokens) {
  InMemoryTokenStoreOptions options;
  options.sweep_interval = absl::Milliseconds(10);
  auto store = NewInMemoryTokenStore(clock_, options);
  ASSERT_THAT(store->Issue(Hash("expiring"), Grant("u1"),
                           clock_->Now() + absl::Seconds(1)),
              IsOk());
  ASSERT_THAT(store->Issue(Hash("live"), Grant("u2"), expires_at()), IsOk());
  clock_->Advance(absl::Seconds(1));

  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (store->Size() != 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(store->Size(), 1u);
  EXPECT_THAT(store->Take(Hash("live"), "u2"), IsOk());
}

TEST_F(TokenStoreTest, DestroyingAStoreStopsItsSweeper) {
  // Must neither hang nor crash, repeatedly and with a sweep in flight.
  InMemoryTokenStoreOptions options;
  options.sweep_interval = absl::Milliseconds(1);
  for (int i = 0; i < 20; ++i) {
    auto store = NewInMemoryTokenStore(clock_, options);
    ASSERT_THAT(store->Issue(Hash("t"), Grant("u"), expires_at()), IsOk());
    EXPECT_EQ(store->Size(), 1u);
  }
}

}  // namespace
}  // namespace profile
