// PhoneChangeMetrics: the domain figures the core reports as it works.
//
// The core (server/core/phone_change.cc) calls these at the moment a thing
// happens; an implementation counts (server/metrics/metrics.h exports them
// to Prometheus). The core holds a pointer that may be null: no metrics.
//
//   if (metrics_ != nullptr) metrics_->CodeSent(CodePurpose::kNewPhone);
//
// Thread-safety: implementations are safe to call concurrently and never
// block.
#ifndef PROFILE_SERVER_METRICS_PHONE_CHANGE_METRICS_H_
#define PROFILE_SERVER_METRICS_PHONE_CHANGE_METRICS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "server/codes/code_store.h"

namespace profile {

class PhoneChangeMetrics {
 public:
  virtual ~PhoneChangeMetrics() = default;

  // A code was handed to the SMS sender (test numbers send none).
  virtual void CodeSent(CodePurpose purpose) = 0;

  // UpdatePhoneVerification finished with `outcome` (OK: a token was
  // issued).
  virtual void Verified(const absl::Status& outcome) = 0;

  // An update-phone token was spent by UpdatePhone.
  virtual void TokenSpent() = 0;

  // `count` update-phone tokens expired unspent and were swept.
  virtual void TokensExpired(size_t count) = 0;

  // RevertPhoneChange finished with `outcome`.
  virtual void Reverted(const absl::Status& outcome) = 0;
};

}  // namespace profile

#endif  // PROFILE_SERVER_METRICS_PHONE_CHANGE_METRICS_H_
