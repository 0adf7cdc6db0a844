// FakeClock: a Clock that moves only when a test says so.
//
//   auto clock = std::make_shared<FakeClock>();
//   store = NewInMemoryTokenStore(clock, options);
//   clock->Advance(absl::Seconds(60));
//
// Thread-safety: Now(), Set() and Advance() may be called concurrently.
#ifndef PROFILE_TESTS_TESTING_FAKE_CLOCK_H_
#define PROFILE_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"

namespace profile::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1800000000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_FAKE_CLOCK_H_
