#include "server/sms/failover_sms_sender.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/common/api_error.h"
#include "server/common/flag_error.h"
#include "server/common/log.h"

namespace profile {
namespace {

// One provider and its circuit breaker.
class Member {
 public:
  Member(std::unique_ptr<SmsProvider> provider, const SmsDeliveryOptions& options,
         SmsMetrics* metrics)
      : provider_(std::move(provider)), options_(options), metrics_(metrics) {}

  SmsProvider& provider() const { return *provider_; }
  absl::string_view name() const { return provider_->name(); }

  // What the breaker allows now.
  enum class Admit { kYes, kProbe, kNo };
  Admit Admission(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (failures_ < options_.breaker_failures) return Admit::kYes;
    if (now < open_until_ || probing_) return Admit::kNo;
    probing_ = true;
    return Admit::kProbe;
  }

  // Returns true if the breaker is closed (no side effect).
  bool Closed() {
    absl::MutexLock lock(&mu_);
    return failures_ < options_.breaker_failures;
  }

  void Succeeded() {
    bool was_open;
    {
      absl::MutexLock lock(&mu_);
      was_open = failures_ >= options_.breaker_failures;
      failures_ = 0;
      probing_ = false;
    }
    if (was_open) {
      Log(LogLevel::kInfo, "sms provider breaker closed",
          {{"provider", name()}});
      if (metrics_ != nullptr) metrics_->SmsBreakerOpen(name(), false);
    }
  }

  void Failed(absl::Time now) {
    bool opened = false;
    {
      absl::MutexLock lock(&mu_);
      ++failures_;
      if (failures_ >= options_.breaker_failures) {
        opened = !probing_ && failures_ == options_.breaker_failures;
        open_until_ = now + options_.breaker_cooloff;
        probing_ = false;
        failures_ = options_.breaker_failures;
      }
    }
    if (opened) {
      Log(LogLevel::kError, "sms provider breaker open",
          {{"provider", name()},
           {"cooloff_s",
            absl::StrCat(absl::ToInt64Seconds(options_.breaker_cooloff))}});
      if (metrics_ != nullptr) metrics_->SmsBreakerOpen(name(), true);
    }
  }

 private:
  const std::unique_ptr<SmsProvider> provider_;
  const SmsDeliveryOptions options_;
  SmsMetrics* const metrics_;
  absl::Mutex mu_;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mu_);
  bool probing_ ABSL_GUARDED_BY(mu_) = false;
};

class FailoverSmsSender final : public SmsSender {
 public:
  FailoverSmsSender(std::vector<std::unique_ptr<SmsProvider>> providers,
                    const SmsDeliveryOptions& options, SmsMetrics* metrics)
      : options_(options), metrics_(metrics) {
    for (std::unique_ptr<SmsProvider>& provider : providers) {
      may_block_ = may_block_ || provider->MayBlock();
      members_.push_back(
          std::make_unique<Member>(std::move(provider), options, metrics));
      if (metrics_ != nullptr) metrics_->SmsBreakerOpen(members_.back()->name(), false);
    }
  }

  bool MayBlock() const override { return may_block_; }

  absl::Status Send(const SmsMessage& message) override {
    if (in_flight_.fetch_add(1, std::memory_order_relaxed) >=
        options_.max_in_flight) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      return absl::UnavailableError(absl::StrCat(
          "more than --sms_max_in_flight=", options_.max_in_flight,
          " SMS sends at once"));
    }
    absl::Status sent = SendInOrder(message);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return sent;
  }

 private:
  absl::Status SendInOrder(const SmsMessage& message) {
    absl::Status last = absl::UnavailableError("every SMS provider is skipped: "
                                               "their breakers are open");
    for (const std::unique_ptr<Member>& member : members_) {
      const Member::Admit admit = member->Admission(absl::Now());
      if (admit == Member::Admit::kNo) {
        Count(*member, "skipped", absl::ZeroDuration());
        continue;
      }
      const int attempts = admit == Member::Admit::kProbe ? 1 : options_.attempts;
      absl::Status status = SendTo(*member, message, attempts);
      if (status.ok()) return status;
      last = std::move(status);
      if (absl::Now() >= message.deadline) break;
    }
    return absl::UnavailableError(
        absl::StrCat("every SMS provider failed; the last: ", last.message()));
  }

