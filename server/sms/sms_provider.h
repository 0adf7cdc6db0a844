// SmsProvider: one member of the --sms_sender chain. The delivery policy
// (server/sms/failover_sms_sender.h) makes the attempts, retries, fails
// over and keeps a circuit breaker per provider; a provider makes one
// attempt and says what came of it.
//
// Each provider is a file pair in this folder (webhook_sms_sender.h,
// twilio_sms_sender.h, aliyun_sms_sender.h); `log` and `outbox:PATH` are
// SmsSenders made providers by NewSenderProvider().
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_SMS_SMS_PROVIDER_H_
#define PROFILE_SERVER_SMS_SMS_PROVIDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/sms/sms_sender.h"

namespace profile {

// What one attempt came to.
struct SmsAttempt {
  // OK: the provider took the message. Otherwise why not, never naming a
  // credential or the code.
  absl::Status status;
  // Whether another attempt at the same provider may succeed (a timeout, a
  // 5xx, a 429). False for a refusal that would repeat (another 4xx).
  bool retryable = false;
  // The provider's Retry-After, zero when it gave none.
  absl::Duration retry_after;
  // The HTTP status, 0 when there was none.
  int http_status = 0;
  // The provider's id of the message, when it gave one.
  std::string message_id;
};

class SmsProvider {
 public:
  virtual ~SmsProvider() = default;

  // The name of the provider in logs and metrics: "log", "outbox",
  // "webhook", "twilio", "aliyun".
  virtual absl::string_view name() const = 0;

  // See SmsSender::MayBlock().
  virtual bool MayBlock() const { return true; }

  // Makes one attempt to hand `message` over, taking at most `timeout`.
  virtual SmsAttempt Attempt(const SmsMessage& message,
                             absl::Duration timeout) = 0;
};

// Returns a provider that hands each message to `sender` (log, outbox, or a
// test's sender); a failure is not retryable.
std::unique_ptr<SmsProvider> NewSenderProvider(std::string name,
                                               std::unique_ptr<SmsSender> sender);

// Returns the attempt that an HTTP answer `http_status` (with its
// Retry-After value) comes to: 2xx OK; 429 and 5xx retryable; any other
// status a permanent refusal. `what` names the provider in the message.
SmsAttempt HttpAttempt(absl::string_view what, int http_status,
                       absl::string_view retry_after);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_PROVIDER_H_
