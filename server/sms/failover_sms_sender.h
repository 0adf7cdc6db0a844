// The delivery policy of the --sms_sender chain: each provider in turn, a
// few attempts each, a circuit breaker each, a cap on sends in flight.
//
//   std::vector<std::unique_ptr<SmsProvider>> chain;
//   chain.push_back(*NewTwilioSmsSender(twilio, http));
//   chain.push_back(*NewWebhookSmsSender(webhook, http));
//   std::unique_ptr<SmsSender> sender =
//       NewFailoverSmsSender(std::move(chain), SmsDeliveryOptions(), metrics);
//
// For one message:
//   - A provider whose breaker is open is skipped at once (counted
//     "skipped"): an outage never makes a user wait for its timeout.
//   - Each attempt takes at most `timeout`, and never past the message's
//     deadline. A retryable failure (no answer, 429, 5xx) is tried again up
//     to `attempts` times at that provider, after a jittered exponential
//     backoff, or after the provider's Retry-After when it gave one and
//     that still ends before the deadline; otherwise the next provider.
//     Any other refusal (4xx) goes to the next provider at once.
//   - `breaker_failures` failed attempts in a row open a provider's breaker
//     for `breaker_cooloff`; then one message probes it: a delivery closes
//     the breaker, a failure opens it again.
//   - Beyond `max_in_flight` messages at once, Send() fails at once.
// When every provider failed, Send() returns UNAVAILABLE naming the last
// failure. Each attempt is logged (provider, attempt, HTTP status, latency,
// the provider's message id, the masked phone) and counted in SmsMetrics.
//
// Thread-safety: Send() may be called concurrently; it blocks the caller
// for the attempts.
#ifndef PROFILE_SERVER_SMS_FAILOVER_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_FAILOVER_SMS_SENDER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/sms/sms_metrics.h"
#include "server/sms/sms_provider.h"
#include "server/sms/sms_sender.h"

namespace profile {

struct SmsDeliveryOptions {
  // --sms_timeout: the longest one attempt may take.
  absl::Duration timeout = absl::Seconds(5);
  // --sms_attempts: attempts per provider.
  int attempts = 2;
  // --sms_breaker_failures and --sms_breaker_cooloff.
  int breaker_failures = 5;
  absl::Duration breaker_cooloff = absl::Seconds(30);
  // --sms_max_in_flight: messages being sent at once.
  int max_in_flight = 256;
  // The first retry's backoff; each further one doubles (jittered).
  absl::Duration backoff = absl::Milliseconds(100);

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming
  // the flag.
  absl::Status Validate() const;
};

// Returns the sender over `providers`, tried in order. `metrics` may be
// null.
// REQUIRES: `providers` is not empty; `metrics` outlives the sender.
std::unique_ptr<SmsSender> NewFailoverSmsSender(
    std::vector<std::unique_ptr<SmsProvider>> providers,
    const SmsDeliveryOptions& options, SmsMetrics* metrics);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_FAILOVER_SMS_SENDER_H_
