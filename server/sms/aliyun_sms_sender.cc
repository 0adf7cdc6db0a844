#include "server/sms/aliyun_sms_sender.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/common/crypto.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"

namespace profile {
namespace {

// The longest piece of Aliyun's own error message quoted in a status.
constexpr size_t kMaxQuotedMessage = 200;

// Returns HMAC-SHA1(key, data), 20 bytes.
std::string HmacSha1(absl::string_view key, absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           digest, &length) == nullptr) {
    // Only an allocation failure in OpenSSL gets here.
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// Returns the number as SendSms's PhoneNumbers wants it: mainland China
// without the country code, any other with it, never with the '+'.
std::string AliyunPhoneNumber(absl::string_view e164) {
  absl::string_view number = e164;
  if (!absl::ConsumePrefix(&number, "+86")) absl::ConsumePrefix(&number, "+");
  return std::string(number);
}

// Returns whether an answer with Aliyun's `code` may succeed if sent again
// to Aliyun soon. From Alibaba Cloud's SMS error code list: "Throttling"
// and "Throttling.*" are the API's request-rate flow control (QPS), which
// lets the next request through within a second, and "isp.SYSTEM_ERROR" is
// theirs to fix ("try again later"). isv.BUSINESS_LIMIT_CONTROL is not
// retryable: it is the per-number limit on messages per minute, hour and
// day, which another attempt in the next seconds only hits again (another
// provider may still deliver).
bool IsRetryableAliyunCode(absl::string_view code) {
  return code == "Throttling" || absl::StartsWith(code, "Throttling.") ||
         code == "isp.SYSTEM_ERROR";
}

// Returns the string member `name` of `json`, or "".
std::string StringMember(const nlohmann::json& json, const char* name) {
  if (!json.is_object()) return "";
  auto it = json.find(name);
  if (it == json.end() || !it->is_string()) return "";
  std::string value = it->get<std::string>();
  if (value.size() > kMaxQuotedMessage) {
    value.resize(kMaxQuotedMessage);
    value += "...";
  }
  return value;
}

// Returns " (aliyun <Code>: <Message>)" for an Aliyun answer, or "" when it
// carries no Code.
std::string AliyunErrorDetail(const nlohmann::json& json) {
  const std::string code = StringMember(json, "Code");
  if (code.empty()) return "";
  const std::string message = StringMember(json, "Message");
  if (message.empty()) return absl::StrCat(" (aliyun ", code, ")");
  return absl::StrCat(" (aliyun ", code, ": ", message, ")");
}

class AliyunSmsSender final : public SmsProvider {
 public:
  AliyunSmsSender(const AliyunSmsOptions& options, std::string secret,
                  std::shared_ptr<HttpClient> http)
      : url_(absl::StrCat(absl::StripSuffix(options.api_url, "/"), "/")),
        access_key_id_(options.access_key_id),
        secret_(std::move(secret)),
        sign_name_(options.sign_name),
        template_code_(options.template_code),
        http_(std::move(http)) {}

  absl::string_view name() const override { return "aliyun"; }

  SmsAttempt Attempt(const SmsMessage& message,
                     absl::Duration timeout) override {
    // Aliyun sends only texts from templates it approved, and
    // --aliyun_template_code is the code's: a notice goes to the next
    // provider of the chain rather than out as an empty code.
    if (message.type != SmsType::kVerificationCode) {
      SmsAttempt refused;
      refused.status = absl::FailedPreconditionError(absl::StrCat(
          "aliyun sends only verification codes (one approved template), "
          "not a ", SmsTypeName(message.type)));
      return refused;
    }
    // Sorted by name already, as the signature wants them.
    HttpFields params = {
        {"AccessKeyId", access_key_id_},
        {"Action", "SendSms"},
        {"Format", "JSON"},
        {"PhoneNumbers", AliyunPhoneNumber(message.phone_e164)},
        {"RegionId", "cn-hangzhou"},
        {"SignName", sign_name_},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureNonce", absl::BytesToHexString(RandomBytes(16))},
        {"SignatureVersion", "1.0"},
        {"TemplateCode", template_code_},
        {"TemplateParam", nlohmann::json{{"code", message.code}}.dump()},
        {"Timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(),
                                       absl::UTCTimeZone())},
        {"Version", "2017-05-25"},
    };
    params.emplace_back("Signature", AliyunSignature(secret_, "POST", params));

    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    const std::string traceparent = message.trace.Traceparent();
    if (!traceparent.empty()) {
      request.headers.emplace_back("traceparent", traceparent);
    }
    request.body = FormEncode(params);
    request.timeout = timeout;

    absl::StatusOr<HttpResponse> response = http_->Do(request);
    if (!response.ok()) {
      SmsAttempt attempt;
      attempt.status = absl::UnavailableError(
          absl::StrCat("aliyun: ", response.status().message()));
      attempt.retryable = true;
      return attempt;
    }
    SmsAttempt attempt = HttpAttempt("aliyun", response->status,
                                     response->Header("retry-after"));
    const nlohmann::json json = nlohmann::json::parse(
        response->body, nullptr, /*allow_exceptions=*/false);
    if (!attempt.status.ok()) {
      // Aliyun answers a bad signature or a throttled request with a 4xx
      // and its Code in the body.
      const std::string code = StringMember(json, "Code");
      if (!code.empty()) {
        attempt.status =
            absl::Status(attempt.status.code(),
                         absl::StrCat(attempt.status.message(),
                                      AliyunErrorDetail(json)));
        if (IsRetryableAliyunCode(code)) attempt.retryable = true;
      }
      return attempt;
    }
    const std::string code = StringMember(json, "Code");
    if (code.empty()) {
      // Aliyun may have taken the message: not retryable, outcome unknown.
      attempt.status =
          absl::UnknownError("aliyun answered without a result Code");
      return attempt;
    }
    if (code != "OK") {
      attempt.status = absl::UnavailableError(
          absl::StrCat("aliyun refused the message", AliyunErrorDetail(json)));
      attempt.retryable = IsRetryableAliyunCode(code);
      return attempt;
    }
    attempt.message_id = StringMember(json, "BizId");
    return attempt;
  }

 private:
  const std::string url_;
  const std::string access_key_id_;
  const std::string secret_;
  const std::string sign_name_;
  const std::string template_code_;
  const std::shared_ptr<HttpClient> http_;
};

}  // namespace

