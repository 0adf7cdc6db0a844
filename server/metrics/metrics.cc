#include "server/metrics/metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/interceptor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "server/common/api_error.h"
#include "server/common/version.h"

namespace profile {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr int kGrpcCodes = 17;

const char* GrpcTypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

// The figures of one method, made on its first call.
struct MethodMetrics {
  prometheus::Counter* started = nullptr;
  prometheus::Histogram* seconds = nullptr;
  prometheus::Labels labels;  // grpc_type, grpc_service, grpc_method
  // One counter per code, made on first use.
  std::array<std::atomic<prometheus::Counter*>, kGrpcCodes> handled{};
};

// profile_tokens_live: asks the token store at scrape time.
class LiveTokensGauge final : public prometheus::Collectable {
 public:
  void Set(std::function<size_t()> live_tokens) {
    absl::MutexLock lock(&mu_);
    live_tokens_ = std::move(live_tokens);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "profile_tokens_live";
    family.help = "Update-phone tokens held (issued, not yet spent or swept)";
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    absl::MutexLock lock(&mu_);
    metric.gauge.value =
        live_tokens_ ? static_cast<double>(live_tokens_()) : 0.0;
    family.metric.push_back(std::move(metric));
    return {std::move(family)};
  }

 private:
  mutable absl::Mutex mu_;
  std::function<size_t()> live_tokens_ ABSL_GUARDED_BY(mu_);
};

// profile_sms_region_suspended{region}: asks the limiter at scrape time
// (with Redis, every replica reports what all of them share). A region
// whose suspension ended reports 0 rather than vanishing.
class SuspendedRegionsGauge final : public prometheus::Collectable {
 public:
  void Set(std::function<std::vector<std::string>()> suspended) {
    absl::MutexLock lock(&mu_);
    suspended_ = std::move(suspended);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "profile_sms_region_suspended";
    family.help =
        "1 while the region breaker suspends codes to the region, else 0";
    family.type = prometheus::MetricType::Gauge;
    absl::MutexLock lock(&mu_);
    std::set<std::string> now;
    if (suspended_) {
      for (std::string& region : suspended_()) now.insert(std::move(region));
    }
    seen_.insert(now.begin(), now.end());
    for (const std::string& region : seen_) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"region", region});
      metric.gauge.value = now.count(region) != 0 ? 1.0 : 0.0;
      family.metric.push_back(std::move(metric));
    }
    return {std::move(family)};
  }

 private:
  mutable absl::Mutex mu_;
  std::function<std::vector<std::string>()> suspended_ ABSL_GUARDED_BY(mu_);
  mutable std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

// profile_redis_round_trips_total: asks the Redis client at scrape time.
class RedisRoundTripsCounter final : public prometheus::Collectable {
 public:
  void Set(std::function<uint64_t()> round_trips) {
    absl::MutexLock lock(&mu_);
    round_trips_ = std::move(round_trips);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    if (!round_trips_) return {};
    prometheus::MetricFamily family;
    family.name = "profile_redis_round_trips_total";
    family.help = "Commands sent to Redis and waited for, scripts included";
    family.type = prometheus::MetricType::Counter;
    prometheus::ClientMetric metric;
    metric.counter.value = static_cast<double>(round_trips_());
    family.metric.push_back(std::move(metric));
    return {std::move(family)};
  }

 private:
  mutable absl::Mutex mu_;
  std::function<uint64_t()> round_trips_ ABSL_GUARDED_BY(mu_);
};

// profile_notices_pending and profile_notices_oldest_pending_seconds: ask
// the outbox at scrape time (with PostgreSQL, every replica reports the
// shared outbox).
class NoticeBacklogGauges final : public prometheus::Collectable {
 public:
  void Set(std::function<absl::StatusOr<NoticeBacklog>()> backlog) {
    absl::MutexLock lock(&mu_);
    backlog_ = std::move(backlog);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::StatusOr<NoticeBacklog> backlog = NoticeBacklog();
    {
      absl::MutexLock lock(&mu_);
      if (backlog_) backlog = backlog_();
    }
    if (!backlog.ok()) return {};
    return {Gauge("profile_notices_pending",
                  "Notices to old phones not delivered yet.",
                  static_cast<double>(backlog->pending)),
            Gauge("profile_notices_oldest_pending_seconds",
                  "How long the oldest undelivered notice has waited; 0 for "
                  "none.",
                  absl::ToDoubleSeconds(backlog->oldest))};
  }

 private:
  static prometheus::MetricFamily Gauge(const char* name, const char* help,
                                        double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
    return family;
  }