  // Makes up to `attempts` attempts at `member`.
  absl::Status SendTo(Member& member, const SmsMessage& message, int attempts) {
    absl::Status status;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      const absl::Time start = absl::Now();
      const absl::Duration left = message.deadline - start;
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("the call's deadline passed");
      }
      SmsAttempt result = member.provider().Attempt(
          message, std::min(options_.timeout, left));
      const absl::Time end = absl::Now();
      const absl::Duration latency = end - start;
      status = result.status;
      if (status.ok()) {
        member.Succeeded();
        Count(member, "ok", latency);
        LogAttempt(member, message, attempt, result, latency);
        return status;
      }
      member.Failed(end);
      absl::Duration wait = Backoff(attempt);
      if (result.retry_after > absl::ZeroDuration()) wait = result.retry_after;
      const bool again = result.retryable && attempt < attempts &&
                         end + wait < message.deadline &&
                         member.Closed();
      Count(member, again ? "retried" : "failed", latency);
      LogAttempt(member, message, attempt, result, latency);
      if (!again) break;
      absl::SleepFor(wait);
    }
    return status;
  }

  // A jittered exponential backoff: from half to all of backoff * 2^(n-1).
  absl::Duration Backoff(int attempt) {
    const absl::Duration ceiling =
        options_.backoff * (int64_t{1} << std::min(attempt - 1, 10));
    absl::BitGen gen;
    return ceiling * absl::Uniform(gen, 0.5, 1.0);
  }

  void Count(const Member& member, absl::string_view outcome,
             absl::Duration latency) {
    if (metrics_ != nullptr) {
      metrics_->SmsAttempted(member.name(), outcome, latency);
    }
  }

  static void LogAttempt(const Member& member, const SmsMessage& message,
                         int attempt, const SmsAttempt& result,
                         absl::Duration latency) {
    const LogLevel level =
        result.status.ok() ? LogLevel::kInfo : LogLevel::kWarning;
    if (!LogEnabled(level)) return;
    Log(level, result.status.ok() ? "sms sent" : "sms attempt failed",
        {{"provider", member.name()},
         {"attempt", absl::StrCat(attempt)},
         {"http_status", absl::StrCat(result.http_status)},
         {"latency_ms", absl::StrCat(absl::ToDoubleMilliseconds(latency))},
         {"message_id", result.message_id},
         {"phone", MaskPhone(message.phone_e164)},
         {"request_id", message.request_id},
         {"error", result.status.ok() ? "" : result.status.message()}},
        message.trace);
  }

  const SmsDeliveryOptions options_;
  SmsMetrics* const metrics_;
  std::vector<std::unique_ptr<Member>> members_;
  bool may_block_ = false;
  std::atomic<int> in_flight_{0};
};

}  // namespace

absl::Status SmsDeliveryOptions::Validate() const {
  if (timeout < absl::Milliseconds(10) || timeout > absl::Minutes(1)) {
    return InvalidFlagError("sms_timeout", "must be from 10ms to 1m");
  }
  if (attempts < 1 || attempts > 10) {
    return InvalidFlagError("sms_attempts", "must be from 1 to 10");
  }
  if (breaker_failures < 1 || breaker_failures > 1000) {
    return InvalidFlagError("sms_breaker_failures", "must be from 1 to 1000");
  }
  if (breaker_cooloff < absl::Seconds(1) || breaker_cooloff > absl::Hours(1)) {
    return InvalidFlagError("sms_breaker_cooloff", "must be from 1s to 1h");
  }
  if (max_in_flight < 1 || max_in_flight > 10000) {
    return InvalidFlagError("sms_max_in_flight", "must be from 1 to 10000");
  }
  return absl::OkStatus();
}

std::unique_ptr<SmsSender> NewFailoverSmsSender(
    std::vector<std::unique_ptr<SmsProvider>> providers,
    const SmsDeliveryOptions& options, SmsMetrics* metrics) {
  return std::make_unique<FailoverSmsSender>(std::move(providers), options,
                                             metrics);
}

}  // namespace profile
