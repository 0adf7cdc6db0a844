#include "server/limits/send_limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"
#include "server/common/flag_error.h"
#include "server/common/log.h"
#include "server/common/periodic.h"
#include "server/common/stack_key.h"

namespace profile {

absl::Status SendLimits::Validate() const {
  if (resend_interval < absl::ZeroDuration() ||
      resend_interval > absl::Hours(1)) {
    return InvalidFlagError("code_resend_interval", "must be from 0s to 1h");
  }
  struct Cap {
    const char* flag;
    int value;
    int min;
  };
  for (const Cap& cap : {
           Cap{"max_codes_per_phone_per_hour", max_per_phone_per_hour, 1},
           Cap{"max_codes_per_user_per_hour", max_per_user_per_hour, 1},
           Cap{"max_codes_per_ip_per_hour", max_per_ip_per_hour, 1},
           Cap{"max_codes_per_region_per_hour", max_per_region_per_hour, 0},
           Cap{"max_codes_per_hour", max_per_hour, 0},
           Cap{"max_verifications_per_user_per_hour",
               max_verifications_per_user_per_hour, 1},
           Cap{"max_code_failures_per_day", max_code_failures_per_day, 1},
           Cap{"max_reverts_per_ip_per_hour", max_reverts_per_ip_per_hour,
               1},
           Cap{"region_breaker_min_codes", region_breaker_min_codes, 0},
       }) {
    // A million an hour is beyond any SMS provider's throughput.
    if (cap.value < cap.min || cap.value > 1000000) {
      return InvalidFlagError(
          cap.flag, cap.min == 0 ? "must be from 0 (no cap) to 1000000"
                                 : "must be from 1 to 1000000");
    }
  }
  if (!(region_breaker_min_conversion >= 0.0 &&
        region_breaker_min_conversion <= 1.0)) {
    return InvalidFlagError("region_breaker_min_conversion",
                            "must be from 0 (breaker off) to 1");
  }
  return absl::OkStatus();
}

std::string ClientAddressKey(absl::string_view ip) {
  in6_addr v6;
  const std::string text(ip);
  if (text.find(':') == std::string::npos ||
      inet_pton(AF_INET6, text.c_str(), &v6) != 1) {
    return text;
  }
  // A mapped IPv4 address is that IPv4 address.
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    char v4[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &v6.s6_addr[12], v4, sizeof(v4)) != nullptr) {
      return v4;
    }
  }
  std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), 0);
  char prefix[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &v6, prefix, sizeof(prefix)) == nullptr) {
    return text;
  }
  return absl::StrCat(prefix, "/64");
}

namespace {

// Whole seconds from `now` until `until`, at least 1.
int SecondsUntil(absl::Time now, absl::Time until) {
  return std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(until - now, absl::Seconds(1))));
}

constexpr absl::Duration kHour = absl::Hours(1);
constexpr absl::Duration kDay = absl::Hours(24);

// A fixed window that opens with its first event.
struct Window {
  absl::Time ends;
  int count = 0;
  // Of a region's window: how many of its codes were verified.
  int verified = 0;
};

class InMemorySendLimiter final : public SendLimiter {
 public:
  bool MayBlock() const override { return false; }
  InMemorySendLimiter(std::shared_ptr<Clock> clock,
                      const InMemorySendLimiterOptions& options)
      : clock_(std::move(clock)),
        limits_(options.limits),
        max_entries_(options.max_entries) {
    if (options.sweep_interval > absl::ZeroDuration()) {
      sweeper_.emplace(options.sweep_interval, [this] { SweepExpired(); });
    }
  }

  ~InMemorySendLimiter() override { sweeper_.reset(); }

