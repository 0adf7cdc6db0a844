#include "server/core/core_factory.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backends/backend_url.h"
#include "server/backends/redis_client.h"
#include "server/backends/redis_stores.h"
#include "server/common/api_error.h"
#include "tests/testing/backend_servers.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CapturingSmsSender;
using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::profile::testing::RedisServer;
using ::profile::testing::StatusIs;
using ::profile::testing::TestDir;
using ::testing::HasSubstr;
using Rpc = PhoneChange::Rpc;

constexpr char kTestPhone[] = "+8613700000000";

Caller Call(std::string user_id) {
  Caller caller;
  caller.user_id = std::move(user_id);
  caller.request_id = "request-1";
  caller.language = Language::kEnglish;
  return caller;
}

TEST(CoreFactoryTest, DefaultsAreInMemoryAndNeverBlock) {
  absl::StatusOr<std::unique_ptr<Core>> core = NewCore(CoreOptions(), {});
  ASSERT_THAT(core, IsOk());
  EXPECT_FALSE((*core)->has_backends());
  EXPECT_THAT((*core)->CheckBackends(), IsOk());
  const PhoneChange& phone_change = (*core)->phone_change();
  for (Rpc rpc : {Rpc::kSendCode, Rpc::kVerify, Rpc::kUpdate, Rpc::kGetProfile}) {
    EXPECT_FALSE(phone_change.MayBlock(rpc)) << static_cast<int>(rpc);
  }
}

TEST(CoreFactoryTest, ASenderThatMayBlockMovesOnlyTheCallsThatText) {
  TestDir dir("core_factory_test");
  CoreOptions options;
  options.sms.sender = "outbox:" + dir.File("outbox.jsonl");
  absl::StatusOr<std::unique_ptr<Core>> core = NewCore(options, {});
  ASSERT_THAT(core, IsOk());
  const PhoneChange& phone_change = (*core)->phone_change();
  EXPECT_TRUE(phone_change.MayBlock(Rpc::kSendCode));
  EXPECT_FALSE(phone_change.MayBlock(Rpc::kVerify));
  EXPECT_FALSE(phone_change.MayBlock(Rpc::kUpdate));
  EXPECT_FALSE(phone_change.MayBlock(Rpc::kGetProfile));
}

TEST(CoreFactoryTest, InjectedComponentsAreUsed) {
  auto clock = std::make_shared<FakeClock>();
  auto sms = std::make_shared<CapturingSmsSender>(/*may_block=*/true);
  CoreOptions options;
  options.test_phone_codes = std::string(kTestPhone) + ":246810";
  CoreComponents components;
  components.clock = clock;
  components.sms = sms;
  absl::StatusOr<std::unique_ptr<Core>> core =
      NewCore(options, std::move(components));
  ASSERT_THAT(core, IsOk());
  EXPECT_EQ((*core)->components().clock, clock);
  EXPECT_EQ((*core)->components().sms, sms);
  PhoneChange& phone_change = (*core)->phone_change();
  EXPECT_TRUE(phone_change.MayBlock(Rpc::kSendCode));

  ASSERT_THAT(phone_change.SendCode(Call("u1"), {"+86", "13800138000",
                                                 CodePurpose::kNewPhone}),
              IsOk());
  ASSERT_EQ(sms->count(), 1u);
  // The test number is decided by its fixed code, ahead of texted codes.
  ASSERT_THAT(phone_change.SendCode(Call("u1"), {"+86", "13700000000",
                                                 CodePurpose::kNewPhone}),
              IsOk());
  EXPECT_EQ(sms->count(), 1u);
  VerifyInput input;
  input.new_phone_country_code = "+86";
  input.new_phone_number = "13700000000";
  input.new_phone_pass_code = "246810";
  EXPECT_THAT(phone_change.Verify(Call("u1"), input), IsOk());
}

