// Metrics: Prometheus text at http://<--metrics_listen>/metrics.
//
// gRPC figures, named as Go's grpc-prometheus made standard, from a server
// interceptor (so that handlers stay thin and health and reflection count
// too):
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (a
//     histogram, buckets 5ms to 10s)
// grpc_type is unary, client_stream, server_stream or bidi_stream; grpc_code
// is Go's name of the code (OK, InvalidArgument, Unauthenticated...).
// And the service's own error codes, from the same interceptor:
//   profile_rpc_errors_total{grpc_method,api_code}  a non-OK call by its
//     x-api-code trailer ("1001", "5003"...); "none" without one (gRPC's own
//     failures, health), "unknown" for a number outside the catalogue
//
// Domain figures, from the core through PhoneChangeMetrics:
//   profile_codes_sent_total{purpose}            new_phone, old_phone
//   profile_verifications_total{outcome}         ok, wrong_code, ...
//   profile_tokens_issued_total
//   profile_tokens_spent_total
//   profile_tokens_expired_total
//   profile_tokens_live                          read at scrape time
//   profile_build_info{version}                  always 1
// SMS delivery figures, from the sender chain through SmsMetrics:
//   profile_sms_sends_total{provider,outcome}    ok, failed, retried, skipped
//   profile_sms_send_seconds{provider}           a histogram, 10ms to 10s
//   profile_sms_breaker_open{provider}           1 while open
// Notices to old phones and reverts:
//   profile_notices_pending                      read at scrape time
//   profile_notices_oldest_pending_seconds       read at scrape time
//   profile_notices_sent_total{outcome}          sent, retried, expired
//   profile_reverts_total{outcome}               ok, not_found, phone_taken,
//                                                invalid_argument,
//                                                too_frequent, error
//   profile_sms_region_suspended{region}         1 while the region breaker
//                                                suspends it (read at
//                                                scrape time), then 0
//
//   absl::StatusOr<std::unique_ptr<Metrics>> metrics =
//       Metrics::Start("0.0.0.0:9090");
//   builder.experimental().SetInterceptorCreators(...
//       (*metrics)->NewInterceptorFactory());
//   (*metrics)->SetLiveTokens([&] { return tokens->Size(); });
//
// Thread-safety: every method may be called concurrently. The Metrics must
// outlive the gRPC server whose interceptors it made.
#ifndef PROFILE_SERVER_METRICS_METRICS_H_
#define PROFILE_SERVER_METRICS_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/metrics/phone_change_metrics.h"
#include "server/notices/notice_metrics.h"
#include "server/notices/notice_queue.h"
#include "server/sms/sms_metrics.h"

namespace profile {

class Metrics : public PhoneChangeMetrics,
                public SmsMetrics,
                public NoticeMetrics {
 public:
  // Starts the HTTP endpoint on `listen` (an IP address and port, port 0
  // picks a free one). Returns INVALID_ARGUMENT naming --metrics_listen if
  // it cannot listen there.
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(
      const std::string& listen);

  ~Metrics() override;

  // The port /metrics is served on.
  virtual int port() const = 0;

  // Returns a factory of per-call interceptors that count every RPC.
  virtual std::unique_ptr<
      grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory() = 0;

  // Sets what profile_tokens_live reports; called at scrape time.
  virtual void SetLiveTokens(std::function<size_t()> live_tokens) = 0;

  // Sets what profile_notices_pending and
  // profile_notices_oldest_pending_seconds report; called at scrape time
  // (an error leaves both out of that scrape).
  virtual void SetNoticeBacklog(
      std::function<absl::StatusOr<NoticeBacklog>()> backlog) = 0;

  // Sets what profile_sms_region_suspended reports: the regions suspended
  // now; called at scrape time.
  virtual void SetSuspendedRegions(
      std::function<std::vector<std::string>()> suspended) = 0;

  // Sets what profile_redis_round_trips_total reports: the commands the
  // Redis client sent and waited for (RedisClient::RoundTrips()); called at
  // scrape time. Unset (no Redis), the counter is left out.
  virtual void SetRedisRoundTrips(std::function<uint64_t()> round_trips) = 0;

 protected:
  Metrics() = default;
};

// Returns the label profile_verifications_total gives `outcome`: "ok",
// "wrong_code", "code_expired", "invalid_argument", "phone_taken",
// "same_phone", "old_phone_mismatch", "too_many_tokens" or "error".
const char* VerificationOutcomeLabel(const absl::Status& outcome);

// Returns the label profile_reverts_total gives `outcome`: "ok",
// "not_found", "phone_taken", "invalid_argument", "too_frequent" or "error".
const char* RevertOutcomeLabel(const absl::Status& outcome);

// Returns Go's name of a gRPC code ("OK", "InvalidArgument", ...).
const char* GrpcCodeName(int code);

}  // namespace profile

#endif  // PROFILE_SERVER_METRICS_METRICS_H_
