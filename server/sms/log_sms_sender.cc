#include "server/sms/log_sms_sender.h"

#include "server/common/log.h"

namespace profile {
namespace {

class LogSmsSender final : public SmsSender {
 public:
  bool MayBlock() const override { return false; }

  absl::Status Send(const SmsMessage& message) override {
    // The one place a code reaches the log, by design of this sender.
    if (message.type == SmsType::kVerificationCode) {
      Log(LogLevel::kInfo, "sms (log sender, local use only)",
          {{"phone_e164", message.phone_e164},
           {"purpose", CodePurposeName(message.purpose)},
           {"sms_text", message.text}});
    } else {
      Log(LogLevel::kInfo, "sms (log sender, local use only)",
          {{"phone_e164", message.phone_e164},
           {"type", SmsTypeName(message.type)},
           {"sms_text", message.text}});
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<SmsSender> NewLogSmsSender() {
  return std::make_unique<LogSmsSender>();
}

}  // namespace profile
