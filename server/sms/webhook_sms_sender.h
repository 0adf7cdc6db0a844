// The `webhook` SMS provider: POSTs each message as JSON to a URL of the
// deployment's own, signed as the Standard Webhooks specification says
// (https://www.standardwebhooks.com), so an SMS gateway of any make can
// deliver it and check that it came from us.
//
// Headers: webhook-id (msg_<random>), webhook-timestamp (Unix seconds),
// webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per
// secret, space-separated: secrets rotate without downtime).
// Body: {"type":"verification_code","phone_e164":...,"code":...,
//        "purpose":"new_phone"|"old_phone","locale":"en"|"zh-CN","text":...,
//        "request_id":...}. Any 2xx answer is a delivery.
#ifndef PROFILE_SERVER_SMS_WEBHOOK_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_WEBHOOK_SMS_SENDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/http/http_client.h"
#include "server/sms/sms_provider.h"

namespace profile {

struct WebhookSmsOptions {
  // --sms_webhook_url: https://, or http:// to a loopback address.
  std::string url;
  // --sms_webhook_secret_file: one `whsec_<base64>` secret per line.
  std::string secret_file;
};

// Returns the secrets of a --sms_webhook_secret_file's text: one
// `whsec_<base64 of 24 to 64 bytes>` per non-empty line. INVALID_ARGUMENT
// naming the flag, never quoting a secret, if a line is not one.
absl::StatusOr<std::vector<std::string>> ParseWebhookSecrets(
    absl::string_view text);

// Returns the webhook-signature header value for `secrets` (raw bytes):
// "v1,<base64 HMAC-SHA256(secret, id + "." + timestamp + "." + body)>" per
// secret, separated by spaces.
std::string WebhookSignature(const std::vector<std::string>& secrets,
                             absl::string_view id, absl::string_view timestamp,
                             absl::string_view body);

// Returns the provider. INVALID_ARGUMENT naming --sms_webhook_url or
// --sms_webhook_secret_file if either is missing or wrong.
absl::StatusOr<std::unique_ptr<SmsProvider>> NewWebhookSmsSender(
    const WebhookSmsOptions& options, std::shared_ptr<HttpClient> http);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_WEBHOOK_SMS_SENDER_H_
