// The Redis stores against a real redis-server started by the test. So far
// the idempotency records, and codes checked and used together; the token,
// code and limit scripts are covered end to end
// (tests/e2e/profile_service_e2e_test.cc, backends_e2e_test.cc).
#include "server/backends/redis_stores.h"

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backends/backend_url.h"
#include "server/backends/redis_client.h"
#include "server/codes/code_store.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::IsOk;
using ::profile::testing::RedisServer;
using ::profile::testing::StatusIs;

class RedisIdempotencyStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new RedisServer();
    ASSERT_TRUE(server_->Start()) << server_->error();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    absl::StatusOr<BackendUrl> url =
        ParseBackendUrl(server_->url(), "redis", "REDIS_PASSWORD");
    ASSERT_TRUE(url.ok()) << url.status();
    redis_ = RedisClient::Create({*url});
    prefix_ = absl::StrCat("t", ++tests_, ":");
    store_ = NewRedisIdempotencyStore(redis_.get(), prefix_, clock_);
  }

  absl::Time In(absl::Duration d) const { return clock_->Now() + d; }

  std::string RecordKey(absl::string_view key) const {
    return absl::StrCat(prefix_, "idempotency:", absl::BytesToHexString(key));
  }

  static RedisServer* server_;
  static int tests_;
  std::shared_ptr<Clock> clock_ = SystemClock();
  std::unique_ptr<RedisClient> redis_;
  std::string prefix_;
  std::unique_ptr<IdempotencyStore> store_;
  const std::string key_ = Sha256("key");
  const std::string request_ = Sha256("request");
};

RedisServer* RedisIdempotencyStoreTest::server_ = nullptr;
int RedisIdempotencyStoreTest::tests_ = 0;