  absl::Status Acquire(const SendRequest& request) override {
    const CodeKey& key = request.key;
    const absl::Time now = clock_->Now();
    const std::string cooldown_key = CooldownKey(key);
    const std::string phone_key = absl::StrCat("p:", key.phone_e164);
    const std::string user_key = absl::StrCat("u:", key.user_id);
    const std::string client_key = absl::StrCat("i:", request.client);
    const std::string region_key = absl::StrCat("r:", request.region);
    const bool has_client = !request.client.empty();
    const bool has_region = !request.region.empty();
    absl::MutexLock lock(&mu_);
    if (auto it = cooldowns_.find(cooldown_key);
        it != cooldowns_.end() && it->second > now) {
      return CooldownError(SecondsUntil(now, it->second));
    }
    const Window phone = Current(phone_key, now, kHour);
    if (phone.count >= limits_.max_per_phone_per_hour) {
      return PhoneHourlyCapError(SecondsUntil(now, phone.ends));
    }
    const Window user = Current(user_key, now, kHour);
    if (user.count >= limits_.max_per_user_per_hour) {
      return UserHourlyCapError(SecondsUntil(now, user.ends));
    }
    const Window client = Current(client_key, now, kHour);
    if (has_client && client.count >= limits_.max_per_ip_per_hour) {
      return IpHourlyCapError(SecondsUntil(now, client.ends));
    }
    const Window region = Current(region_key, now, kHour);
    if (has_region) {
      if (auto it = suspended_.find(request.region);
          it != suspended_.end() && it->second > now) {
        return RegionSuspendedError(SecondsUntil(now, it->second));
      }
      if (Trips(region)) {
        suspended_[request.region] = now + kRegionSuspension;
        windows_.erase(region_key);
        LogRegionSuspended(request.region, region.count, region.verified);
        return RegionSuspendedError(SecondsUntil(now, now + kRegionSuspension));
      }
      if (limits_.max_per_region_per_hour > 0 &&
          region.count >= limits_.max_per_region_per_hour) {
        return RegionHourlyCapError(SecondsUntil(now, region.ends));
      }
    }
    const Window all = Current("g", now, kHour);
    if (limits_.max_per_hour > 0 && all.count >= limits_.max_per_hour) {
      return ServiceHourlyCapError(SecondsUntil(now, all.ends));
    }
    size_t added = cooldowns_.contains(cooldown_key) ? 0 : 1;
    for (const std::string* key :
         {&phone_key, &user_key, has_client ? &client_key : nullptr,
          has_region ? &region_key : nullptr}) {
      if (key != nullptr && !windows_.contains(*key)) ++added;
    }
    if (cooldowns_.size() + windows_.size() + added > max_entries_) {
      return TooFrequentError("the service is sending too many codes", 60);
    }
    cooldowns_[cooldown_key] = now + limits_.resend_interval;
    Count(phone_key, phone);
    Count(user_key, user);
    if (has_client) Count(client_key, client);
    if (has_region) Count(region_key, region);
    if (limits_.max_per_hour > 0) Count("g", all);
    return absl::OkStatus();
  }

  absl::StatusOr<FailureCaps> AcquireVerification(
      absl::string_view user_id,
      absl::Span<const std::string> phones) override {
    absl::Status allowed = TakeFromHour(
        StackKey({"v:", user_id}).view(),
        limits_.max_verifications_per_user_per_hour, VerificationCapError,
        "the service is checking too many codes");
    if (!allowed.ok()) return allowed;
    FailureCaps failures;
    for (const std::string& phone : phones) {
      failures.push_back(CheckCodeFailures(user_id, phone));
    }
    return failures;
  }

  absl::Status AcquireRevert(absl::string_view client) override {
    return TakeFromHour(StackKey({"x:", client}).view(),
                        limits_.max_reverts_per_ip_per_hour, RevertCapError,
                        "the service is undoing too many changes");
  }

