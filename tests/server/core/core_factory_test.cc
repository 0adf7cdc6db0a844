#include "server/core/core_factory.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/api_error.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_dir.h"

namespace profile {
namespace {

using ::profile::testing::CapturingSmsSender;
using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
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
