// NoticeMetrics: what the notice relay counts as it works.
//
// The relay (notice_relay.h) calls it as each notice is handled; the
// server's Metrics exports it as profile_notices_sent_total{outcome}. The
// relay holds a pointer that may be null: no metrics.
//
// Thread-safety: implementations are safe to call concurrently and never
// block.
#ifndef PROFILE_SERVER_NOTICES_NOTICE_METRICS_H_
#define PROFILE_SERVER_NOTICES_NOTICE_METRICS_H_

namespace profile {

class NoticeMetrics {
 public:
  virtual ~NoticeMetrics() = default;

  // A notice was handled: `outcome` is "sent", "retried" (not sent, due
  // again later) or "expired" (dropped unsent after --notice_max_age).
  virtual void NoticeOutcome(const char* outcome) = 0;
};

}  // namespace profile

#endif  // PROFILE_SERVER_NOTICES_NOTICE_METRICS_H_