TEST_F(RedisIdempotencyStoreTest, ClaimCompleteReplayOtherRequest) {
  absl::StatusOr<IdempotencyClaim> claim =
      store_->Begin(key_, request_, In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  EXPECT_EQ(claim->outcome, IdempotencyClaim::kClaimed);
  ASSERT_THAT(store_->Complete(key_, claim->claim_id, "answer",
                               In(absl::Minutes(5))),
              IsOk());
  absl::StatusOr<IdempotencyClaim> again =
      store_->Begin(key_, request_, In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(again->answer, "answer");
  absl::StatusOr<IdempotencyClaim> other = store_->Begin(
      key_, Sha256("other"), In(absl::Seconds(30)), absl::Seconds(1));
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->outcome, IdempotencyClaim::kOtherRequest);

  // Kept under the prefix, by digest, with Redis's own expiry.
  absl::StatusOr<RedisReply> ttl = redis_->Command({"PTTL", RecordKey(key_)});
  ASSERT_THAT(ttl.status(), IsOk());
  EXPECT_GT(ttl->integer, 4 * 60 * 1000);
  EXPECT_LE(ttl->integer, 5 * 60 * 1000);
}

TEST_F(RedisIdempotencyStoreTest, AbandonedKeyIsClaimedAnewAndStaleClaimsDoNothing) {
  auto claim = store_->Begin(key_, request_, In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  store_->Abandon(key_, claim->claim_id);
  auto again = store_->Begin(key_, request_, In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome, IdempotencyClaim::kClaimed);
  ASSERT_THAT(store_->Complete(key_, claim->claim_id, "stale",
                               In(absl::Minutes(5))),
              IsOk());
  store_->Abandon(key_, claim->claim_id);
  ASSERT_THAT(store_->Complete(key_, again->claim_id, "fresh",
                               In(absl::Minutes(5))),
              IsOk());
  auto replay = store_->Begin(key_, request_, In(absl::Seconds(30)),
                              absl::Seconds(1));
  ASSERT_THAT(replay, IsOk());
  EXPECT_EQ(replay->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(replay->answer, "fresh");
}

TEST_F(RedisIdempotencyStoreTest, DuplicateWaitsForTheHolderOrGivesUp) {
  auto claim = store_->Begin(key_, request_, In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  EXPECT_THAT(store_->Begin(key_, request_, In(absl::Seconds(30)),
                            absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kUnavailable, ApiCode::kUnavailable));

  absl::StatusOr<IdempotencyClaim> waited = absl::UnknownError("not run");
  std::thread duplicate([&] {
    waited = store_->Begin(key_, request_, In(absl::Seconds(30)),
                           absl::Seconds(5));
  });
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_THAT(store_->Complete(key_, claim->claim_id, "done",
                               In(absl::Minutes(5))),
              IsOk());
  duplicate.join();
  ASSERT_THAT(waited, IsOk());
  EXPECT_EQ(waited->outcome, IdempotencyClaim::kReplay);
  EXPECT_EQ(waited->answer, "done");
}

TEST_F(RedisIdempotencyStoreTest, LeaseThatRunsOutFreesTheKey) {
  ASSERT_THAT(store_->Begin(key_, request_, In(absl::Milliseconds(200)),
                            absl::Seconds(1)),
              IsOk());
  // The holder died: a duplicate waiting past the lease takes the key.
  absl::StatusOr<IdempotencyClaim> taken =
      store_->Begin(key_, request_, In(absl::Seconds(30)), absl::Seconds(2));
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->outcome, IdempotencyClaim::kClaimed);
}

TEST_F(RedisIdempotencyStoreTest, CompletedRecordExpires) {
  auto claim = store_->Begin(key_, request_, In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(claim, IsOk());
  ASSERT_THAT(store_->Complete(key_, claim->claim_id, "",
                               In(absl::Milliseconds(200))),
              IsOk());
  absl::SleepFor(absl::Milliseconds(300));
  absl::StatusOr<RedisReply> keys = redis_->Command({"KEYS", prefix_ + "*"});
  ASSERT_THAT(keys.status(), IsOk());
  EXPECT_TRUE(keys->elements.empty());
  auto again = store_->Begin(key_, Sha256("other"), In(absl::Seconds(30)),
                             absl::Seconds(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->outcome, IdempotencyClaim::kClaimed);
}

auto IsWrongCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode);
}

auto IsNoLiveCode() {
  return StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired);
}

// CheckAll() and ConsumeAll() of `store`: what a store in memory does code
// by code, Redis does in one script.
void ExpectCodesCheckedAndUsedTogether(CodeStore& store, absl::Time expiry) {
  const CodeKey a{"+8613800138000", CodePurpose::kNewPhone, "u1"};
  const CodeKey b{"+8613800138001", CodePurpose::kOldPhone, "u1"};
  ASSERT_THAT(store.Put(a, "da", expiry, 2), IsOk());
  ASSERT_THAT(store.Put(b, "db", expiry, 2), IsOk());
  size_t failed = 9;
  EXPECT_THAT(store.CheckAll({{a, "da"}, {b, "db"}}, &failed), IsOk());
  EXPECT_EQ(failed, 9u);
  // A wrong first code: the second is not checked, so costs no attempt.
  EXPECT_THAT(store.CheckAll({{a, "x"}, {b, "x"}}, &failed), IsWrongCode());
  EXPECT_EQ(failed, 0u);
  EXPECT_THAT(store.CheckAll({{a, "da"}, {b, "x"}}, &failed), IsWrongCode());
  EXPECT_EQ(failed, 1u);
  // b's second wrong code burns it; a has an attempt left.
  EXPECT_THAT(store.CheckAll({{a, "da"}, {b, "x"}}, &failed), IsWrongCode());
  EXPECT_THAT(store.CheckAll({{a, "da"}, {b, "db"}}, &failed), IsNoLiveCode());
  EXPECT_EQ(failed, 1u);
  EXPECT_THAT(store.Check(a, "da"), IsOk());

  // ConsumeAll() stops at the first code gone; those before stay used up.
  ASSERT_THAT(store.Put(b, "db", expiry, 2), IsOk());
  EXPECT_THAT(store.ConsumeAll({{a, "da"}, {b, "other"}}), IsNoLiveCode());
  EXPECT_THAT(store.Check(a, "da"), IsNoLiveCode());
  EXPECT_THAT(store.Check(b, "db"), IsOk());
  ASSERT_THAT(store.Put(a, "da", expiry, 2), IsOk());
  EXPECT_THAT(store.ConsumeAll({{a, "da"}, {b, "db"}}), IsOk());
  EXPECT_THAT(store.Check(a, "da"), IsNoLiveCode());
  EXPECT_THAT(store.Check(b, "db"), IsNoLiveCode());
}

TEST_F(RedisIdempotencyStoreTest, CodesAreCheckedAndUsedTogetherAsInMemory) {
  std::unique_ptr<CodeStore> in_memory =
      NewInMemoryCodeStore(clock_, {1000, absl::ZeroDuration()});
  ExpectCodesCheckedAndUsedTogether(*in_memory, In(absl::Minutes(5)));
  std::unique_ptr<CodeStore> redis =
      NewRedisCodeStore(redis_.get(), prefix_, clock_);
  ExpectCodesCheckedAndUsedTogether(*redis, In(absl::Minutes(5)));
  // Both codes in one round trip each way.
  const CodeKey c{"+8613800138002", CodePurpose::kNewPhone, "u2"};
  const CodeKey d{"+8613800138003", CodePurpose::kOldPhone, "u2"};
  ASSERT_THAT(redis->Put(c, "dc", In(absl::Minutes(5)), 2), IsOk());
  const uint64_t before = redis_->RoundTrips();
  size_t failed = 0;
  EXPECT_THAT(redis->CheckAll({{c, "dc"}, {d, "dd"}}, &failed), IsNoLiveCode());
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(redis_->RoundTrips() - before, 1u);
}

}  // namespace
}  // namespace profile
