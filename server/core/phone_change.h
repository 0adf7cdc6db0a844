// PhoneChange: the business rules of changing an account's phone.
//
// This is the core the RPC layer calls; it knows nothing of gRPC. Inputs are
// the raw strings of a request, already authenticated; every answer is an
// absl::Status carrying the API's code (server/common/api_error.h).
//
// The service builds it through NewCore() (server/core/core_factory.h), the
// one place that wires it; tests and tools do too.
//
//   PhoneChange core(options, deps);
//   auto sent = core.SendCode(call, {"+86", "138 0013 8000",
//                                    CodePurpose::kNewPhone});
//   auto token = core.Verify(call, {"+86", "13800138000", "123456"});
//   absl::Status changed = core.Update(call, token->token);
//
// Thread-safety: safe to call concurrently; races between calls resolve in
// the stores (a token is taken once, a phone is bound once).
#ifndef PROFILE_SERVER_CORE_PHONE_CHANGE_H_
#define PROFILE_SERVER_CORE_PHONE_CHANGE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/codes/code_store.h"
#include "server/codes/code_verifier.h"
#include "server/common/clock.h"
#include "server/common/language.h"
#include "server/common/trace_context.h"
#include "server/idempotency/idempotency_store.h"
#include "server/limits/send_limiter.h"
#include "server/metrics/phone_change_metrics.h"
#include "server/notices/notice_relay.h"
#include "server/phone/phone_number.h"
#include "server/sms/sms_sender.h"
#include "server/sms/sms_text.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile {

// Who is calling, as established by the RPC layer.
struct Caller {
  std::string user_id;
  std::string request_id;
  Language language = Language::kEnglish;
  // The caller's W3C trace (metadata `traceparent`); empty without one.
  // Log lines of the call carry it, and so do outgoing provider requests.
  TraceContext trace;
  // The caller's `x-idempotency-key`, already checked for form; empty for
  // none. SendCode() replays its first successful answer to a repeat.
  std::string idempotency_key;
  // When the caller stops waiting (the call's deadline).
  absl::Time deadline = absl::InfiniteFuture();
  // The end user's address (metadata x-client-ip from the trusted gateway),
  // canonical; empty when unknown.
  std::string client_ip;
};

struct PhoneChangeOptions {
  // Digits in a texted code (4 to 10).
  int code_length = 6;
  absl::Duration code_ttl = absl::Minutes(5);
  int max_code_attempts = 5;
  // The limits the SendLimiter enforces; reported to callers.
  SendLimits send_limits;
  absl::Duration token_ttl = absl::Seconds(60);
  // Whether an account that has a phone must also prove it owns it.
  bool verify_old_phone = true;
  // Whether a change that replaces a phone texts the old phone a notice
  // with a revert token.
  bool notify_old_phone = true;
  // How long a revert token stays valid (1s to 720h).
  absl::Duration revert_window = absl::Hours(168);
  // How long phone changes of an account stay locked after a revert.
  absl::Duration change_lock_after_revert = absl::Hours(24);
  // The regions whose numbers may be texted a code, ISO 3166-1 alpha-2
  // codes as libphonenumber knows them ("CN", "US"); empty: every region.
  // Test numbers are exempt.
  std::vector<std::string> sms_allowed_regions;
  // Numbers in the reserved fictional ranges that requests may name although
  // libphonenumber calls them invalid: the test numbers among them
  // (NewCore() fills this from --test_phone_codes).
  FictionalNumbers fictional_numbers;
  // The texts of the notices (NewCore() fills this from --app_name...).
  std::shared_ptr<const SmsTexts> texts = SmsTexts::Default();

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming
  // the flag.
  absl::Status Validate() const;
};

// The collaborators; the core owns none of them.
struct PhoneChangeDeps {
  std::shared_ptr<Clock> clock;
  UserStore* users;
  TokenStore* tokens;
  SendLimiter* limiter;
  // Issues and decides codes: test numbers first, then a provider.
  CodeVerifier* verifier;
  // Counts codes sent, verifications and tokens spent; null for none.
  PhoneChangeMetrics* metrics = nullptr;
  // Remembers answers for retries (idempotency keys, spent tokens); null
  // for none: a retry then runs anew.
  IdempotencyStore* idempotency = nullptr;
  // Texts the notices that carry no code (the --sms_sender chain).
  SmsSender* notices = nullptr;
  // Delivers the notices that changes queue in the user store's outbox;
  // Wake()n after each. Null for none (a relay elsewhere polls).
  NoticeRelay* relay = nullptr;
  // Seals the revert tokens that wait in the outbox (32 bytes; the relay
  // opens them with the same key).
  std::string outbox_key;
};

struct SendCodeInput {
  std::string phone_country_code;
  std::string phone_number;
  // Anything but kNewPhone or kOldPhone is refused.
  CodePurpose purpose = CodePurpose::kUnspecified;
};

struct SendCodeResult {
  absl::Duration expires_in;
  absl::Duration resend_after;
};

