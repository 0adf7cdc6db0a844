// SmsSender: delivers a text message (a verification code) to a phone.
//
// The core sends through one SmsSender: the --sms_sender chain that
// sms_factory.h builds, each member a provider (sms_provider.h) in a file
// pair of this folder, under the delivery policy of failover_sms_sender.h.
// `log` (log_sms_sender.h) and `outbox:PATH` (outbox_sms_sender.h) are
// SmsSenders themselves, as are the tests' capturing senders.
//
//   SmsMessage message;
//   message.phone_e164 = "+8613800138000";
//   message.code = "123456";
//   message.purpose = CodePurpose::kNewPhone;
//   message.text = texts->CodeText(...);
//   absl::Status sent = sender->Send(message);
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
#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/common/language.h"
#include "server/common/trace_context.h"

namespace profile {

// What a message is, as the webhook's `type` and the outbox's names it.
enum class SmsType {
  // A verification code ("verification_code").
  kVerificationCode,
  // No code: someone asked to link this number, which another account
  // holds ("phone_in_use_notice").
  kPhoneInUseNotice,
  // No code: the account's phone was changed away from this number; carries
  // the revert token ("phone_changed_notice").
  kPhoneChangedNotice,
  // No code: a revert unlinked this number from the account
  // ("phone_unlinked_notice").
  kPhoneUnlinkedNotice,
};

// Returns "verification_code", "phone_in_use_notice",
// "phone_changed_notice" or "phone_unlinked_notice".
absl::string_view SmsTypeName(SmsType type);

struct SmsMessage {
  SmsType type = SmsType::kVerificationCode;
  std::string phone_e164;
  // Empty for a notice.
  std::string code;
  CodePurpose purpose = CodePurpose::kNewPhone;
  // The text the phone shows.
  std::string text;
  // The language of `text`, and the request that asked for the message.
  Language language = Language::kEnglish;
  std::string request_id;
  // The trace of that request. A sender that calls a provider over the
  // network sends `trace.Traceparent()` (when non-empty) as the
  // `traceparent` header of its request, so the provider joins the trace.
  TraceContext trace;
  // When the caller stops waiting: no attempt runs past it.
  absl::Time deadline = absl::InfiniteFuture();
  // Of a phone_changed_notice: the token that undoes the change, and how
  // long it stays valid (so that a gateway can build its own link).
  std::string revert_token;
  absl::Duration revert_expires_in = absl::ZeroDuration();
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

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_SENDER_H_
