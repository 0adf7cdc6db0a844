// The `twilio` SMS provider: Twilio Programmable Messaging.
//
//   POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json
//   Authorization: Basic base64(account_sid:auth_token)
//   To=+8613800138000&Body=...&From=+15005550006   (or MessagingServiceSid=MG...)
//
// A 201 with the message's `sid` is a delivery. The credentials are shared
// with Twilio Verify (server/codes/twilio_verify_code_verifier.h).
#ifndef PROFILE_SERVER_SMS_TWILIO_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_TWILIO_SMS_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/http/http_client.h"
#include "server/sms/sms_provider.h"

namespace profile {

struct TwilioOptions {
  // --twilio_account_sid.
  std::string account_sid;
  // The auth token: $TWILIO_AUTH_TOKEN, else read from auth_token_file.
  std::string auth_token;
  // --twilio_auth_token_file.
  std::string auth_token_file;

  // Programmable Messaging: --twilio_api_url, and exactly one of
  // --twilio_from and --twilio_messaging_service_sid.
  std::string api_url = "https://api.twilio.com";
  std::string from;
  std::string messaging_service_sid;

  // Verify: --twilio_verify_api_url and --twilio_verify_service_sid.
  std::string verify_api_url = "https://verify.twilio.com";
  std::string verify_service_sid;
};

// Returns the auth token `options` names: auth_token if set, else the
// first line of auth_token_file. INVALID_ARGUMENT naming
// --twilio_auth_token_file when there is neither, or the file cannot be
// read.
absl::StatusOr<std::string> TwilioAuthToken(const TwilioOptions& options);

// Returns the provider. INVALID_ARGUMENT naming the flag at fault if an
// option is missing or wrong. A refusal (4xx) quotes Twilio's error `code`
// and `message`, nothing else of the answer; a 2xx without a message `sid`
// is a failure that is not retried (the message may have gone out).
// REQUIRES: `http` is not null.
absl::StatusOr<std::unique_ptr<SmsProvider>> NewTwilioSmsSender(
    const TwilioOptions& options, std::shared_ptr<HttpClient> http);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_TWILIO_SMS_SENDER_H_