// Each RPC on Redis makes a known number of round trips: a step added to a
// call shows here first (issue 15: Redis CPU per flow is mostly per round
// trip). Profiles stay in memory; PostgreSQL is a round trip of its own.
class RedisRoundTripsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.error();
    absl::StatusOr<BackendUrl> url =
        ParseBackendUrl(server_.url(), "redis", "REDIS_PASSWORD");
    ASSERT_TRUE(url.ok()) << url.status();
    redis_ = RedisClient::Create({*url});
    auto clock = std::make_shared<FakeClock>();
    CoreComponents components;
    components.clock = clock;
    components.sms = sms_;
    components.code_secret = std::string(32, 's');
    components.tokens = NewRedisTokenStore(redis_.get(), "rt:", clock, 1000);
    components.codes = NewRedisCodeStore(redis_.get(), "rt:", clock);
    components.limiter = NewRedisSendLimiter(redis_.get(), "rt:", {});
    components.idempotency =
        NewRedisIdempotencyStore(redis_.get(), "rt:", clock);
    CoreOptions options;
    options.test_phone_codes = "+8613700000001:246810,+8613700000002:246810";
    absl::StatusOr<std::unique_ptr<Core>> core =
        NewCore(options, std::move(components));
    ASSERT_THAT(core, IsOk());
    core_ = *std::move(core);
  }

  PhoneChange& phone_change() { return core_->phone_change(); }

  // The texted code of the last SendCode().
  std::string LastCode() const { return sms_->sent().back().code; }

  // Sends a code to +86 `number` for `purpose`; returns the round trips.
  uint64_t SendCode(const Caller& caller, const std::string& number,
                    CodePurpose purpose) {
    const uint64_t before = redis_->RoundTrips();
    EXPECT_THAT(phone_change().SendCode(caller, {"+86", number, purpose}),
                IsOk());
    return redis_->RoundTrips() - before;
  }

  // Changes the phone of `user` to +86 `number`, proving `old_number`
  // unless it is empty; returns the round trips of the verification and of
  // the update.
  std::pair<uint64_t, uint64_t> ChangePhone(const std::string& user,
                                            const std::string& old_number,
                                            const std::string& number) {
    VerifyInput input;
    if (!old_number.empty()) {
      SendCode(Call(user), old_number, CodePurpose::kOldPhone);
      input.old_phone_country_code = "+86";
      input.old_phone_number = old_number;
      input.old_phone_pass_code = LastCode();
    }
    SendCode(Call(user), number, CodePurpose::kNewPhone);
    input.new_phone_country_code = "+86";
    input.new_phone_number = number;
    input.new_phone_pass_code = LastCode();
    uint64_t before = redis_->RoundTrips();
    absl::StatusOr<VerifyResult> verified =
        phone_change().Verify(Call(user), input);
    EXPECT_THAT(verified, IsOk());
    const uint64_t verify = redis_->RoundTrips() - before;
    before = redis_->RoundTrips();
    EXPECT_THAT(
        phone_change().Update(Call(user), verified.ok() ? verified->token : ""),
        IsOk());
    return {verify, redis_->RoundTrips() - before};
  }

  RedisServer server_;
  std::shared_ptr<CapturingSmsSender> sms_ =
      std::make_shared<CapturingSmsSender>();
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<Core> core_;
};

TEST_F(RedisRoundTripsTest, EachRpcMakesAKnownNumberOfRoundTrips) {
  // A first flow loads every script Redis runs (a script's first use costs
  // a second round trip).
  ChangePhone("warm", "", "13800138001");
  ChangePhone("warm", "13800138001", "13800138002");
  Caller keyed = Call("warm");
  keyed.idempotency_key = "key-1";
  SendCode(keyed, "13800138003", CodePurpose::kNewPhone);

  EXPECT_EQ(SendCode(Call("u1"), "13800138011", CodePurpose::kNewPhone), 2u);
  keyed = Call("u1");
  keyed.idempotency_key = "key-1";
  EXPECT_EQ(SendCode(keyed, "13800138012", CodePurpose::kNewPhone), 4u);
  // The verification: its cap with the phones' wrong-code caps, the codes'
  // check, the token, the codes' use, the regions' verified counts.
  // The verification: its cap with the phones' wrong-code caps, the codes'
  // check, the token, the codes' use, the regions' verified counts.
  EXPECT_EQ(ChangePhone("u1", "", "13800138013"),
            std::make_pair(uint64_t{5}, uint64_t{3}));
  EXPECT_EQ(ChangePhone("u1", "13800138013", "13800138014"),
            std::make_pair(uint64_t{5}, uint64_t{3}));
  uint64_t before = redis_->RoundTrips();
  EXPECT_THAT(phone_change().GetProfile(Call("u1")), IsOk());
  EXPECT_EQ(redis_->RoundTrips() - before, 0u);

  // Test numbers (profile_bench's flow): their codes are fixed, never
  // stored, and not counted by the region breaker.
  EXPECT_EQ(SendCode(Call("u3"), "13700000001", CodePurpose::kNewPhone), 0u);
  VerifyInput input;
  input.new_phone_country_code = "+86";
  input.new_phone_number = "13700000001";
  input.new_phone_pass_code = "246810";
  before = redis_->RoundTrips();
  absl::StatusOr<VerifyResult> verified =
      phone_change().Verify(Call("u3"), input);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(redis_->RoundTrips() - before, 2u);
  ASSERT_THAT(phone_change().Update(Call("u3"), verified->token), IsOk());
  input.old_phone_country_code = "+86";
  input.old_phone_number = "13700000001";
  input.old_phone_pass_code = "246810";
  input.new_phone_number = "13700000002";
  before = redis_->RoundTrips();
  EXPECT_THAT(phone_change().Verify(Call("u3"), input), IsOk());
  EXPECT_EQ(redis_->RoundTrips() - before, 2u);
}

