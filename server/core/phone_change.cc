#include "server/core/phone_change.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/optional.h"
#include "server/common/api_error.h"
#include "server/common/flag_error.h"
#include "server/common/crypto.h"
#include "server/common/log.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

// Codes are digits; anything longer than this is not a code at all.
constexpr size_t kMaxPassCodeBytes = 16;
// 256 random bits.
constexpr size_t kTokenBytes = 32;

bool AllDigits(absl::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isdigit(c); });
}

absl::Status CheckPassCodeFormat(absl::string_view code,
                                 absl::string_view field) {
  if (code.empty()) return InvalidFieldError(field, "is required");
  if (code.size() > kMaxPassCodeBytes || !AllDigits(code)) {
    return InvalidFieldError(field, "must be the digits of the texted code");
  }
  return absl::OkStatus();
}

bool IsBase64Url(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_';
  });
}

// How long a SendCode() call holds its idempotency key before a repeat may
// take it over (the replica running it died); longer than any call runs.
constexpr absl::Duration kIdempotencyLease = absl::Seconds(30);
// How long a repeat waits for the call holding its key.
constexpr absl::Duration kIdempotencyWait = absl::Seconds(3);

// Record keys: digests of what names the logical call, each kind with its
// own label, the user id first (it holds no newline).
std::string SendCodeKey(absl::string_view user_id, absl::string_view key) {
  return Sha256(absl::StrCat("send-code\n", user_id, "\n", key));
}

std::string SpentTokenKey(absl::string_view user_id,
                          absl::string_view token_hash) {
  return Sha256(absl::StrCat("update-phone\n", user_id, "\n", token_hash));
}

// The request of every spent-token record: its key says it all.
constexpr absl::string_view kSpendRequest = "update-phone";

// A SendCode() answer as kept for a replay: "<expires ms>,<resend ms>".
std::string EncodeSendCodeAnswer(const SendCodeResult& result) {
  return absl::StrCat(absl::ToInt64Milliseconds(result.expires_in), ",",
                      absl::ToInt64Milliseconds(result.resend_after));
}

absl::optional<SendCodeResult> DecodeSendCodeAnswer(absl::string_view answer) {
  std::vector<absl::string_view> parts = absl::StrSplit(answer, ',');
  int64_t expires_ms = 0;
  int64_t resend_ms = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &expires_ms) ||
      !absl::SimpleAtoi(parts[1], &resend_ms)) {
    return absl::nullopt;
  }
  return SendCodeResult{absl::Milliseconds(expires_ms),
                        absl::Milliseconds(resend_ms)};
}

// Returns kSamePhone if `new_e164` is the account's phone already.
absl::Status CheckNotCurrentPhone(const PhoneBindings& bindings,
                                  absl::string_view new_e164) {
  if (new_e164 == bindings.user_phone) {
    return ApiError(ApiCode::kSamePhone,
                    "the new phone is the account's current phone");
  }
  return absl::OkStatus();
}

// Returns 2330 while the account's phone changes are locked after a revert.
absl::Status CheckNotLocked(const PhoneBindings& bindings, absl::Time now) {
  if (bindings.changes_locked_until > now) {
    return ApiError(
        ApiCode::kChangesLocked,
        absl::StrCat("phone changes of this account are locked after a "
                     "revert until ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                      bindings.changes_locked_until,
                                      absl::UTCTimeZone())));
  }
  return absl::OkStatus();
}

// Returns true if the phone `bindings` looked up belongs to an account other
// than the caller's.
bool HeldByAnotherAccount(const Caller& caller, const PhoneBindings& bindings) {
  return !bindings.phone_owner.empty() &&
         bindings.phone_owner != caller.user_id;
}

}  // namespace

