#include "server/service/call_context.h"

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "grpcpp/support/string_ref.h"
#include "gtest/gtest.h"
#include "tests/testing/call_metadata.h"
#include "server/common/api_error.h"

namespace profile {
namespace {

using ::testing::MatchesRegex;

constexpr char kUuidV4[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

using Metadata = ::profile::testing::FakeMetadata;

std::string RequestIdOf(const std::string& id) {
  return RequestIdFrom(Metadata{{"x-request-id", id}}.map());
}

Language LanguageOf(Metadata metadata) { return LanguageFrom(metadata.map()); }

TEST(NewRequestIdTest, IsAUuidV4) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string id = NewRequestId();
    EXPECT_THAT(id, MatchesRegex(kUuidV4));
    EXPECT_TRUE(seen.insert(id).second) << "repeated " << id;
  }
}

TEST(RequestIdFromTest, KeepsASaneId) {
  for (const std::string& id :
       {std::string("req-123"), std::string("a"),
        std::string("abc.DEF_1:2-3"),
        std::string("0b5f6a8e-3c1d-4f3e-9a51-5e7b1c2d3e4f"),
        std::string(kMaxRequestIdBytes, 'x')}) {
    EXPECT_EQ(RequestIdOf(id), id);
  }
}

TEST(RequestIdFromTest, ReplacesAnInsaneIdWithAUuid) {
  for (const std::string& id : {
           std::string(""),
           std::string(kMaxRequestIdBytes + 1, 'x'),
           std::string(1000, 'x'),
           std::string("has space"),
           std::string("slash/id"),
           std::string("semi;colon"),
           std::string("quote\"id"),
           std::string("new\nline"),
           std::string("tab\tid"),
           std::string("nul\0id", 6),
           std::string("\xE4\xB8\xAD"),
           std::string("bidi\xE2\x80\xAE"),
           std::string("\xFF"),
           std::string("{\"json\":1}"),
       }) {
    const std::string result = RequestIdOf(id);
    EXPECT_THAT(result, MatchesRegex(kUuidV4)) << "[" << id << "]";
    EXPECT_NE(result, id);
  }
}

TEST(RequestIdFromTest, MissingIdGetsAFreshUuidEachTime) {
  Metadata empty;
  const std::string a = RequestIdFrom(empty.map());
  const std::string b = RequestIdFrom(empty.map());
  EXPECT_THAT(a, MatchesRegex(kUuidV4));
  EXPECT_THAT(b, MatchesRegex(kUuidV4));
  EXPECT_NE(a, b);
}

TEST(RequestIdFromTest, OtherKeysAreNotUsed) {
  const std::string id =
      RequestIdFrom(Metadata{{"x-request", "abc"}, {"request-id", "abc"}}.map());
  EXPECT_THAT(id, MatchesRegex(kUuidV4));
}

TEST(LanguageFromTest, AuthingLangAsksForChinese) {
  for (const char* lang : {"zh-CN", "zh", "zh-Hans", "zh-TW", "zh_CN", "ZH-cn",
                           "Zh", " zh-CN"}) {
    EXPECT_EQ(LanguageOf({{"x-authing-lang", lang}}), Language::kChinese)
        << lang;
  }
}

TEST(LanguageFromTest, OtherLanguagesAreEnglish) {
  for (const char* lang :
       {"en-US", "en", "zhx", "zhuang", "z", "", "fr-FR", "ja", "cn",
        "en-US,zh-CN", "x-zh"}) {
    EXPECT_EQ(LanguageOf({{"x-authing-lang", lang}}), Language::kEnglish)
        << lang;
  }
}

TEST(LanguageFromTest, NoHeadersIsEnglish) {
  EXPECT_EQ(LanguageOf({}), Language::kEnglish);
}

TEST(LanguageFromTest, AcceptLanguageFirstRangeDecides) {
  EXPECT_EQ(LanguageOf({{"accept-language", "zh-CN,zh;q=0.9"}}),
            Language::kChinese);
  EXPECT_EQ(LanguageOf({{"accept-language", "zh;q=0.9,en;q=0.8"}}),
            Language::kChinese);
  EXPECT_EQ(LanguageOf({{"accept-language", "zh,en"}}), Language::kChinese);
  EXPECT_EQ(LanguageOf({{"accept-language", "en-US"}}), Language::kEnglish);
  EXPECT_EQ(LanguageOf({{"accept-language", "en-US,en;q=0.9,zh;q=0.8"}}),
            Language::kEnglish);
  EXPECT_EQ(LanguageOf({{"accept-language", "zhx"}}), Language::kEnglish);
  EXPECT_EQ(LanguageOf({{"accept-language", "*"}}), Language::kEnglish);
}

TEST(LanguageFromTest, AuthingLangTakesPrecedence) {
  EXPECT_EQ(LanguageOf({{"x-authing-lang", "en-US"},
                        {"accept-language", "zh-CN,zh;q=0.9"}}),
            Language::kEnglish);
  EXPECT_EQ(LanguageOf({{"x-authing-lang", "zh-CN"},
                        {"accept-language", "en-US"}}),
            Language::kChinese);
  // An empty x-authing-lang is as good as none.
  EXPECT_EQ(LanguageOf({{"x-authing-lang", ""},
                        {"accept-language", "zh-CN"}}),
            Language::kChinese);
}

TEST(LocalizedMessageTest, EnglishIsTheCoreMessage) {
  const absl::Status status =
      ApiError(ApiCode::kWrongCode, "the verification code is wrong");
  EXPECT_EQ(LocalizedMessage(status, Language::kEnglish),
            "the verification code is wrong");
  EXPECT_EQ(LocalizedMessage(absl::InternalError("boom"), Language::kEnglish),
            "boom");
}

TEST(LocalizedMessageTest, ChineseByApiCode) {
  const std::pair<ApiCode, const char*> table[] = {
      {ApiCode::kUnauthenticated, "未登录或身份无效"},
      {ApiCode::kWrongCode, "验证码错误"},
      {ApiCode::kPhoneTaken, "该手机号已被其他账号绑定"},
      {ApiCode::kNoCurrentPhone, "当前账号未绑定手机号"},
      {ApiCode::kOldPhoneMismatch, "旧手机号与账号绑定的手机号不一致"},
      {ApiCode::kTooFrequent, "请求过于频繁，请稍后再试"},
      {ApiCode::kSmsFailed, "短信发送失败，请稍后再试"},
      {ApiCode::kSamePhone, "新手机号与当前手机号相同"},
      {ApiCode::kCodeExpired, "验证码已失效，请重新获取"},
      {ApiCode::kTokenNotFound, "修改手机号的凭证无效、已过期或已使用"},
      {ApiCode::kTokenOtherUser, "修改手机号的凭证不属于当前用户"},
      {ApiCode::kTooManyTokens, "服务繁忙，请稍后再试"},
      {ApiCode::kUnavailable, "服务暂不可用，请稍后再试"},
      {ApiCode::kDeadlineExceeded, "请求超时"},
      {ApiCode::kInternal, "服务内部错误"},
  };
  for (const auto& [code, chinese] : table) {
    EXPECT_EQ(LocalizedMessage(ApiError(code, "english text"),
                               Language::kChinese),
              chinese)
        << static_cast<int>(code);
  }
}

TEST(LocalizedMessageTest, ChineseInvalidArgumentNamesTheField) {
  EXPECT_EQ(LocalizedMessage(ApiError(ApiCode::kInvalidArgument,
                                      "new_phone_number: is required",
                                      "new_phone_number"),
                             Language::kChinese),
            "请求参数无效：new_phone_number");
  EXPECT_EQ(LocalizedMessage(ApiError(ApiCode::kInvalidArgument, "bad"),
                             Language::kChinese),
            "请求参数无效");
}

TEST(LocalizedMessageTest, ChineseForPlainStatuses) {
  EXPECT_EQ(LocalizedMessage(absl::InternalError("stack trace here"),
                             Language::kChinese),
            "服务内部错误");
  EXPECT_EQ(LocalizedMessage(absl::UnavailableError("db down"),
                             Language::kChinese),
            "服务暂不可用，请稍后再试");
  EXPECT_EQ(LocalizedMessage(absl::InvalidArgumentError("x"),
                             Language::kChinese),
            "请求参数无效");
}

TEST(SuccessMessageTest, ByLanguage) {
  EXPECT_EQ(SuccessMessage(Language::kEnglish), "success");
  EXPECT_EQ(SuccessMessage(Language::kChinese), "操作成功");
}

TEST(TraceContextFromTest, ReadsAWellFormedTraceparent) {
  const TraceContext trace = TraceContextFrom(
      Metadata{{"traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
          .map());
  EXPECT_EQ(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace.span_id, "00f067aa0ba902b7");
}

TEST(TraceContextFromTest, MissingMalformedOrRepeatedIsNoTrace) {
  EXPECT_FALSE(TraceContextFrom(Metadata{}.map()).has_trace());
  EXPECT_FALSE(
      TraceContextFrom(Metadata{{"traceparent", "not a trace"}}.map())
          .has_trace());
  Metadata twice{
      {"traceparent",
       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"traceparent",
       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01"}};
  EXPECT_FALSE(TraceContextFrom(twice.map()).has_trace());
}

TEST(IdempotencyKeyFromTest, NoKeyIsEmpty) {
  absl::StatusOr<std::string> key = IdempotencyKeyFrom(Metadata{}.map());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "");
}

TEST(IdempotencyKeyFromTest, KeepsAWellFormedKey) {
  for (const std::string& id :
       {std::string("k"), std::string("abc.DEF_1:2-3"),
        std::string(64, 'x')}) {
    absl::StatusOr<std::string> key =
        IdempotencyKeyFrom(Metadata{{"x-idempotency-key", id}}.map());
    ASSERT_TRUE(key.ok()) << id;
    EXPECT_EQ(*key, id);
  }
}

TEST(IdempotencyKeyFromTest, RefusesAMalformedKeyNamingIt) {
  for (const std::string& id :
       {std::string(""), std::string(65, 'x'), std::string("has space"),
        std::string("slash/id"), std::string("é")}) {
    absl::StatusOr<std::string> key =
        IdempotencyKeyFrom(Metadata{{"x-idempotency-key", id}}.map());
    ASSERT_FALSE(key.ok()) << id;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ApiCodeOf(key.status()), ApiCode::kInvalidArgument);
    EXPECT_EQ(FieldOf(key.status()), "x-idempotency-key");
  }
}

TEST(IdempotencyKeyFromTest, RefusesARepeatedKey) {
  Metadata metadata{{"x-idempotency-key", "a"}};
  metadata.Add("x-idempotency-key", "a");
  absl::StatusOr<std::string> key = IdempotencyKeyFrom(metadata.map());
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(FieldOf(key.status()), "x-idempotency-key");
}

}  // namespace
}  // namespace profile
