#include "server/sms/sms_provider.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/http/http_client.h"

namespace profile {
namespace {

class SenderProvider final : public SmsProvider {
 public:
  SenderProvider(std::string name, std::unique_ptr<SmsSender> sender)
      : name_(std::move(name)), sender_(std::move(sender)) {}

  absl::string_view name() const override { return name_; }

  bool MayBlock() const override { return sender_->MayBlock(); }

  SmsAttempt Attempt(const SmsMessage& message, absl::Duration) override {
    SmsAttempt attempt;
    attempt.status = sender_->Send(message);
    return attempt;
  }

 private:
  const std::string name_;
  const std::unique_ptr<SmsSender> sender_;
};

}  // namespace

std::unique_ptr<SmsProvider> NewSenderProvider(
    std::string name, std::unique_ptr<SmsSender> sender) {
  return std::make_unique<SenderProvider>(std::move(name), std::move(sender));
}

absl::string_view SmsTypeName(SmsType type) {
  switch (type) {
    case SmsType::kVerificationCode:
      return "verification_code";
    case SmsType::kPhoneInUseNotice:
      return "phone_in_use_notice";
    case SmsType::kPhoneChangedNotice:
      return "phone_changed_notice";
    case SmsType::kPhoneUnlinkedNotice:
      return "phone_unlinked_notice";
  }
  return "verification_code";
}

SmsAttempt HttpAttempt(absl::string_view what, int http_status,
                       absl::string_view retry_after) {
  SmsAttempt attempt;
  attempt.http_status = http_status;
  if (http_status >= 200 && http_status < 300) return attempt;
  attempt.retryable = http_status == 429 || http_status >= 500;
  if (attempt.retryable) attempt.retry_after = ParseRetryAfter(retry_after);
  attempt.status = absl::UnavailableError(
      absl::StrCat(what, " answered HTTP ", http_status));
  return attempt;
}

}  // namespace profile