ChangeRecord NewChangeRecord(const PhoneChangeOptions& options,
                             absl::string_view outbox_key,
                             absl::string_view user_id,
                             absl::string_view old_e164,
                             absl::string_view new_e164, Language language,
                             absl::string_view request_id) {
  ChangeRecord record;
  record.request_id = std::string(request_id);
  if (!options.notify_old_phone || old_e164.empty()) return record;
  const std::string revert_token = Base64UrlEncode(RandomBytes(kTokenBytes));
  record.revert_token_hash = Sha256(revert_token);
  record.revert_window = options.revert_window;
  record.notify = true;
  Notice& notice = record.notice;
  notice.type = NoticeType::kPhoneChanged;
  notice.user_id = std::string(user_id);
  notice.phone_e164 = std::string(old_e164);
  notice.language = language;
  notice.new_phone_e164 = std::string(new_e164);
  notice.sealed_revert_token = Seal(outbox_key, revert_token);
  notice.request_id = std::string(request_id);
  return record;
}

absl::Status PhoneChangeOptions::Validate() const {
  if (code_length < 4 || code_length > 10) {
    return InvalidFlagError("code_length", "must be from 4 to 10");
  }
  if (code_ttl <= absl::ZeroDuration() || code_ttl > absl::Hours(24)) {
    return InvalidFlagError("code_ttl", "must be over 0 and at most 24h");
  }
  if (max_code_attempts < 1 || max_code_attempts > 100) {
    return InvalidFlagError("max_code_attempts", "must be from 1 to 100");
  }
  if (token_ttl < absl::Seconds(1) || token_ttl > absl::Hours(1)) {
    return InvalidFlagError("token_ttl", "must be from 1s to 1h");
  }
  if (revert_window < absl::Seconds(1) || revert_window > absl::Hours(720)) {
    return InvalidFlagError("revert_window", "must be from 1s to 720h");
  }
  if (change_lock_after_revert < absl::ZeroDuration() ||
      change_lock_after_revert > absl::Hours(720)) {
    return InvalidFlagError("change_lock_after_revert",
                            "must be from 0s to 720h");
  }
  for (const std::string& region : sms_allowed_regions) {
    if (!IsKnownRegion(region)) {
      return InvalidFlagError(
          "sms_allowed_regions",
          absl::StrCat("holds \"", region,
                       "\", not an ISO 3166-1 alpha-2 region code known to "
                       "libphonenumber like CN, US or GB"));
    }
  }
  return send_limits.Validate();
}

namespace {

// A core built without an outbox key seals with one of its own: its notices
// are then readable only by a relay of this process given the same deps.
PhoneChangeDeps WithOutboxKey(PhoneChangeDeps deps) {
  if (deps.outbox_key.size() != 32) deps.outbox_key = RandomBytes(32);
  return deps;
}

}  // namespace

PhoneChange::PhoneChange(const PhoneChangeOptions& options,
                         PhoneChangeDeps deps)
    : options_(options), deps_(WithOutboxKey(std::move(deps))) {}

bool PhoneChange::MayBlock(Rpc rpc) const {
  switch (rpc) {
    case Rpc::kSendCode:
      return deps_.users->MayBlock() || deps_.limiter->MayBlock() ||
             deps_.verifier->SendMayBlock() || IdempotencyMayBlock();
    case Rpc::kVerify:
      return deps_.users->MayBlock() || deps_.tokens->MayBlock() ||
             deps_.limiter->MayBlock() || deps_.verifier->CheckMayBlock();
    case Rpc::kUpdate:
      return deps_.users->MayBlock() || deps_.tokens->MayBlock() ||
             IdempotencyMayBlock();
    case Rpc::kGetProfile:
      return deps_.users->MayBlock();
    case Rpc::kRevert:
      return deps_.users->MayBlock() || deps_.tokens->MayBlock() ||
             deps_.limiter->MayBlock();
  }
  return true;
}

absl::Status PhoneChange::CheckMayText(const PhoneNumber& phone) const {
  if (!phone.MayBeMobile()) {
    return ApiError(
        ApiCode::kNotMobileNumber,
        absl::StrCat("codes are sent only to mobile numbers; this is a ",
                     PhoneNumberTypeName(phone.type), " number"));
  }
  const std::vector<std::string>& allowed = options_.sms_allowed_regions;
  if (!allowed.empty() &&
      std::find(allowed.begin(), allowed.end(), phone.region) ==
          allowed.end()) {
    return ApiError(ApiCode::kRegionNotAllowed,
                    absl::StrCat("codes are not sent to numbers of region ",
                                 phone.region));
  }
  return absl::OkStatus();
}

