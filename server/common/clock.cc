#include "server/common/clock.h"

#include "absl/time/clock.h"

namespace profile {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

std::shared_ptr<Clock> SystemClock() {
  static const auto* const kClock = new std::shared_ptr<Clock>(
      std::make_shared<RealClock>());
  return *kClock;
}

}  // namespace profile