  mutable absl::Mutex mu_;
  std::function<absl::StatusOr<NoticeBacklog>()> backlog_ ABSL_GUARDED_BY(mu_);
};
// Returns the api_code label of a failed call from its trailing metadata:
// the x-api-code the service added ("1001"), "none" when it added none (a
// failure of gRPC's own, or of health or reflection), and "unknown" for a
// value that is not one of the catalogue's codes, so that the label set
// stays the catalogue's.
std::string ApiCodeLabel(
    const std::multimap<std::string, std::string>* trailers) {
  if (trailers == nullptr) return "none";
  auto it = trailers->find("x-api-code");
  if (it == trailers->end()) return "none";
  int number = 0;
  if (!absl::SimpleAtoi(it->second, &number) || !IsApiCode(number)) {
    return "unknown";
  }
  return absl::StrCat(number);
}

class PrometheusMetrics;

// Counts one call: started when made, handled when its status goes out.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(PrometheusMetrics* metrics, MethodMetrics* method)
      : metrics_(metrics),
        method_(method),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override;

 private:
  PrometheusMetrics* const metrics_;
  MethodMetrics* const method_;
  const std::chrono::steady_clock::time_point start_;
};

class PrometheusMetrics final : public Metrics {
 public:
  explicit PrometheusMetrics(std::unique_ptr<prometheus::Exposer> exposer)
      : exposer_(std::move(exposer)),
        registry_(std::make_shared<prometheus::Registry>()),
        live_tokens_(std::make_shared<LiveTokensGauge>()),
        suspended_regions_(std::make_shared<SuspendedRegionsGauge>()),
        redis_round_trips_(std::make_shared<RedisRoundTripsCounter>()),
        notice_backlog_(std::make_shared<NoticeBacklogGauges>()),
        started_(prometheus::BuildCounter()
                     .Name("grpc_server_started_total")
                     .Help("Total number of RPCs started on the server.")
                     .Register(*registry_)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("Total number of RPCs completed on the server, "
                           "regardless of success or failure.")
                     .Register(*registry_)),
        seconds_(prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Histogram of response latency (seconds) of gRPC "
                           "that had been application-level handled by the "
                           "server.")
                     .Register(*registry_)),
        codes_sent_family_(prometheus::BuildCounter()
                        .Name("profile_codes_sent_total")
                        .Help("Verification codes handed to the SMS sender.")
                        .Register(*registry_)),
        verifications_(prometheus::BuildCounter()
                           .Name("profile_verifications_total")
                           .Help("UpdatePhoneVerification calls by outcome.")
                           .Register(*registry_)),
        tokens_issued_(prometheus::BuildCounter()
                           .Name("profile_tokens_issued_total")
                           .Help("Update-phone tokens issued.")
                           .Register(*registry_)
                           .Add({})),
        tokens_spent_(prometheus::BuildCounter()
                          .Name("profile_tokens_spent_total")
                          .Help("Update-phone tokens spent by UpdatePhone.")
                          .Register(*registry_)
                          .Add({})),
        tokens_expired_(prometheus::BuildCounter()
                            .Name("profile_tokens_expired_total")
                            .Help("Update-phone tokens that expired unspent.")
                            .Register(*registry_)
                            .Add({})),
        sms_sends_(prometheus::BuildCounter()
                       .Name("profile_sms_sends_total")
                       .Help("Attempts at SMS providers by outcome: ok, "
                             "failed, retried, skipped (breaker open).")
                       .Register(*registry_)),
        sms_seconds_(prometheus::BuildHistogram()
                         .Name("profile_sms_send_seconds")
                         .Help("Latency of attempts at SMS providers.")
                         .Register(*registry_)),
        sms_breaker_open_(prometheus::BuildGauge()
                              .Name("profile_sms_breaker_open")
                              .Help("1 while an SMS provider's circuit "
                                    "breaker is open.")
                              .Register(*registry_)),
        notices_sent_(prometheus::BuildCounter()
                          .Name("profile_notices_sent_total")
                          .Help("Notices to old phones handled by outcome: "
                                "sent, retried, expired (dropped unsent).")
                          .Register(*registry_)),
        reverts_(prometheus::BuildCounter()
                     .Name("profile_reverts_total")
                     .Help("RevertPhoneChange calls by outcome.")
                     .Register(*registry_)),
        rpc_errors_(prometheus::BuildCounter()
                        .Name("profile_rpc_errors_total")
                        .Help("RPCs that finished with a non-OK status, by "
                              "the api code of their x-api-code trailer.")
                        .Register(*registry_)) {
    for (const char* outcome : {"sent", "retried", "expired"}) {
      notices_sent_.Add({{"outcome", outcome}});
    }
    reverts_.Add({{"outcome", "ok"}});
    // Every purpose is exported from the start at 0, so that rate() sees
    // the first increment.
    for (CodePurpose purpose : {CodePurpose::kNewPhone, CodePurpose::kOldPhone}) {
      codes_sent_[static_cast<int>(purpose)] = &codes_sent_family_.Add(
          {{"purpose", std::string(CodePurposeName(purpose))}});
    }
    // profile_build_info{version="1.0.0"} 1: joins any series to the
    // version that produced it.
    prometheus::BuildGauge()
        .Name("profile_build_info")
        .Help("The version of this profile_server; always 1.")
        .Register(*registry_)
        .Add({{"version", std::string(ProfileVersion())}})
        .Set(1);
    exposer_->RegisterCollectable(registry_);
    exposer_->RegisterCollectable(live_tokens_);
    exposer_->RegisterCollectable(suspended_regions_);
    exposer_->RegisterCollectable(redis_round_trips_);
    exposer_->RegisterCollectable(notice_backlog_);
  }

  int port() const override {
    std::vector<int> ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory() override;

  void SetLiveTokens(std::function<size_t()> live_tokens) override {
    live_tokens_->Set(std::move(live_tokens));
  }

  void SetNoticeBacklog(
      std::function<absl::StatusOr<NoticeBacklog>()> backlog) override {
    notice_backlog_->Set(std::move(backlog));
  }

  void NoticeOutcome(const char* outcome) override {
    notices_sent_.Add({{"outcome", outcome}}).Increment();
  }

  void Reverted(const absl::Status& outcome) override {
    reverts_.Add({{"outcome", RevertOutcomeLabel(outcome)}}).Increment();
  }

  void SetSuspendedRegions(
      std::function<std::vector<std::string>()> suspended) override {
    suspended_regions_->Set(std::move(suspended));
  }

  void SetRedisRoundTrips(std::function<uint64_t()> round_trips) override {
    redis_round_trips_->Set(std::move(round_trips));
  }

  void CodeSent(CodePurpose purpose) override {
    const int index = static_cast<int>(purpose);
    if (index >= 1 && index <= 2) codes_sent_[index]->Increment();
  }

  void Verified(const absl::Status& outcome) override {
    verifications_.Add({{"outcome", VerificationOutcomeLabel(outcome)}})
        .Increment();
    if (outcome.ok()) tokens_issued_.Increment();
  }

  void TokenSpent() override { tokens_spent_.Increment(); }

  void SmsAttempted(absl::string_view provider, absl::string_view outcome,
                    absl::Duration latency) override {
    const std::string name(provider);
    sms_sends_.Add({{"provider", name}, {"outcome", std::string(outcome)}})
        .Increment();
    if (outcome != "skipped") {
      sms_seconds_
          .Add({{"provider", name}},
               prometheus::Histogram::BucketBoundaries{
                   0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
          .Observe(absl::ToDoubleSeconds(latency));
    }
  }

  void SmsBreakerOpen(absl::string_view provider, bool open) override {
    sms_breaker_open_.Add({{"provider", std::string(provider)}})
        .Set(open ? 1 : 0);
  }

  void TokensExpired(size_t count) override {
    if (count > 0) tokens_expired_.Increment(static_cast<double>(count));
  }

  // Returns the figures of `method` ("/package.Service/Method"), or nullptr
  // for a path that is not one (an unknown method).
  MethodMetrics* MethodFor(const char* path, ServerRpcInfo::Type type) {
    if (path == nullptr) return nullptr;
    const absl::string_view full(path);
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = methods_.find(full);
      if (it != methods_.end()) return it->second.get();
    }
    const size_t slash = full.rfind('/');
    if (full.size() < 4 || full[0] != '/' || slash == 0 ||
        slash + 1 >= full.size()) {
      return nullptr;
    }
    auto method = std::make_unique<MethodMetrics>();
    method->labels = {{"grpc_type", GrpcTypeName(type)},
                      {"grpc_service", std::string(full.substr(1, slash - 1))},
                      {"grpc_method", std::string(full.substr(slash + 1))}};
    method->started = &started_.Add(method->labels);
    method->seconds = &seconds_.Add(
        method->labels,
        prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25, 0.5, 1, 2.5, 5, 10});
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = methods_.try_emplace(full, std::move(method));
    return it->second.get();
  }

  void Handled(MethodMetrics* method, int code, double seconds) {
    if (code < 0 || code >= kGrpcCodes) code = 2;  // UNKNOWN
    prometheus::Counter* counter =
        method->handled[code].load(std::memory_order_acquire);
    if (counter == nullptr) {
      prometheus::Labels labels = method->labels;
      labels["grpc_code"] = GrpcCodeName(code);
      // Family::Add returns the one counter of a label set, so a race here
      // stores the same pointer twice.
      counter = &handled_.Add(labels);
      method->handled[code].store(counter, std::memory_order_release);
    }
    counter->Increment();
    method->seconds->Observe(seconds);
  }

  // Counts a call of `method` that failed with `api_code` (a label value).
  void Failed(MethodMetrics* method, const std::string& api_code) {
    rpc_errors_
        .Add({{"grpc_method", method->labels.at("grpc_method")},
              {"api_code", api_code}})
        .Increment();
  }

 private:
  const std::unique_ptr<prometheus::Exposer> exposer_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::shared_ptr<LiveTokensGauge> live_tokens_;
  const std::shared_ptr<SuspendedRegionsGauge> suspended_regions_;
  const std::shared_ptr<RedisRoundTripsCounter> redis_round_trips_;
  const std::shared_ptr<NoticeBacklogGauges> notice_backlog_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Family<prometheus::Counter>& codes_sent_family_;
  prometheus::Family<prometheus::Counter>& verifications_;
  prometheus::Counter& tokens_issued_;
  prometheus::Counter& tokens_spent_;
  prometheus::Counter& tokens_expired_;
  prometheus::Family<prometheus::Counter>& sms_sends_;
  prometheus::Family<prometheus::Histogram>& sms_seconds_;
  prometheus::Family<prometheus::Gauge>& sms_breaker_open_;
  prometheus::Family<prometheus::Counter>& notices_sent_;
  prometheus::Family<prometheus::Counter>& reverts_;
  prometheus::Family<prometheus::Counter>& rpc_errors_;
  // Indexed by CodePurpose (1 and 2).
  std::array<prometheus::Counter*, 3> codes_sent_{};

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
};

