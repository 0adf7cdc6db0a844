#include "server/limits/send_limiter.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"
#include "server/common/flag_error.h"
#include "server/common/periodic.h"

namespace profile {

absl::Status SendLimits::Validate() const {
  if (resend_interval < absl::ZeroDuration() ||
      resend_interval > absl::Hours(1)) {
    return InvalidFlagError("code_resend_interval", "must be from 0s to 1h");
  }
  if (max_per_phone_per_hour < 1) {
    return InvalidFlagError("max_codes_per_phone_per_hour",
                            "must be at least 1");
  }
  if (max_per_user_per_hour < 1) {
    return InvalidFlagError("max_codes_per_user_per_hour",
                            "must be at least 1");
  }
  return absl::OkStatus();
}
namespace {

// Whole seconds from `now` until `until`, at least 1.
int SecondsUntil(absl::Time now, absl::Time until) {
  return std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(until - now, absl::Seconds(1))));
}

// A fixed window that opens with its first event and lasts an hour.
struct Window {
  absl::Time opened;
  int count = 0;
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

  absl::Status Acquire(const CodeKey& key,
                       absl::string_view user_id) override {
    const absl::Time now = clock_->Now();
    const std::string cooldown_key = CooldownKey(key);
    absl::MutexLock lock(&mu_);
    if (auto it = cooldowns_.find(cooldown_key);
        it != cooldowns_.end() && it->second > now) {
      return CooldownError(SecondsUntil(now, it->second));
    }
    Window phone = Current(phones_, key.phone_e164, now);
    if (phone.count >= limits_.max_per_phone_per_hour) {
      return PhoneHourlyCapError(
          SecondsUntil(now, phone.opened + absl::Hours(1)));
    }
    Window user = Current(users_, user_id, now);
    if (user.count >= limits_.max_per_user_per_hour) {
      return UserHourlyCapError(
          SecondsUntil(now, user.opened + absl::Hours(1)));
    }
    if (cooldowns_.size() + phones_.size() + users_.size() + 3 >
        max_entries_) {
      return TooFrequentError("the service is sending too many codes", 60);
    }
    cooldowns_[cooldown_key] = now + limits_.resend_interval;
    phones_[key.phone_e164] = Window{phone.opened, phone.count + 1};
    users_[user_id] = Window{user.opened, user.count + 1};
    return absl::OkStatus();
  }


  size_t SweepExpired() override {
    const absl::Time now = clock_->Now();
    const absl::Time hour_ago = now - absl::Hours(1);
    absl::MutexLock lock(&mu_);
    size_t swept = absl::erase_if(
        cooldowns_, [now](const auto& entry) { return entry.second <= now; });
    const auto ended = [hour_ago](const auto& entry) {
      return entry.second.opened <= hour_ago;
    };
    swept += absl::erase_if(phones_, ended);
    swept += absl::erase_if(users_, ended);
    return swept;
  }

 private:
  using Windows = absl::flat_hash_map<std::string, Window>;

  static std::string CooldownKey(const CodeKey& key) {
    return absl::StrCat(static_cast<int>(key.purpose), key.phone_e164);
  }

  // Returns the window of `key` as of `now`: the stored one while it lasts,
  // else a fresh one.
  static Window Current(const Windows& windows, absl::string_view key,
                        absl::Time now) {
    auto it = windows.find(key);
    if (it == windows.end() || it->second.opened + absl::Hours(1) <= now) {
      return Window{now, 0};
    }
    return it->second;
  }

  const std::shared_ptr<Clock> clock_;
  const SendLimits limits_;
  const size_t max_entries_;
  absl::Mutex mu_;
  // Phone and purpose -> when the cooldown ends.
  absl::flat_hash_map<std::string, absl::Time> cooldowns_ ABSL_GUARDED_BY(mu_);
  Windows phones_ ABSL_GUARDED_BY(mu_);
  Windows users_ ABSL_GUARDED_BY(mu_);
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

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

std::unique_ptr<SendLimiter> NewInMemorySendLimiter(
    std::shared_ptr<Clock> clock, const InMemorySendLimiterOptions& options) {
  return std::make_unique<InMemorySendLimiter>(std::move(clock), options);
}

}  // namespace profile