TEST_F(RedisRoundTripsTest, AWrongOldCodeCostsNeitherCodeButItself) {
  // Loads the scripts, that of counting a wrong code too.
  ChangePhone("u2", "", "13800138021");
  SendCode(Call("warm"), "13800138029", CodePurpose::kNewPhone);
  VerifyInput wrong;
  wrong.new_phone_country_code = "+86";
  wrong.new_phone_number = "13800138029";
  wrong.new_phone_pass_code = LastCode() == "000000" ? "000001" : "000000";
  ASSERT_THAT(
      phone_change().Verify(Call("warm"), wrong),
      StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode));

  SendCode(Call("u2"), "13800138021", CodePurpose::kOldPhone);
  const std::string old_code = LastCode();
  SendCode(Call("u2"), "13800138022", CodePurpose::kNewPhone);
  VerifyInput input;
  input.new_phone_country_code = "+86";
  input.new_phone_number = "13800138022";
  input.new_phone_pass_code = LastCode();
  input.old_phone_country_code = "+86";
  input.old_phone_number = "13800138021";
  input.old_phone_pass_code = old_code == "000000" ? "000001" : "000000";
  uint64_t before = redis_->RoundTrips();
  EXPECT_THAT(
      phone_change().Verify(Call("u2"), input),
      StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kWrongCode));
  // The limits, the check, the wrong code counted.
  EXPECT_EQ(redis_->RoundTrips() - before, 3u);
  input.old_phone_pass_code = old_code;
  EXPECT_THAT(phone_change().Verify(Call("u2"), input), IsOk());
  // Both codes are used up.
  EXPECT_THAT(
      phone_change().Verify(Call("u2"), input),
      StatusIs(absl::StatusCode::kInvalidArgument, ApiCode::kCodeExpired));
}

TEST(CoreFactoryTest, BadOptionsNameTheirFlag) {
  const struct {
    void (*set)(CoreOptions&);
    const char* message;
  } cases[] = {
      {[](CoreOptions& o) { o.phone_change.code_length = 3; },
       "--code_length must be from 4 to 10"},
      {[](CoreOptions& o) { o.phone_change.token_ttl = absl::Hours(2); },
       "--token_ttl must be from 1s to 1h"},
      {[](CoreOptions& o) {
         o.phone_change.send_limits.max_per_user_per_hour = 0;
       },
       "--max_codes_per_user_per_hour must be from 1 to 1000000"},
      {[](CoreOptions& o) {
         o.phone_change.send_limits.region_breaker_min_conversion = 2;
       },
       "--region_breaker_min_conversion must be from 0"},
      {[](CoreOptions& o) { o.stores.redis_url = "redis://127.0.0.1:6379"; },
       "--code_secret_file is required with --redis_url"},
      {[](CoreOptions& o) { o.stores.max_live_tokens = 0; },
       "--max_live_tokens must be at least 1"},
      {[](CoreOptions& o) { o.stores.backend_pool_size = 0; },
       "--backend_pool_size must be from 1 to 1000"},
      {[](CoreOptions& o) { o.sms.sender = "carrier-pigeon"; },
       "--sms_sender"},
      {[](CoreOptions& o) { o.test_phone_codes = "+86123:1"; },
       "--test_phone_codes"},
      {[](CoreOptions& o) { o.stores.redis_url = "http://x"; },
       "--redis_url"},
  };
  for (const auto& c : cases) {
    CoreOptions options;
    c.set(options);
    EXPECT_THAT(NewCore(options, {}).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(c.message)));
  }
}

TEST(CoreFactoryTest, CodeSecretFileIsReadOnceAndChecked) {
  TestDir dir("core_factory_test");
  CoreOptions options;
  options.code_secret_file = dir.Write("short", "too short\n");
  EXPECT_THAT(NewCore(options, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--code_secret_file must hold at least 32")));
  options.code_secret_file = dir.File("missing");
  EXPECT_THAT(NewCore(options, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--code_secret_file")));
  const std::string secret(40, 's');
  options.code_secret_file = dir.Write("secret", secret + "\n");
  absl::StatusOr<std::unique_ptr<Core>> core = NewCore(options, {});
  ASSERT_THAT(core, IsOk());
  EXPECT_EQ((*core)->components().code_secret, secret);
}

}  // namespace
}  // namespace profile