absl::StatusOr<SendCodeResult> PhoneChange::SendCode(
    const Caller& caller, const SendCodeInput& input) {
  const CodePurpose purpose = input.purpose;
  if (purpose != CodePurpose::kNewPhone && purpose != CodePurpose::kOldPhone) {
    return InvalidFieldError("purpose",
                             "must be PHONE_CODE_PURPOSE_NEW_PHONE or "
                             "PHONE_CODE_PURPOSE_OLD_PHONE");
  }
  absl::StatusOr<PhoneNumber> phone = ParsePhoneNumber(
      input.phone_country_code, input.phone_number, "phone_number",
      &options_.fictional_numbers);
  if (!phone.ok()) return phone.status();
  // Test numbers are never texted: their type and region do not matter.
  if (deps_.verifier->Texts(phone->e164)) {
    absl::Status may_text = CheckMayText(*phone);
    if (!may_text.ok()) return may_text;
  }
  IdempotencyStore* const store = deps_.idempotency;
  if (caller.idempotency_key.empty() || store == nullptr) {
    return DoSendCode(caller, *phone, purpose);
  }

  // The request as the server understands it: "138 0013 8000" and
  // "13800138000" are one request.
  const std::string key = SendCodeKey(caller.user_id, caller.idempotency_key);
  const std::string request =
      Sha256(absl::StrCat(phone->e164, "\n", CodePurposeName(purpose)));
  absl::StatusOr<IdempotencyClaim> claim =
      store->Begin(key, request, deps_.clock->Now() + kIdempotencyLease,
                   kIdempotencyWait);
  if (!claim.ok()) return claim.status();
  switch (claim->outcome) {
    case IdempotencyClaim::kOtherRequest:
      return ApiError(ApiCode::kIdempotencyKeyReused);
    case IdempotencyClaim::kReplay: {
      absl::optional<SendCodeResult> replayed = DecodeSendCodeAnswer(
          claim->answer);
      if (!replayed.has_value()) {
        return absl::InternalError("unreadable idempotency record");
      }
      return *replayed;
    }
    case IdempotencyClaim::kNotKept:
      return DoSendCode(caller, *phone, purpose);
    case IdempotencyClaim::kClaimed:
      break;
  }
  absl::StatusOr<SendCodeResult> result = DoSendCode(caller, *phone, purpose);
  if (!result.ok()) {
    store->Abandon(key, claim->claim_id);
    return result;
  }
  absl::Status kept =
      store->Complete(key, claim->claim_id, EncodeSendCodeAnswer(*result),
                      deps_.clock->Now() + options_.code_ttl);
  if (!kept.ok()) {
    // The code went out; only a retry's replay is lost (it would be limited
    // by the cooldown like any new request).
    Log(LogLevel::kWarning, "cannot record an idempotent answer",
        {{"error", std::string(kept.message())},
         {"request_id", caller.request_id}});
  }
  return result;
}

