#include "server/service/call_context.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"

namespace profile {
namespace {

absl::string_view Lookup(const CallMetadata& metadata, absl::string_view key) {
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

bool IsSaneRequestId(absl::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdBytes &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' ||
                  c == ':' || c == '-';
         });
}

// Returns true if an Accept-Language style value prefers Chinese: its first
// language range is zh or zh-*.
bool AsksForChinese(absl::string_view value) {
  value = absl::StripLeadingAsciiWhitespace(value);
  if (value.size() < 2 || !absl::StartsWithIgnoreCase(value, "zh")) {
    return false;
  }
  return value.size() == 2 || value[2] == '-' || value[2] == '_' ||
         value[2] == ',' || value[2] == ';';
}

absl::string_view ChineseMessage(ApiCode code) {
  switch (code) {
    case ApiCode::kUnauthenticated:
      return "未登录或身份无效";
    case ApiCode::kInvalidArgument:
      return "请求参数无效";
    case ApiCode::kWrongCode:
      return "验证码错误";
    case ApiCode::kPhoneTaken:
      return "该手机号已被其他账号绑定";
    case ApiCode::kNoCurrentPhone:
      return "当前账号未绑定手机号";
    case ApiCode::kOldPhoneMismatch:
      return "旧手机号与账号绑定的手机号不一致";
    case ApiCode::kTooFrequent:
      return "请求过于频繁，请稍后再试";
    case ApiCode::kSmsFailed:
      return "短信发送失败，请稍后再试";
    case ApiCode::kSamePhone:
      return "新手机号与当前手机号相同";
    case ApiCode::kCodeExpired:
      return "验证码已失效，请重新获取";
    case ApiCode::kTokenNotFound:
      return "修改手机号的凭证无效、已过期或已使用";
    case ApiCode::kTokenOtherUser:
      return "修改手机号的凭证不属于当前用户";
    case ApiCode::kTooManyTokens:
      return "服务繁忙，请稍后再试";
    case ApiCode::kUnavailable:
      return "服务暂不可用，请稍后再试";
    case ApiCode::kDeadlineExceeded:
      return "请求超时";
    case ApiCode::kCancelled:
      return "请求已取消";
    case ApiCode::kOk:
      return "操作成功";
    case ApiCode::kInternal:
      break;
  }
  return "服务内部错误";
}

}  // namespace

std::string NewRequestId() {
  std::string bytes = RandomBytes(16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122
  // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx, written in place: one allocation.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t out = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (out == 8 || out == 13 || out == 18 || out == 23) ++out;
    const auto b = static_cast<unsigned char>(bytes[i]);
    id[out++] = kHex[b >> 4];
    id[out++] = kHex[b & 0x0F];
  }
  return id;
}

std::string RequestIdFrom(const CallMetadata& metadata) {
  absl::string_view id = Lookup(metadata, "x-request-id");
  return IsSaneRequestId(id) ? std::string(id) : NewRequestId();
}

Language LanguageFrom(const CallMetadata& metadata) {
  absl::string_view lang = Lookup(metadata, "x-authing-lang");
  if (lang.empty()) lang = Lookup(metadata, "accept-language");
  return AsksForChinese(lang) ? Language::kChinese : Language::kEnglish;
}

std::string LocalizedMessage(const absl::Status& status, Language language) {
  if (language == Language::kEnglish) return std::string(status.message());
  const ApiCode code = ApiCodeOf(status);
  std::string field = FieldOf(status);
  if (code == ApiCode::kInvalidArgument && !field.empty()) {
    return absl::StrCat(ChineseMessage(code), "：", field);
  }
  return std::string(ChineseMessage(code));
}

absl::string_view SuccessMessage(Language language) {
  return language == Language::kChinese ? "操作成功" : "success";
}

}  // namespace profile
