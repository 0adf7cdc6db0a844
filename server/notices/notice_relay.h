// NoticeRelay: delivers the notices a NoticeQueue holds, until each is sent
// or too old.
//
// A background thread leases what is due, renders each notice's text in its
// language, opens its sealed revert token, and hands it to the SMS sender
// chain. A notice that could not be sent is due again after a jittered
// exponential backoff (1 s doubling to 5 min); one older than
// --notice_max_age is dropped with an error log line and counted. The
// thread looks every `poll_interval`, and `gather` after Wake() says a
// change queued one here, so notices of this replica go out within
// milliseconds and those a dead replica left are picked up by the others.
//
//   NoticeRelay relay(options, users->notices(), sms, texts, outbox_key,
//                     metrics, clock);
//   relay.Start();
//   ... users->ChangePhone(...); relay.Wake();
//
// Thread-safety: Wake() may be called from any thread.
#ifndef PROFILE_SERVER_NOTICES_NOTICE_RELAY_H_
#define PROFILE_SERVER_NOTICES_NOTICE_RELAY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/notices/notice_metrics.h"
#include "server/notices/notice_queue.h"
#include "server/sms/sms_sender.h"
#include "server/sms/sms_text.h"

namespace profile {

struct NoticeRelayOptions {
  // --notice_max_age: a notice not sent by then is dropped.
  absl::Duration max_age = absl::Hours(24);
  // How often the queue is looked at without a Wake().
  absl::Duration poll_interval = absl::Seconds(1);
  // How long a leased notice is this replica's alone: longer than any send
  // (kSendDeadline), short enough that a notice whose replica died mid-send
  // (kill -9 between the commit and the send) goes out soon after.
  absl::Duration lease = absl::Seconds(15);
  // Notices leased at once.
  int batch = 16;
  // After a Wake(), how long the thread lets the changes of a burst queue
  // theirs before it leases: one wake-up for a batch of notices rather
  // than one per change (each a futex wake and a context switch).
  absl::Duration gather = absl::Milliseconds(2);
  absl::Duration min_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming
  // the flag.
  absl::Status Validate() const;
};

class NoticeRelay {
 public:
  // REQUIRES: `queue`, `sender` and `metrics` (if set) outlive the relay.
  // `outbox_key` (32 bytes) opens the sealed revert tokens.
  NoticeRelay(const NoticeRelayOptions& options, NoticeQueue* queue,
              SmsSender* sender, std::shared_ptr<const SmsTexts> texts,
              std::string outbox_key, NoticeMetrics* metrics,
              std::shared_ptr<Clock> clock);
  ~NoticeRelay();

  NoticeRelay(const NoticeRelay&) = delete;
  NoticeRelay& operator=(const NoticeRelay&) = delete;

  // Starts the background thread.
  void Start();

  // Makes the thread look at the queue now.
  void Wake();

  // Delivers what is due now, in this thread; returns how many notices it
  // handled (sent, retried or dropped). For tests and the thread.
  size_t RunOnce();

 private:
  // Handles one leased notice; returns true if it was handed to the SMS
  // chain (the caller then marks it delivered).
  bool Deliver(const Notice& notice);

  // Marks `*sent` delivered in one call to the queue, and clears it.
  void MarkDelivered(std::vector<int64_t>* sent);

  // The message `notice` becomes; false if its token cannot be opened.
  bool Render(const Notice& notice, SmsMessage* message) const;

  void Loop();

  const NoticeRelayOptions options_;
  NoticeQueue* const queue_;
  SmsSender* const sender_;
  const std::shared_ptr<const SmsTexts> texts_;
  const std::string outbox_key_;
  NoticeMetrics* const metrics_;
  const std::shared_ptr<Clock> clock_;

  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_NOTICES_NOTICE_RELAY_H_