absl::StatusOr<SendCodeResult> PhoneChange::DoSendCode(
    const Caller& caller, const PhoneNumber& phone, CodePurpose purpose) {
  // The owner of the phone matters only for a new phone, but reading it
  // with the account's phone costs no extra round trip.
  absl::StatusOr<PhoneBindings> bindings =
      deps_.users->Lookup(caller.user_id, phone.e164);
  if (!bindings.ok()) return bindings.status();
  const std::string& current = bindings->user_phone;
  absl::Status unlocked = CheckNotLocked(*bindings, deps_.clock->Now());
  if (!unlocked.ok()) return unlocked;

  // A number bound to another account gets a notice instead of a code, and
  // the caller the answer a free number gets: nothing tells one user about
  // another's phone.
  bool taken = false;
  if (purpose == CodePurpose::kNewPhone) {
    absl::Status other = CheckNotCurrentPhone(*bindings, phone.e164);
    if (!other.ok()) return other;
    taken = HeldByAnotherAccount(caller, *bindings);
  } else if (current.empty()) {
    return ApiError(ApiCode::kNoCurrentPhone,
                    "the account has no phone to send an old-phone code to");
  } else if (phone.e164 != current) {
    return ApiError(ApiCode::kOldPhoneMismatch,
                    "the phone is not the account's current phone");
  }

  if (!deps_.verifier->Texts(phone.e164)) {
    // Test numbers have a fixed code: nothing to send, nothing to limit.
    return SendCodeResult{options_.code_ttl, absl::ZeroDuration()};
  }

  const CodeKey key{phone.e164, purpose, caller.user_id};
  absl::Status allowed = deps_.limiter->Acquire(
      {key, phone.region, ClientAddressKey(caller.client_ip)});
  if (!allowed.ok()) return allowed;
  // A send that fails still counts against the limits (a failing provider
  // must not become unlimited guesses), and leaves the codes as they were.
  absl::Status sent =
      taken ? SendPhoneInUseNotice(caller, phone.e164)
            : deps_.verifier->Send({key, caller.language, caller.request_id,
                                    caller.trace, caller.deadline});
  if (!sent.ok()) return sent;
  if (deps_.metrics != nullptr && !taken) deps_.metrics->CodeSent(purpose);
  return SendCodeResult{options_.code_ttl,
                        options_.send_limits.resend_interval};
}

