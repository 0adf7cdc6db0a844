// SendLimiter: how often codes may be texted, and tried.
//
// Every SMS costs money and can harass the phone's owner, so sending is
// limited: a cooldown per phone and purpose (one code a minute by default),
// hourly caps per phone, per user and per client address, and optional
// hourly budgets per region and for the whole service. A region whose codes
// are sent but hardly ever verified (SMS pumping: the numbers belong to the
// fraudster's accomplice, who is paid per message) is suspended for an hour
// by the region breaker.
//
// Guessing is limited too: UpdatePhoneVerification calls per user per hour,
// and wrong codes per user and phone per day, across codes.
//
//   absl::Status allowed = limiter->Acquire({key, "CN", client_ip});
//   if (!allowed.ok()) return allowed;  // RESOURCE_EXHAUSTED, api code 2100
//   sms->Send(...);  // a send that fails still counts: a failing provider
//                    // must not turn into unlimited codes and guesses
//
// Every window is fixed: it opens with its first event and lasts an hour (a
// day for wrong codes). With Redis, every replica shares them.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_LIMITS_SEND_LIMITER_H_
#define PROFILE_SERVER_LIMITS_SEND_LIMITER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
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
  // Codes requested per hour from one client address (metadata
  // x-client-ip; an IPv6 address counts by its /64).
  int max_per_ip_per_hour = 30;
  // Codes per hour to the numbers of one region; 0: no cap.
  int max_per_region_per_hour = 0;
  // Codes per hour, service-wide; 0: no cap.
  int max_per_hour = 0;
  // UpdatePhoneVerification calls per user per hour.
  int max_verifications_per_user_per_hour = 30;
  // Wrong codes per user and phone per day, across codes.
  int max_code_failures_per_day = 20;
  // RevertPhoneChange calls per client address per hour (calls without
  // x-client-ip share one budget).
  int max_reverts_per_ip_per_hour = 10;
  // The region breaker: a region that was sent at least this many codes in
  // its hour, of which fewer than `region_breaker_min_conversion` were
  // verified, is suspended for an hour.
  int region_breaker_min_codes = 100;
  double region_breaker_min_conversion = 0.1;

  // Returns OK if every limit is in range, else INVALID_ARGUMENT naming the
  // flag.
  absl::Status Validate() const;
};

// The errors every SendLimiter answers with: RESOURCE_EXHAUSTED, api code
// 2100, retry after `seconds`.
absl::Status CooldownError(int seconds);
absl::Status PhoneHourlyCapError(int seconds);
absl::Status UserHourlyCapError(int seconds);
absl::Status IpHourlyCapError(int seconds);
absl::Status RegionHourlyCapError(int seconds);
absl::Status ServiceHourlyCapError(int seconds);
absl::Status RegionSuspendedError(int seconds);
absl::Status VerificationCapError(int seconds);
absl::Status CodeFailureCapError(int seconds);
absl::Status RevertCapError(int seconds);

// How long the region breaker suspends a region.
inline constexpr absl::Duration kRegionSuspension = absl::Hours(1);

// One code to be texted.
struct SendRequest {
  // The phone, purpose and user.
  CodeKey key;
  // The phone's region (ISO 3166-1 alpha-2, "CN"); "" for none: no region
  // budget nor breaker applies (test numbers are never texted).
  std::string region;
  // The client address the code is requested from, as ClientAddressKey()
  // gives it; "" for unknown: no per-address cap.
  std::string client;
};

// Returns the key the per-address cap counts `ip` under (an IPv4 or IPv6
// address, canonical): the address itself, or for IPv6 its /64 ("2001:db8:1:2::/64"),
// since one subscriber holds a whole /64; "" (unknown) stays "".
std::string ClientAddressKey(absl::string_view ip);

// Logs, at error, that the breaker suspended `region` after `sent` codes of
// which `verified` were verified. For implementations.
void LogRegionSuspended(absl::string_view region, int sent, int verified);

// A region the breaker suspended.
struct RegionSuspension {
  std::string region;
  absl::Time until;
};

// What AcquireVerification() read of each phone's wrong-code cap: the i-th
// status is that of the i-th phone. A verification checks at most two
// codes, so the statuses stay inline.
using FailureCaps = absl::InlinedVector<absl::Status, 2>;

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
  virtual absl::Status Acquire(const SendRequest& request) = 0;

  // Acquire() of a code to `key.phone_e164` for `user_id`, with no region
  // nor client address.
  absl::Status Acquire(const CodeKey& key, absl::string_view user_id) {
    return Acquire(SendRequest{
        CodeKey{key.phone_e164, key.purpose, std::string(user_id)}, "", ""});
  }

  // Counts one UpdatePhoneVerification call of `user_id`, or returns 2100
  // when the user made --max_verifications_per_user_per_hour this hour.
  // Once counted, reads in the same step what CheckCodeFailures() answers
  // for `user_id` at each of `phones` (one round trip for the whole start
  // of a verification): the i-th status is that of `phones[i]`.
  virtual absl::StatusOr<FailureCaps> AcquireVerification(
      absl::string_view user_id, absl::Span<const std::string> phones) = 0;

  // AcquireVerification() without reading any failure cap.
  absl::Status AcquireVerification(absl::string_view user_id) {
    return AcquireVerification(user_id, {}).status();
  }

  // Counts one RevertPhoneChange call from `client` (ClientAddressKey(),
  // "" for unknown), or returns 2100 when it made
  // --max_reverts_per_ip_per_hour this hour.
  virtual absl::Status AcquireRevert(absl::string_view client) = 0;

  // Returns 2100 while `user_id` has made --max_code_failures_per_day wrong
  // guesses at codes of `phone_e164` in the day's window.
  virtual absl::Status CheckCodeFailures(absl::string_view user_id,
                                         absl::string_view phone_e164) = 0;

  // Counts a wrong guess of `user_id` at a code of `phone_e164`.
  virtual absl::Status RecordCodeFailure(absl::string_view user_id,
                                         absl::string_view phone_e164) = 0;

  // Counts a verified code of each of `regions` (the breaker's
  // conversion), a region listed twice twice; "" counts nothing.
  virtual absl::Status RecordVerified(
      absl::Span<const std::string> regions) = 0;

  // RecordVerified() of one code of `region`.
  absl::Status RecordVerified(absl::string_view region) {
    const std::string one(region);
    return RecordVerified(absl::MakeConstSpan(&one, 1));
  }

  // Returns the regions the breaker suspends now.
  virtual absl::StatusOr<std::vector<RegionSuspension>>
  SuspendedRegions() = 0;

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
