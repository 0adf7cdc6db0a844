// SmsSender: delivers a text message (a verification code) to a phone.
//
// A pluggable piece: this header declares the interface and the factory
// that builds a sender from its --sms_sender name; each sender is a file
// pair in this folder:
//   - log (log_sms_sender.h): writes the message to the server log. Local
//     use only: the code appears in the log.
//   - outbox:PATH (outbox_sms_sender.h): appends one JSON object per line
//     to PATH, for tests and for a relay process.
//
//   absl::StatusOr<std::unique_ptr<SmsSender>> sender =
//       NewSmsSenderFromSpec("outbox:/var/run/profile/outbox.jsonl");
//   (*sender)->Send({"+8613800138000", "123456", CodePurpose::kNewPhone,
//                    "Your code is 123456"});
//
// A sender that waits on a network answers MayBlock() with true (the
// default): the service then never calls it on gRPC's callback threads.
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
#include "server/common/language.h"
#include "server/common/trace_context.h"

namespace profile {

struct SmsMessage {
  std::string phone_e164;
  std::string code;
  CodePurpose purpose;
  // The text the phone shows.
  std::string text;
  // The language of `text`, and the request that asked for the message.
  Language language = Language::kEnglish;
  std::string request_id;
  // The trace of that request. A sender that calls a provider over the
  // network sends `trace.Traceparent()` (when non-empty) as the
  // `traceparent` header of its request, so the provider joins the trace.
  TraceContext trace;
};

class SmsSender {
 public:
  virtual ~SmsSender() = default;

  // Returns true if a call may wait on a network or a disk. The service then
  // runs the RPCs that use this off gRPC's callback threads, on its bounded
  // executor. True unless an implementation knows better: only what is
  // certain to return at once (memory under a mutex) may answer false.
  virtual bool MayBlock() const { return true; }

  // Delivers `message`. Returns UNAVAILABLE if it could not be handed over.
  virtual absl::Status Send(const SmsMessage& message) = 0;
};

// Returns the sender a --sms_sender value names: "log" or "outbox:PATH".
absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSenderFromSpec(
    absl::string_view spec);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_SENDER_H_
