// Clock: the one source of time for everything that expires.
//
// Tokens, codes, cooldowns and hourly caps read time through a Clock so that
// tests can drive expiry to the tick with a fake clock instead of sleeping.
//
//   std::shared_ptr<Clock> clock = SystemClock();
//   absl::Time expires_at = clock->Now() + absl::Seconds(60);
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef PROFILE_SERVER_COMMON_CLOCK_H_
#define PROFILE_SERVER_COMMON_CLOCK_H_

#include <memory>

#include "absl/time/time.h"

namespace profile {

class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current time.
  virtual absl::Time Now() const = 0;
};

// Returns the process-wide clock that reads the system's real time.
std::shared_ptr<Clock> SystemClock();

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_CLOCK_H_
