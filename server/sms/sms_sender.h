// SmsSender: delivers a verification code to a phone.
//
// Production deployments plug in their SMS gateway here. Two senders ship:
//   - log: writes the message to the server log. For local use only: the
//     code appears in the log, which no production log may contain.
//   - outbox:PATH: appends one JSON object per line to PATH, with
//     `phone_e164`, `code`, `purpose`, `text` and `time`, for tests and for a
//     relay process that forwards them to a gateway.
//
//   absl::StatusOr<std::unique_ptr<SmsSender>> sender =
//       NewSmsSenderFromSpec("outbox:/var/run/profile/outbox.jsonl");
//   (*sender)->Send({"+8613800138000", "123456", CodePurpose::kNewPhone,
//                    "Your code is 123456"});
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_SMS_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_SMS_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/codes/code_store.h"

namespace profile {

struct SmsMessage {
  std::string phone_e164;
  std::string code;
  CodePurpose purpose;
  // The text the phone shows.
  std::string text;
};

class SmsSender {
 public:
  virtual ~SmsSender() = default;

  // Delivers `message`. Returns UNAVAILABLE if it could not be handed over.
  virtual absl::Status Send(const SmsMessage& message) = 0;
};

// Returns the sender that writes messages to the log.
std::unique_ptr<SmsSender> NewLogSmsSender();

// Returns the sender that appends messages to the file at `path` (created
// with mode 0600 if missing). Fails if the file cannot be opened.
absl::StatusOr<std::unique_ptr<SmsSender>> NewOutboxSmsSender(
    const std::string& path);

// Returns the sender a --sms_sender value names: "log" or "outbox:PATH".
absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSenderFromSpec(
    absl::string_view spec);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_SENDER_H_
