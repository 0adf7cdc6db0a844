// SendLimiter: how often codes may be texted.
//
// Every SMS costs money and can harass the phone's owner, so sending is
// limited three ways: a cooldown per phone and purpose (one code a minute by
// default), an hourly cap per phone and an hourly cap per user.
//
//   absl::Status allowed = limiter->Acquire(key, user_id);
//   if (!allowed.ok()) return allowed;  // RESOURCE_EXHAUSTED, api code 2100
//   sms->Send(...);  // a send that fails still counts: a failing provider
//                    // must not turn into unlimited codes and guesses
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_LIMITS_SEND_LIMITER_H_
#define PROFILE_SERVER_LIMITS_SEND_LIMITER_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/common/clock.h"

namespace profile {

struct SendLimits {
  // Minimum time between two codes to one phone for one purpose.
  absl::Duration resend_interval = absl::Seconds(60);
  // Codes one phone may receive per hour.
  int max_per_phone_per_hour = 10;
  // Codes one user may request per hour.
  int max_per_user_per_hour = 20;

  // Returns OK if every limit is in range, else INVALID_ARGUMENT naming the
  // flag.
  absl::Status Validate() const;
};

// The errors every SendLimiter answers with: RESOURCE_EXHAUSTED, api code
// 2100, retry after `seconds`.
absl::Status CooldownError(int seconds);
absl::Status PhoneHourlyCapError(int seconds);
absl::Status UserHourlyCapError(int seconds);

class SendLimiter {
 public:
  virtual ~SendLimiter() = default;

  // Returns true if a call may wait on a network or a disk. The service then
  // runs the RPCs that use this off gRPC's callback threads, on its bounded
  // executor. True unless an implementation knows better: only what is
  // certain to return at once (memory under a mutex) may answer false.
  virtual bool MayBlock() const { return true; }

  // Records a send of `key` by `user_id` if every limit allows it; otherwise
  // returns RESOURCE_EXHAUSTED, api code 2100, with the seconds until it
  // would be allowed (RetryAfterOf()).
  virtual absl::Status Acquire(const CodeKey& key,
                               absl::string_view user_id) = 0;

  // Forgets every window that has ended; returns how many.
  virtual size_t SweepExpired() = 0;
};

struct InMemorySendLimiterOptions {
  SendLimits limits;
  // Acquire() fails beyond this many tracked phones and users.
  size_t max_entries = 1000000;
  // How often a background thread forgets ended windows; zero for never.
  absl::Duration sweep_interval = absl::Seconds(5);
};

// Returns a limiter in this process's memory.
std::unique_ptr<SendLimiter> NewInMemorySendLimiter(
    std::shared_ptr<Clock> clock, const InMemorySendLimiterOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_LIMITS_SEND_LIMITER_H_
