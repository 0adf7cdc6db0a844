// CapturingSmsSender: an SmsSender that keeps every message in memory, as
// the phone's owner would read it, and can be told to fail like a gateway
// that is down.
//
//   CapturingSmsSender sms;
//   core->SendCode(caller, input);
//   std::string code = sms.sent().back().code;
//   sms.set_failing(true);  // the next sends answer UNAVAILABLE
//
// `may_block` says what MayBlock() answers: true makes the service run the
// calls that text on its executor, as a network provider would.
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_TESTS_TESTING_CAPTURING_SMS_SENDER_H_
#define PROFILE_TESTS_TESTING_CAPTURING_SMS_SENDER_H_

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/sms/sms_sender.h"

namespace profile::testing {

class CapturingSmsSender final : public SmsSender {
 public:
  explicit CapturingSmsSender(bool may_block = false)
      : may_block_(may_block) {}

  bool MayBlock() const override { return may_block_; }

  absl::Status Send(const SmsMessage& message) override {
    absl::MutexLock lock(&mu_);
    if (failing_) {
      failed_.push_back(message);
      return absl::UnavailableError("gateway down");
    }
    sent_.push_back(message);
    return absl::OkStatus();
  }

  // Whether the next sends fail.
  void set_failing(bool failing) {
    absl::MutexLock lock(&mu_);
    failing_ = failing;
  }

  // Returns the messages delivered, oldest first.
  std::vector<SmsMessage> sent() const {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

  // Returns the messages refused while failing, oldest first.
  std::vector<SmsMessage> failed() const {
    absl::MutexLock lock(&mu_);
    return failed_;
  }

  // Returns how many messages were delivered.
  size_t count() const {
    absl::MutexLock lock(&mu_);
    return sent_.size();
  }

 private:
  const bool may_block_;
  mutable absl::Mutex mu_;
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<SmsMessage> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<SmsMessage> failed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_CAPTURING_SMS_SENDER_H_
