// The "log" SMS sender: writes each message to the server log.
//
// For local use only: the code appears in the log, which no production log
// may contain (profile_server warns at start).
//
//   std::unique_ptr<SmsSender> sender = NewLogSmsSender();
//
// Thread-safety: Send() is safe to call concurrently.
#ifndef PROFILE_SERVER_SMS_LOG_SMS_SENDER_H_
#define PROFILE_SERVER_SMS_LOG_SMS_SENDER_H_

#include <memory>

#include "server/sms/sms_sender.h"

namespace profile {

// Returns the sender that writes messages to the log.
std::unique_ptr<SmsSender> NewLogSmsSender();

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_LOG_SMS_SENDER_H_
