// SmsMetrics: what the delivery policy reports, implemented by the server's
// Metrics (server/metrics/metrics.h) as
//   profile_sms_sends_total{provider,outcome}   ok, failed, retried, skipped
//   profile_sms_send_seconds{provider}          a histogram per attempt
//   profile_sms_breaker_open{provider}          1 while the breaker is open
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_SMS_SMS_METRICS_H_
#define PROFILE_SERVER_SMS_SMS_METRICS_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace profile {

class SmsMetrics {
 public:
  virtual ~SmsMetrics() = default;

  // Counts one attempt's outcome at `provider`: "ok", "failed" (the last
  // attempt there failed), "retried" (failed, another attempt follows) or
  // "skipped" (the breaker is open). `latency` is zero when skipped.
  virtual void SmsAttempted(absl::string_view provider,
                            absl::string_view outcome,
                            absl::Duration latency) = 0;

  // Reports whether `provider`'s breaker is open.
  virtual void SmsBreakerOpen(absl::string_view provider, bool open) = 0;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_METRICS_H_