std::string AliyunSignature(absl::string_view access_key_secret,
                            absl::string_view method,
                            const HttpFields& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    encoded.emplace_back(PercentEncode(name), PercentEncode(value));
  }
  // Sorted by the names' bytes. Sorting the encoded names orders them as the
  // raw names for every name made of unreserved characters, which all of
  // the API's are.
  std::sort(encoded.begin(), encoded.end());
  const std::string canonical = absl::StrJoin(
      encoded, "&", [](std::string* out, const auto& pair) {
        absl::StrAppend(out, pair.first, "=", pair.second);
      });
  const std::string string_to_sign =
      absl::StrCat(method, "&", PercentEncode("/"), "&",
                   PercentEncode(canonical));
  return absl::Base64Escape(
      HmacSha1(absl::StrCat(access_key_secret, "&"), string_to_sign));
}

absl::StatusOr<std::unique_ptr<SmsProvider>> NewAliyunSmsSender(
    const AliyunSmsOptions& options, std::shared_ptr<HttpClient> http) {
  if (options.access_key_id.empty()) {
    return InvalidFlagError("aliyun_access_key_id", "is required");
  }
  std::string secret = options.access_key_secret;
  if (secret.empty()) {
    if (options.access_key_secret_file.empty()) {
      return InvalidFlagError(
          "aliyun_access_key_secret_file",
          "is required when $ALIYUN_ACCESS_KEY_SECRET is not set");
    }
    absl::StatusOr<std::string> read = ReadSecretFile(
        "aliyun_access_key_secret_file", options.access_key_secret_file);
    if (!read.ok()) return read.status();
    secret = std::string(absl::StripSuffix(
        absl::string_view(*read).substr(0, read->find('\n')), "\r"));
    if (secret.empty()) {
      return InvalidFlagError("aliyun_access_key_secret_file",
                              "holds an empty first line");
    }
  }
  if (options.sign_name.empty()) {
    return InvalidFlagError("aliyun_sign_name", "is required");
  }
  if (options.template_code.empty()) {
    return InvalidFlagError("aliyun_template_code", "is required");
  }
  absl::Status url = CheckProviderUrl("aliyun_api_url", options.api_url);
  if (!url.ok()) return url;
  return std::unique_ptr<SmsProvider>(
      new AliyunSmsSender(options, std::move(secret), std::move(http)));
}

}  // namespace profile