void CallInterceptor::Intercept(
    grpc::experimental::InterceptorBatchMethods* methods) {
  if (methods->QueryInterceptionHookPoint(
          InterceptionHookPoints::PRE_SEND_STATUS)) {
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start_;
    const grpc::Status status = methods->GetSendStatus();
    metrics_->Handled(method_, status.error_code(), elapsed.count());
    if (!status.ok()) {
      metrics_->Failed(method_,
                       ApiCodeLabel(methods->GetSendTrailingMetadata()));
    }
  }
  methods->Proceed();
}

class InterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(PrometheusMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      ServerRpcInfo* info) override {
    MethodMetrics* method = metrics_->MethodFor(info->method(), info->type());
    if (method == nullptr) return nullptr;
    method->started->Increment();
    return new CallInterceptor(metrics_, method);
  }

 private:
  PrometheusMetrics* const metrics_;
};

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
PrometheusMetrics::NewInterceptorFactory() {
  return std::make_unique<InterceptorFactory>(this);
}

}  // namespace

Metrics::~Metrics() = default;

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(
    const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (listen.empty() || colon == std::string::npos || colon == 0 ||
      colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen must be IP:port, not \"", listen,
                     "\""));
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_listen: cannot listen on ", listen,
        " (an IP address and a free port, like 0.0.0.0:9090): ", e.what()));
  }
  if (exposer->GetListeningPorts().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: cannot listen on ", listen));
  }
  return std::unique_ptr<Metrics>(new PrometheusMetrics(std::move(exposer)));
}

