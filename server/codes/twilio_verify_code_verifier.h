// The `twilio_verify` code verifier (--code_verifier=twilio_verify): Twilio
// Verify generates, texts and checks the codes; none is known here.
//
//   Send:  POST {verify_api_url}/v2/Services/{service_sid}/Verifications
//          To=+8613800138000&Channel=sms&Locale=en|zh-CN
//   Check: POST {verify_api_url}/v2/Services/{service_sid}/VerificationCheck
//          To=+8613800138000&Code=123456
//          `"status":"approved"`: right; "pending": wrong (2001);
//          404: no live verification (2300).
// HTTP basic auth with the account SID and auth token of TwilioOptions.
//
// Twilio answers an approved verification only once, but a verification
// checks every code before using any up (a wrong old-phone code must not
// cost the new one). So an approval is remembered in `approvals` (a
// CodeStore, shared by replicas when it is Redis) until the code's TTL, as a
// keyed digest of the approved code: Check() asks the store first and
// Twilio only when the store has no live entry; Consume() uses the entry up.
// A different code checked against a remembered approval is wrong (2001)
// and forgets the approval, as Twilio would have no more checks for it.
// Check() answers UNAVAILABLE (api code 5003) when Twilio gives no usable
// answer (no response, a 5xx, another unexpected status); a 429 (60202, too
// many checks) is no live code (2300).
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_SERVER_CODES_TWILIO_VERIFY_CODE_VERIFIER_H_
#define PROFILE_SERVER_CODES_TWILIO_VERIFY_CODE_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/codes/code_verifier.h"
#include "server/common/clock.h"
#include "server/http/http_client.h"
#include "server/sms/twilio_sms_sender.h"

namespace profile {

struct TwilioVerifyOptions {
  // The account, the auth token and the Verify service.
  TwilioOptions twilio;
  // How long an approval is remembered: the flow's code TTL.
  absl::Duration code_ttl = absl::Minutes(5);
  // The longest one request to Twilio may take (--sms_timeout).
  absl::Duration timeout = absl::Seconds(5);
  // Keys the digests of approved codes in `approvals`.
  std::string secret;
};

// Returns the verifier. INVALID_ARGUMENT naming the flag at fault if an
// option is missing or wrong.
// REQUIRES: `approvals` outlives the verifier.
absl::StatusOr<std::unique_ptr<CodeVerifier>> NewTwilioVerifyCodeVerifier(
    TwilioVerifyOptions options, std::shared_ptr<HttpClient> http,
    std::shared_ptr<Clock> clock, CodeStore* approvals);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_TWILIO_VERIFY_CODE_VERIFIER_H_
