// The "outbox:PATH" SMS sender: appends one JSON object per line to a file,
// with `time`, `phone_e164`, `code`, `purpose` and `text`, for tests and for
// a relay process that forwards them to a gateway.
//
//   absl::StatusOr<std::unique_ptr<SmsSender>> sender =
//       NewOutboxSmsSender("/var/run/profile/outbox.jsonl");
//
// Thread-safety: Send() is safe to call concurrently; each message is one
// write() to a file opened with O_APPEND, so readers never see half a line.
#ifndef PROFILE_SERVER_SMS_OUTBOX_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_OUTBOX_SMS_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/sms/sms_sender.h"

namespace profile {

// Returns the sender that appends messages to the file at `path` (created
// with mode 0600 if missing). Fails if the file cannot be opened.
absl::StatusOr<std::unique_ptr<SmsSender>> NewOutboxSmsSender(
    const std::string& path);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_OUTBOX_SMS_SENDER_H_