absl::Status PhoneChange::SendPhoneInUseNotice(const Caller& caller,
                                               absl::string_view phone_e164) {
  SmsMessage message;
  message.type = SmsType::kPhoneInUseNotice;
  message.phone_e164 = std::string(phone_e164);
  message.purpose = CodePurpose::kNewPhone;
  message.text = options_.texts->PhoneInUseText(caller.language);
  message.language = caller.language;
  message.request_id = caller.request_id;
  message.trace = caller.trace;
  message.deadline = caller.deadline;
  absl::Status sent = deps_.notices->Send(message);
  if (!sent.ok()) {
    Log(LogLevel::kError, "sms delivery failed",
        {{"request_id", caller.request_id},
         {"phone", MaskPhone(phone_e164)},
         {"error", sent.message()}},
        caller.trace);
    return ApiError(ApiCode::kSmsFailed);
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyResult> PhoneChange::Verify(const Caller& caller,
                                                 const VerifyInput& input) {
  absl::StatusOr<VerifyResult> result = DoVerify(caller, input);
  if (deps_.metrics != nullptr) deps_.metrics->Verified(result.status());
  return result;
}

absl::StatusOr<VerifyResult> PhoneChange::DoVerify(const Caller& caller,
                                                   const VerifyInput& input) {
  absl::StatusOr<PhoneNumber> new_phone =
      ParsePhoneNumber(input.new_phone_country_code, input.new_phone_number,
                       "new_phone_number", &options_.fictional_numbers);
  if (!new_phone.ok()) return new_phone.status();
  absl::Status format =
      CheckPassCodeFormat(input.new_phone_pass_code, "new_phone_pass_code");
  if (!format.ok()) return format;
  // The old phone as the request names it, if it must be proved at all: its
  // wrong-code cap is read with the new one's below, before the lookup
  // tells whether it is the account's (the errors about it come after).
  // (No message: a status with one is an allocation on every call.)
  absl::StatusOr<PhoneNumber> old_phone = absl::NotFoundError("");
  if (options_.verify_old_phone && !input.old_phone_country_code.empty() &&
      !input.old_phone_number.empty()) {
    old_phone =
        ParsePhoneNumber(input.old_phone_country_code, input.old_phone_number,
                         "old_phone_number", &options_.fictional_numbers);
  }
  // Every well-formed verification counts, right or wrong, before anything
  // is looked up: probing numbers costs the prober. The same limiter call
  // reads the wrong-code caps of the phones whose codes may be checked.
  absl::InlinedVector<std::string, 2> capped_phones = {new_phone->e164};
  if (old_phone.ok()) capped_phones.push_back(old_phone->e164);
  absl::StatusOr<FailureCaps> failure_caps =
      deps_.limiter->AcquireVerification(caller.user_id, capped_phones);
  if (!failure_caps.ok()) return failure_caps.status();
  if (failure_caps->size() != capped_phones.size()) {
    return absl::InternalError("the limiter answered for other phones");
  }

  absl::StatusOr<PhoneBindings> bindings =
      deps_.users->Lookup(caller.user_id, new_phone->e164);
  if (!bindings.ok()) return bindings.status();
  absl::Status unlocked = CheckNotLocked(*bindings, deps_.clock->Now());
  if (!unlocked.ok()) return unlocked;
  absl::Status other = CheckNotCurrentPhone(*bindings, new_phone->e164);
  if (!other.ok()) return other;
  const std::string& current = bindings->user_phone;

  const bool verify_old = options_.verify_old_phone && !current.empty();
  std::string old_region;
  if (verify_old) {
    if (input.old_phone_country_code.empty()) {
      return InvalidFieldError("old_phone_country_code",
                     "is required to verify the account's current phone");
    }
    if (input.old_phone_number.empty()) {
      return InvalidFieldError("old_phone_number",
                     "is required to verify the account's current phone");
    }
    if (!old_phone.ok()) return old_phone.status();
    old_region = old_phone->region;
    format =
        CheckPassCodeFormat(input.old_phone_pass_code, "old_phone_pass_code");
    if (!format.ok()) return format;
    if (old_phone->e164 != current) {
      return ApiError(ApiCode::kOldPhoneMismatch,
                      "the old phone is not the account's current phone");
    }
  }

  // Check every code before using any up: a wrong old code must not cost
  // the user the new one. The codes go to the verifier together, the old
  // one only if it would be checked once the new one passed; a phone at its
  // wrong-code cap has its code left alone.
  if (!(*failure_caps)[0].ok()) return (*failure_caps)[0];
  // Whether the number is another account's is told only to whoever proved
  // they hold it: before, a bound number answers exactly as a free one.
  const bool taken = HeldByAnotherAccount(caller, *bindings);
  // With verify_old, the old phone was read second: it is `current`.
  const absl::Status old_capped =
      verify_old ? (*failure_caps)[1] : absl::OkStatus();
  // Built in place: an initializer list would copy each key twice.
  absl::InlinedVector<CodeGuess, 2> codes;
  codes.push_back(
      {{new_phone->e164, CodePurpose::kNewPhone, caller.user_id},
       input.new_phone_pass_code});
  if (verify_old && !taken && old_capped.ok()) {
    codes.push_back({{current, CodePurpose::kOldPhone, caller.user_id},
                     input.old_phone_pass_code});
  }
  size_t failed = 0;
  absl::Status checked = deps_.verifier->CheckAll(codes, &failed);
  if (!checked.ok()) {
    if (ApiCodeOf(checked) == ApiCode::kWrongCode) {
      CountWrongCode(caller, codes[failed].key.phone_e164);
    }
    return checked;
  }
  if (taken) return ApiError(ApiCode::kPhoneTaken);
  if (!old_capped.ok()) return old_capped;
  // Issue the token before using up the codes: if the store is full, the
  // user keeps the codes and can retry without another SMS.
  unsigned char token_bytes[kTokenBytes];
  RandomFill(token_bytes, sizeof(token_bytes));
  VerifyResult result{
      Base64UrlEncode(absl::string_view(
          reinterpret_cast<const char*>(token_bytes), sizeof(token_bytes))),
      options_.token_ttl};
  const std::string token_hash = Sha256(result.token);
  absl::Status issued = deps_.tokens->Issue(
      token_hash, {caller.user_id, current, new_phone->e164},
      deps_.clock->Now() + options_.token_ttl);
  if (!issued.ok()) return issued;
  // `codes` holds every code checked: the new one, and the old one if
  // verify_old.
  absl::Status consumed = deps_.verifier->ConsumeAll(codes);
  if (!consumed.ok()) {
    // Another request used a code first: the token must not outlive it.
    deps_.tokens->Take(token_hash, caller.user_id).IgnoreError();
    return consumed;
  }
  // The region breaker's conversion counts texted codes only.
  absl::InlinedVector<std::string, 2> regions;
  if (deps_.verifier->Texts(new_phone->e164)) {
    regions.push_back(new_phone->region);
  }
  if (verify_old && deps_.verifier->Texts(current)) {
    regions.push_back(old_region);
  }
  if (!regions.empty()) RecordVerified(caller, regions);
  return result;
}

void PhoneChange::CountWrongCode(const Caller& caller,
                                 absl::string_view phone_e164) {
  absl::Status counted =
      deps_.limiter->RecordCodeFailure(caller.user_id, phone_e164);
  if (!counted.ok()) {
    // The code's own attempt limit still holds.
    Log(LogLevel::kWarning, "cannot count a wrong code",
        {{"error", std::string(counted.message())},
         {"request_id", caller.request_id}},
        caller.trace);
  }
}

void PhoneChange::RecordVerified(const Caller& caller,
                                 absl::Span<const std::string> regions) {
  absl::Status recorded = deps_.limiter->RecordVerified(regions);
  if (!recorded.ok()) {
    Log(LogLevel::kWarning, "cannot count a verified code",
        {{"error", std::string(recorded.message())},
         {"request_id", caller.request_id}},
        caller.trace);
  }
}

absl::Status PhoneChange::Update(const Caller& caller,
                                 absl::string_view token) {
  if (token.empty())
    return InvalidFieldError("update_phone_token", "is required");
  if (token.size() > kMaxTokenBytes || !IsBase64Url(token)) {
    return InvalidFieldError("update_phone_token",
                   "is not a token issued by UpdatePhoneVerification");
  }
  const std::string token_hash = Sha256(token);
  IdempotencyStore* const store = deps_.idempotency;
  if (store == nullptr) return Spend(caller, token_hash);

  // The spend is claimed like a keyed SendCode(): the owner's retry of a
  // change that succeeded replays OK, and one that arrives while the first
  // attempt runs waits for its outcome instead of finding the token gone.
  const std::string key = SpentTokenKey(caller.user_id, token_hash);
  absl::StatusOr<IdempotencyClaim> claim =
      store->Begin(key, kSpendRequest, deps_.clock->Now() + kIdempotencyLease,
                   kIdempotencyWait);
  if (!claim.ok()) return claim.status();
  if (claim->outcome == IdempotencyClaim::kReplay) return absl::OkStatus();
  if (claim->outcome == IdempotencyClaim::kNotKept) {
    return Spend(caller, token_hash);
  }
  if (claim->outcome != IdempotencyClaim::kClaimed) {
    return absl::InternalError("spent-token record of another request");
  }
  absl::Status spent = Spend(caller, token_hash);
  if (!spent.ok()) {
    // Failed: the token is used up or was never the caller's; a retry gets
    // what a spent or unknown token gets.
    store->Abandon(key, claim->claim_id);
    return spent;
  }
  absl::Status kept = store->Complete(key, claim->claim_id, "",
                                      deps_.clock->Now() + options_.token_ttl);
  if (!kept.ok()) {
    // The change is committed; only a retry's OK is lost (it gets 2310).
    Log(LogLevel::kWarning, "cannot record a spent token",
        {{"error", std::string(kept.message())},
         {"request_id", caller.request_id}});
  }
  return absl::OkStatus();
}

absl::Status PhoneChange::Spend(const Caller& caller,
                                absl::string_view token_hash) {
  absl::StatusOr<TokenGrant> grant =
      deps_.tokens->Take(token_hash, caller.user_id);
  if (!grant.ok()) return grant.status();
  if (deps_.metrics != nullptr) deps_.metrics->TokenSpent();

  // The old phone, if any, is owed a notice with a revert token, committed
  // with the change.
  const ChangeRecord record = NewChangeRecord(
      options_, deps_.outbox_key, caller.user_id, grant->old_phone_e164,
      grant->new_phone_e164, caller.language, caller.request_id);
  const bool notify = record.notify;
  absl::Status changed = deps_.users->ChangePhone(
      caller.user_id, grant->old_phone_e164, grant->new_phone_e164, record);
  if (!changed.ok()) {
    const absl::StatusCode code = changed.code();
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      // The backend failed, the change did not happen: the token goes back
      // for the rest of its life, so that the user's retry can spend it.
      absl::Status back =
          deps_.tokens->Issue(token_hash, *grant, grant->expires_at);
      if (!back.ok()) {
        Log(LogLevel::kWarning, "cannot put back an unspent token",
            {{"error", std::string(back.message())},
             {"request_id", caller.request_id}});
      }
    }
    return changed;
  }
  if (notify && deps_.relay != nullptr) deps_.relay->Wake();
  Log(LogLevel::kInfo, "phone changed",
      {{"audit", "phone_change"},
       {"user_id", caller.user_id},
       {"old_phone", MaskPhone(grant->old_phone_e164)},
       {"new_phone", MaskPhone(grant->new_phone_e164)},
       {"request_id", caller.request_id}},
      caller.trace);
  return absl::OkStatus();
}

absl::Status PhoneChange::Revert(const Caller& caller,
                                 absl::string_view token) {
  absl::Status result = DoRevert(caller, token);
  if (deps_.metrics != nullptr) deps_.metrics->Reverted(result);
  return result;
}

absl::Status PhoneChange::DoRevert(const Caller& caller,
                                   absl::string_view token) {
  if (token.empty()) return InvalidFieldError("revert_token", "is required");
  // 32 bytes in base64url without padding.
  if (token.size() != 43 || !IsBase64Url(token)) {
    return InvalidFieldError("revert_token",
                             "is not a revert token from a phone-change "
                             "notice");
  }
  absl::Status allowed = deps_.limiter->AcquireRevert(
      ClientAddressKey(caller.client_ip));
  if (!allowed.ok()) return allowed;
  RevertRequest request;
  request.token_hash = Sha256(token);
  request.lock_for = options_.change_lock_after_revert;
  request.request_id = caller.request_id;
  request.language = caller.language;
  absl::StatusOr<RevertOutcome> reverted = deps_.users->Revert(request);
  if (!reverted.ok()) return reverted.status();
  // The lock already stops the account's live token (UpdatePhone answers
  // 2330); voiding it is belt and braces.
  absl::Status revoked = deps_.tokens->RevokeUser(reverted->user_id);
  if (!revoked.ok()) {
    Log(LogLevel::kWarning, "cannot void the update-phone token of a revert",
        {{"error", std::string(revoked.message())},
         {"request_id", caller.request_id}},
        caller.trace);
  }
  if (!reverted->removed_phone.empty() && deps_.relay != nullptr) {
    deps_.relay->Wake();
  }
  Log(LogLevel::kInfo, "phone change reverted",
      {{"audit", "phone_revert"},
       {"user_id", reverted->user_id},
       {"restored_phone", MaskPhone(reverted->restored_phone)},
       {"removed_phone", MaskPhone(reverted->removed_phone)},
       {"request_id", caller.request_id}},
      caller.trace);
  return absl::OkStatus();
}

absl::StatusOr<ProfileView> PhoneChange::GetProfile(const Caller& caller) {
  absl::StatusOr<std::string> phone = deps_.users->GetPhone(caller.user_id);
  if (!phone.ok()) return phone.status();
  ProfileView view{caller.user_id, "", "", ""};
  if (phone->empty()) return view;
  absl::StatusOr<PhoneNumber> parsed = ParseE164(*phone);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("stored phone of ", caller.user_id, " is not E.164"));
  }
  view.phone_country_code = parsed->country_code;
  view.phone_number = parsed->national_number;
  view.phone_e164 = parsed->e164;
  return view;
}

}  // namespace profile