struct VerifyInput {
  std::string new_phone_country_code;
  std::string new_phone_number;
  std::string new_phone_pass_code;
  std::string old_phone_country_code;
  std::string old_phone_number;
  std::string old_phone_pass_code;
};

struct VerifyResult {
  // The one-time token; the only copy the server ever has.
  std::string token;
  absl::Duration expires_in;
};

struct ProfileView {
  std::string user_id;
  std::string phone_country_code;
  std::string phone_number;
  std::string phone_e164;
};

// The longest token accepted by Update(), in bytes (a real one has 43).
inline constexpr size_t kMaxTokenBytes = 128;

// Returns what a change of `user_id`'s phone from `old_e164` ("" for none)
// to `new_e164` commits besides the phone: with `options.notify_old_phone`
// and an old phone, a revert token (its digest, valid
// `options.revert_window`) and the notice that carries it, sealed under
// `outbox_key`, to the old phone in `language`.
ChangeRecord NewChangeRecord(const PhoneChangeOptions& options,
                             absl::string_view outbox_key,
                             absl::string_view user_id,
                             absl::string_view old_e164,
                             absl::string_view new_e164, Language language,
                             absl::string_view request_id);

class PhoneChange {
 public:
  PhoneChange(const PhoneChangeOptions& options, PhoneChangeDeps deps);

  // Texts a code to a phone (nothing for a test number). Only a number that
  // can be a mobile (MOBILE or FIXED_LINE_OR_MOBILE to libphonenumber) is
  // texted, else INVALID_ARGUMENT api code 2121; and only one of
  // --sms_allowed_regions, else INVALID_ARGUMENT 2120. Test numbers are
  // exempt from both. With
  // `caller.idempotency_key`, a repeat by the same user with the same key and
  // the same request (phone and purpose) within the code's TTL gets the first
  // successful answer again and texts nothing; a concurrent repeat waits for
  // the first. The same key with another request is INVALID_ARGUMENT, api
  // code 1004. A failed call is not remembered: its retry runs anew.
  absl::StatusOr<SendCodeResult> SendCode(const Caller& caller,
                                          const SendCodeInput& input);

  // Checks the code(s) and issues an update-phone token. The type and region
  // rules of SendCode() are not applied again: a number never texted has no
  // code (2300).
  absl::StatusOr<VerifyResult> Verify(const Caller& caller,
                                      const VerifyInput& input);

  // Spends a token and binds its new phone to the caller's account. The
  // same user retrying with the same token within --token_ttl of a change
  // that succeeded gets OK again, and nothing changes twice; a retry while
  // the first attempt runs waits for it.
  absl::Status Update(const Caller& caller, absl::string_view token);

  // Returns the caller's profile; empty phone fields if it has no phone.
  absl::StatusOr<ProfileView> GetProfile(const Caller& caller);

  // Undoes the phone change whose revert token is `token` (UserStore::
  // Revert()), then voids the account's live update-phone token. Needs no
  // user: `caller` gives the request id, language and client address
  // (reverts per address are limited like sends). Malformed token: 1001.
  absl::Status Revert(const Caller& caller, absl::string_view token);

  const PhoneChangeOptions& options() const { return options_; }

  // The RPCs of the core.
  enum class Rpc { kSendCode, kVerify, kUpdate, kGetProfile, kRevert };

  // Returns true if `rpc` may wait on a network or a disk: some store or
  // provider it uses says so. Such calls must not run on gRPC's callback
  // threads.
  bool MayBlock(Rpc rpc) const;

 private:
  // Update() after the token is checked, without idempotency: takes the
  // token and applies its change.
  absl::Status Spend(const Caller& caller, absl::string_view token_hash);

  // SendCode() after the request is checked, without idempotency.
  absl::StatusOr<SendCodeResult> DoSendCode(const Caller& caller,
                                            const PhoneNumber& phone,
                                            CodePurpose purpose);

  bool IdempotencyMayBlock() const {
    return deps_.idempotency != nullptr && deps_.idempotency->MayBlock();
  }

  // Revert() without the metrics.
  absl::Status DoRevert(const Caller& caller, absl::string_view token);

  // Verify() without the metrics.
  absl::StatusOr<VerifyResult> DoVerify(const Caller& caller,
                                        const VerifyInput& input);

  // Returns OK if a code may be texted to `phone`: a possible mobile of an
  // allowed region (api codes 2121, 2120 otherwise).
  absl::Status CheckMayText(const PhoneNumber& phone) const;

  // Counts a wrong guess of the caller at a code of `phone_e164` towards
  // --max_code_failures_per_day.
  void CountWrongCode(const Caller& caller, absl::string_view phone_e164);

  // Counts a verified code of each of `regions` for the region breaker.
  void RecordVerified(const Caller& caller,
                      absl::Span<const std::string> regions);

  // Texts `phone_e164`, bound to another account, that someone tried to
  // link it; returns 2110 if that failed.
  absl::Status SendPhoneInUseNotice(const Caller& caller,
                                    absl::string_view phone_e164);

  const PhoneChangeOptions options_;
  const PhoneChangeDeps deps_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_CORE_PHONE_CHANGE_H_
