#include "server/notices/notice_relay.h"

#include <algorithm>
#include <optional>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/crypto.h"
#include "server/common/flag_error.h"
#include "server/common/log.h"

namespace profile {
namespace {

// How long one notice's delivery may take before the chain gives up on it
// for this attempt (each provider attempt is bounded by --sms_timeout too);
// well within the lease, so that no other replica takes it meanwhile.
constexpr absl::Duration kSendDeadline = absl::Seconds(10);

// The backoff before attempt `attempts` + 1: `min` doubling, at most `max`,
// less up to a fifth at random so that replicas do not retry in step.
absl::Duration Backoff(int attempts, absl::Duration min, absl::Duration max) {
  absl::Duration delay = min;
  for (int i = 1; i < attempts && delay < max; ++i) delay *= 2;
  delay = std::min(delay, max);
  const std::string noise = RandomBytes(1);
  const double jitter = static_cast<unsigned char>(noise[0]) / 255.0 * 0.2;
  return delay * (1.0 - jitter);
}

}  // namespace

absl::Status NoticeRelayOptions::Validate() const {
  if (max_age < absl::Minutes(1) || max_age > absl::Hours(24 * 30)) {
    return InvalidFlagError("notice_max_age", "must be from 1m to 720h");
  }
  return absl::OkStatus();
}

NoticeRelay::NoticeRelay(const NoticeRelayOptions& options, NoticeQueue* queue,
                         SmsSender* sender,
                         std::shared_ptr<const SmsTexts> texts,
                         std::string outbox_key, NoticeMetrics* metrics,
                         std::shared_ptr<Clock> clock)
    : options_(options),
      queue_(queue),
      sender_(sender),
      texts_(std::move(texts)),
      outbox_key_(std::move(outbox_key)),
      metrics_(metrics),
      clock_(std::move(clock)) {}

NoticeRelay::~NoticeRelay() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void NoticeRelay::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void NoticeRelay::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void NoticeRelay::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      const auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return woken_ || stopping_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), options_.poll_interval);
      if (stopping_) return;
      if (woken_ && options_.gather > absl::ZeroDuration()) {
        // Wake() calls meanwhile find woken_ set and wake no one.
        const auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopping_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.gather);
        if (stopping_) return;
      }
      woken_ = false;
    }
    // A full batch may mean more are due: go on at once.
    while (RunOnce() >= static_cast<size_t>(options_.batch)) {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
  }
}

size_t NoticeRelay::RunOnce() {
  absl::StatusOr<std::vector<Notice>> due =
      queue_->Lease(options_.batch, options_.lease);
  if (!due.ok()) {
    // The backend is down: the notices wait in it, nothing is lost.
    Log(LogLevel::kWarning, "cannot read the notice outbox",
        {{"error", std::string(due.status().message())}});
    return 0;
  }
  // The sent notices are marked delivered together (one statement, one
  // commit), but before half their lease has passed: a notice sent and not
  // yet marked would be leased and sent again once its lease ended.
  const absl::Time leased_at = clock_->Now();
  std::vector<int64_t> sent;
  for (const Notice& notice : *due) {
    if (Deliver(notice)) sent.push_back(notice.id);
    if (clock_->Now() - leased_at >= options_.lease / 2) MarkDelivered(&sent);
  }
  MarkDelivered(&sent);
  return due->size();
}

void NoticeRelay::MarkDelivered(std::vector<int64_t>* sent) {
  if (sent->empty()) return;
  absl::Status done = queue_->Delivered(*sent);
  if (!done.ok()) {
    // Handed over but still queued: they go out again after their lease.
    Log(LogLevel::kWarning, "cannot mark notices delivered",
        {{"notices", absl::StrCat(sent->size())},
         {"error", std::string(done.message())}});
  }
  sent->clear();
}

bool NoticeRelay::Deliver(const Notice& notice) {
  const absl::Time now = clock_->Now();
  const std::string id_text = absl::StrCat(notice.id);
  const std::string masked = MaskPhone(notice.phone_e164);
  const LogField id{"notice_id", id_text};
  const LogField type{"type", NoticeTypeName(notice.type)};
  const LogField phone{"phone", masked};
  const LogField request{"request_id", notice.request_id};
  if (now - notice.created_at > options_.max_age) {
    absl::Status dropped = queue_->Drop(notice.id);
    if (!dropped.ok()) return false;  // leased again later, dropped then
    Log(LogLevel::kError, "notice expired unsent",
        {id, type, phone, request,
         {"attempts", absl::StrCat(notice.attempts)}});
    if (metrics_ != nullptr) metrics_->NoticeOutcome("expired");
    return false;
  }
  SmsMessage message;
  absl::Status sent;
  if (!Render(notice, &message)) {
    // Sealed under another key (--code_secret_file changed): it can never
    // be sent; keep it until it expires, loudly.
    sent = absl::DataLossError(
        "the revert token cannot be opened with this --code_secret_file");
  } else {
    sent = sender_->Send(message);
  }
  if (sent.ok()) {
    Log(LogLevel::kInfo, "notice sent", {id, type, phone, request});
    if (metrics_ != nullptr) metrics_->NoticeOutcome("sent");
    return true;
  }
  const absl::Duration delay =
      Backoff(notice.attempts, options_.min_backoff, options_.max_backoff);
  Log(LogLevel::kWarning, "notice not sent; will retry",
      {id, type, phone, request, {"attempts", absl::StrCat(notice.attempts)},
       {"retry_in", absl::FormatDuration(absl::Trunc(delay, absl::Seconds(1)))},
       {"error", std::string(sent.message())}});
  absl::Status retried = queue_->Retry(notice.id, delay);
  if (!retried.ok()) {
    Log(LogLevel::kWarning, "cannot reschedule a notice",
        {id, {"error", std::string(retried.message())}});
  }
  if (metrics_ != nullptr) metrics_->NoticeOutcome("retried");
  return false;
}

bool NoticeRelay::Render(const Notice& notice, SmsMessage* message) const {
  const absl::Time now = clock_->Now();
  message->phone_e164 = notice.phone_e164;
  message->language = notice.language;
  message->request_id = notice.request_id;
  message->deadline = now + kSendDeadline;
  if (notice.type == NoticeType::kPhoneUnlinked) {
    message->type = SmsType::kPhoneUnlinkedNotice;
    message->text = texts_->PhoneUnlinkedText(notice.language);
    return true;
  }
  std::optional<std::string> token =
      Unseal(outbox_key_, notice.sealed_revert_token);
  if (!token.has_value()) return false;
  message->type = SmsType::kPhoneChangedNotice;
  message->revert_token = *std::move(token);
  message->revert_expires_in =
      std::max(absl::ZeroDuration(),
               absl::Floor(notice.revert_expires_at - now, absl::Seconds(1)));
  message->text = texts_->PhoneChangedText(
      notice.language, MaskPhone(notice.new_phone_e164),
      message->revert_token, message->revert_expires_in);
  return true;
}

}  // namespace profile
