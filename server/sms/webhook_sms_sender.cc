#include "server/sms/webhook_sms_sender.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "server/common/crypto.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"
#include "server/common/language.h"

namespace profile {
namespace {

constexpr absl::string_view kSecretPrefix = "whsec_";

class WebhookSmsSender final : public SmsProvider {
 public:
  WebhookSmsSender(std::string url, std::vector<std::string> secrets,
                   std::shared_ptr<HttpClient> http)
      : url_(std::move(url)), secrets_(std::move(secrets)), http_(std::move(http)) {}

  absl::string_view name() const override { return "webhook"; }

  SmsAttempt Attempt(const SmsMessage& message,
                     absl::Duration timeout) override {
    nlohmann::ordered_json body;
    body["type"] = std::string(SmsTypeName(message.type));
    body["phone_e164"] = message.phone_e164;
    if (message.type == SmsType::kVerificationCode) {
      body["code"] = message.code;
      body["purpose"] = std::string(CodePurposeName(message.purpose));
    }
    body["locale"] = LanguageTag(message.language);
    body["text"] = message.text;
    if (message.type == SmsType::kPhoneChangedNotice) {
      body["revert_token"] = message.revert_token;
      body["revert_expires_in"] =
          absl::ToInt64Seconds(message.revert_expires_in);
    }
    body["request_id"] = message.request_id;
    HttpRequest request;
    request.url = url_;
    request.body =
        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string id = absl::StrCat("msg_", Base64UrlEncode(RandomBytes(16)));
    const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    request.headers = {
        {"Content-Type", "application/json"},
        {"webhook-id", id},
        {"webhook-timestamp", timestamp},
        {"webhook-signature",
         WebhookSignature(secrets_, id, timestamp, request.body)}};
    const std::string traceparent = message.trace.Traceparent();
    if (!traceparent.empty()) request.headers.emplace_back("traceparent", traceparent);
    request.timeout = timeout;

    absl::StatusOr<HttpResponse> response = http_->Do(request);
    if (!response.ok()) {
      SmsAttempt attempt;
      attempt.status = response.status();
      attempt.retryable = true;
      return attempt;
    }
    SmsAttempt attempt =
        HttpAttempt("the SMS webhook", response->status,
                    response->Header("retry-after"));
    attempt.message_id = id;
    return attempt;
  }

 private:
  const std::string url_;
  const std::vector<std::string> secrets_;
  const std::shared_ptr<HttpClient> http_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseWebhookSecrets(
    absl::string_view text) {
  std::vector<std::string> secrets;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::string key;
    if (!absl::ConsumePrefix(&line, kSecretPrefix) ||
        !absl::Base64Unescape(line, &key) || key.size() < 24 ||
        key.size() > 64) {
      return InvalidFlagError(
          "sms_webhook_secret_file",
          absl::StrCat("line ", line_number,
                       " is not whsec_ and the base64 of 24 to 64 bytes"));
    }
    secrets.push_back(std::move(key));
  }
  if (secrets.empty()) {
    return InvalidFlagError("sms_webhook_secret_file", "holds no secret");
  }
  return secrets;
}

std::string WebhookSignature(const std::vector<std::string>& secrets,
                             absl::string_view id, absl::string_view timestamp,
                             absl::string_view body) {
  const std::string content = absl::StrCat(id, ".", timestamp, ".", body);
  std::vector<std::string> signatures;
  signatures.reserve(secrets.size());
  for (const std::string& secret : secrets) {
    signatures.push_back(
        absl::StrCat("v1,", absl::Base64Escape(HmacSha256(secret, content))));
  }
  return absl::StrJoin(signatures, " ");
}

absl::StatusOr<std::unique_ptr<SmsProvider>> NewWebhookSmsSender(
    const WebhookSmsOptions& options, std::shared_ptr<HttpClient> http) {
  if (options.url.empty()) {
    return InvalidFlagError("sms_webhook_url",
                            "is required by --sms_sender=webhook");
  }
  absl::Status url = CheckProviderUrl("sms_webhook_url", options.url);
  if (!url.ok()) return url;
  if (options.secret_file.empty()) {
    return InvalidFlagError("sms_webhook_secret_file",
                            "is required by --sms_sender=webhook");
  }
  absl::StatusOr<std::string> text =
      ReadFlagFile("sms_webhook_secret_file", options.secret_file);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<std::string>> secrets = ParseWebhookSecrets(*text);
  if (!secrets.ok()) return secrets.status();
  return std::make_unique<WebhookSmsSender>(options.url, *std::move(secrets),
                                            std::move(http));
}

}  // namespace profile