  absl::Status CheckCodeFailures(absl::string_view user_id,
                                 absl::string_view phone_e164) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    const Window window =
        Current(FailuresKey(user_id, phone_e164).view(), now, kDay);
    if (window.count >= limits_.max_code_failures_per_day) {
      return CodeFailureCapError(SecondsUntil(now, window.ends));
    }
    return absl::OkStatus();
  }

  absl::Status RecordCodeFailure(absl::string_view user_id,
                                 absl::string_view phone_e164) override {
    const absl::Time now = clock_->Now();
    const std::string key(FailuresKey(user_id, phone_e164).view());
    absl::MutexLock lock(&mu_);
    const Window window = Current(key, now, kDay);
    if (!windows_.contains(key) && windows_.size() + 1 > max_entries_) {
      return absl::ResourceExhaustedError("too many wrong codes tracked");
    }
    Count(key, window);
    return absl::OkStatus();
  }

  absl::Status RecordVerified(
      absl::Span<const std::string> regions) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    for (const std::string& region : regions) {
      if (region.empty()) continue;
      auto it = windows_.find(absl::StrCat("r:", region));
      if (it != windows_.end() && it->second.ends > now) ++it->second.verified;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<RegionSuspension>> SuspendedRegions() override {
    const absl::Time now = clock_->Now();
    std::vector<RegionSuspension> regions;
    absl::MutexLock lock(&mu_);
    for (const auto& [region, until] : suspended_) {
      if (until > now) regions.push_back({region, until});
    }
    return regions;
  }

  size_t SweepExpired() override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    const auto ended = [now](const auto& entry) { return entry.second <= now; };
    size_t swept = absl::erase_if(cooldowns_, ended);
    swept += absl::erase_if(suspended_, ended);
    swept += absl::erase_if(windows_, [now](const auto& entry) {
      return entry.second.ends <= now;
    });
    return swept;
  }

 private:
  static std::string CooldownKey(const CodeKey& key) {
    return absl::StrCat(static_cast<int>(key.purpose), key.phone_e164);
  }

  // The phone goes first: it holds no newline, the user id may.
  static StackKey FailuresKey(absl::string_view user_id,
                              absl::string_view phone_e164) {
    return StackKey({"f:", phone_e164, "\n", user_id});
  }

  // Returns the window of `key` as of `now`: the stored one while it lasts,
  // else a fresh one of `length`.
  Window Current(absl::string_view key, absl::Time now, absl::Duration length)
      const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = windows_.find(key);
    if (it == windows_.end() || it->second.ends <= now) {
      return Window{now + length};
    }
    return it->second;
  }

  void Count(const std::string& key, Window window)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++window.count;
    windows_[key] = window;
  }

  // Counts one event in the hour window of `key`, unless it holds `max`
  // already (`capped` with the seconds left) or the limiter is full. One
  // look-up: it runs on every verification.
  absl::Status TakeFromHour(absl::string_view key, int max,
                            absl::Status (*capped)(int),
                            absl::string_view full) {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    auto it = windows_.find(key);
    const Window window = it != windows_.end() && it->second.ends > now
                              ? it->second
                              : Window{now + kHour};
    if (window.count >= max) return capped(SecondsUntil(now, window.ends));
    if (it == windows_.end()) {
      if (windows_.size() + 1 > max_entries_) return TooFrequentError(full, 60);
      it = windows_.try_emplace(std::string(key)).first;
    }
    it->second = window;
    ++it->second.count;
    return absl::OkStatus();
  }

  // Returns true if a region window this full converts too few codes.
  bool Trips(const Window& region) const {
    return limits_.region_breaker_min_codes > 0 &&
           region.count >= limits_.region_breaker_min_codes &&
           region.verified <
               limits_.region_breaker_min_conversion * region.count;
  }

  const std::shared_ptr<Clock> clock_;
  const SendLimits limits_;
  const size_t max_entries_;
  absl::Mutex mu_;
  // Phone and purpose -> when the cooldown ends.
  absl::flat_hash_map<std::string, absl::Time> cooldowns_ ABSL_GUARDED_BY(mu_);
  // Every counting window, by kind ("p:" phone, "u:" user, "i:" client,
  // "r:" region, "g" the service, "v:" verifications, "f:" wrong codes).
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
  // Region -> when its suspension ends.
  absl::flat_hash_map<std::string, absl::Time> suspended_ ABSL_GUARDED_BY(mu_);
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

void LogRegionSuspended(absl::string_view region, int sent, int verified) {
  Log(LogLevel::kError, "sms region suspended",
      {{"region", std::string(region)},
       {"codes_sent", absl::StrCat(sent)},
       {"codes_verified", absl::StrCat(verified)},
       {"suspended_for", "1h"}});
}

absl::Status CooldownError(int seconds) {
  return TooFrequentError(
      "a code was sent to this phone moments ago; wait before asking again",
      seconds);
}

absl::Status PhoneHourlyCapError(int seconds) {
  return TooFrequentError("this phone received too many codes this hour",
                          seconds);
}

absl::Status UserHourlyCapError(int seconds) {
  return TooFrequentError("this account requested too many codes this hour",
                          seconds);
}

absl::Status IpHourlyCapError(int seconds) {
  return TooFrequentError("too many codes were requested from this address "
                          "this hour", seconds);
}

absl::Status RegionHourlyCapError(int seconds) {
  return TooFrequentError("too many codes were sent to this region this hour",
                          seconds);
}

absl::Status ServiceHourlyCapError(int seconds) {
  return TooFrequentError("the service sent its codes for this hour",
                          seconds);
}

absl::Status RegionSuspendedError(int seconds) {
  return TooFrequentError("codes to this region are suspended for now",
                          seconds);
}

absl::Status VerificationCapError(int seconds) {
  return TooFrequentError("this account tried too many verifications this "
                          "hour", seconds);
}

absl::Status RevertCapError(int seconds) {
  return TooFrequentError("too many reverts were tried from this address "
                          "this hour", seconds);
}

absl::Status CodeFailureCapError(int seconds) {
  return TooFrequentError("too many wrong codes for this phone today",
                          seconds);
}

std::unique_ptr<SendLimiter> NewInMemorySendLimiter(
    std::shared_ptr<Clock> clock, const InMemorySendLimiterOptions& options) {
  return std::make_unique<InMemorySendLimiter>(std::move(clock), options);
}

}  // namespace profile
