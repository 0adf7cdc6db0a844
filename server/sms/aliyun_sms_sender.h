// The `aliyun` SMS provider: Alibaba Cloud SMS, API Dysmsapi 2017-05-25,
// action SendSms, RPC style, signed with signature version 1.0
// (HMAC-SHA1 over the sorted, percent-encoded parameters).
//
//   POST {api_url}/   Content-Type: application/x-www-form-urlencoded
//   AccessKeyId=...&Action=SendSms&Format=JSON&PhoneNumbers=13800138000
//   &RegionId=cn-hangzhou&SignName=...&SignatureMethod=HMAC-SHA1
//   &SignatureNonce=...&SignatureVersion=1.0&TemplateCode=SMS_...
//   &TemplateParam={"code":"123456"}&Timestamp=2026-12-02T06:39:22Z
//   &Version=2017-05-25&Signature=...
//
// The answer is JSON; `"Code":"OK"` is a delivery (its BizId the message
// id), any other Code a failure. Numbers in mainland China go without +86,
// others as country code and number without the +.
#ifndef PROFILE_SERVER_SMS_ALIYUN_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_ALIYUN_SMS_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/http/http_client.h"
#include "server/sms/sms_provider.h"

namespace profile {

struct AliyunSmsOptions {
  // --aliyun_api_url.
  std::string api_url = "https://dysmsapi.aliyuncs.com";
  // --aliyun_access_key_id.
  std::string access_key_id;
  // The secret: $ALIYUN_ACCESS_KEY_SECRET, else the first line of
  // --aliyun_access_key_secret_file.
  std::string access_key_secret;
  std::string access_key_secret_file;
  // --aliyun_sign_name (the approved signature, e.g. 阿里云短信测试) and
  // --aliyun_template_code (e.g. SMS_154950909, a template with ${code}).
  std::string sign_name;
  std::string template_code;
};

// Returns the Signature parameter of an RPC-style request: base64 of
// HMAC-SHA1(secret + "&", method + "&%2F&" + PercentEncode(canonical query))
// where the canonical query is `params` sorted by name, each name and value
// percent-encoded, joined with '=' and '&'.
std::string AliyunSignature(absl::string_view access_key_secret,
                            absl::string_view method, const HttpFields& params);

// Returns the provider. INVALID_ARGUMENT naming the flag at fault if an
// option is missing or wrong. A failure quotes Aliyun's `Code` and
// `Message`; it is retryable for the API's flow control (Throttling*) and
// isp.SYSTEM_ERROR, not for isv.BUSINESS_LIMIT_CONTROL (the per-number
// limit, which holds for minutes to a day).
// REQUIRES: `http` is not null.
absl::StatusOr<std::unique_ptr<SmsProvider>> NewAliyunSmsSender(
    const AliyunSmsOptions& options, std::shared_ptr<HttpClient> http);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_ALIYUN_SMS_SENDER_H_