const char* VerificationOutcomeLabel(const absl::Status& outcome) {
  switch (ApiCodeOf(outcome)) {
    case ApiCode::kOk:
      return "ok";
    case ApiCode::kWrongCode:
      return "wrong_code";
    case ApiCode::kCodeExpired:
      return "code_expired";
    case ApiCode::kInvalidArgument:
      return "invalid_argument";
    case ApiCode::kPhoneTaken:
      return "phone_taken";
    case ApiCode::kSamePhone:
      return "same_phone";
    case ApiCode::kOldPhoneMismatch:
    case ApiCode::kNoCurrentPhone:
      return "old_phone_mismatch";
    case ApiCode::kTooManyTokens:
      return "too_many_tokens";
    default:
      return "error";
  }
}

const char* RevertOutcomeLabel(const absl::Status& outcome) {
  switch (ApiCodeOf(outcome)) {
    case ApiCode::kOk:
      return "ok";
    case ApiCode::kRevertTokenNotFound:
      return "not_found";
    case ApiCode::kPhoneTaken:
      return "phone_taken";
    case ApiCode::kInvalidArgument:
      return "invalid_argument";
    case ApiCode::kTooFrequent:
      return "too_frequent";
    default:
      return "error";
  }
}

const char* GrpcCodeName(int code) {
  static constexpr const char* kNames[kGrpcCodes] = {
      "OK",
      "Canceled",
      "Unknown",
      "InvalidArgument",
      "DeadlineExceeded",
      "NotFound",
      "AlreadyExists",
      "PermissionDenied",
      "ResourceExhausted",
      "FailedPrecondition",
      "Aborted",
      "OutOfRange",
      "Unimplemented",
      "Internal",
      "Unavailable",
      "DataLoss",
      "Unauthenticated"};
  if (code < 0 || code >= kGrpcCodes) return "Unknown";
  return kNames[code];
}

}  // namespace profile
