// Fuzzes the service core in-process: a PhoneChange over the in-memory
// stores and a fake clock, driven by a sequence of operations decoded from
// the input (send a code, verify, spend a token, revert a change, read a
// profile, move the clock, sweep), with callers from a small set of users or
// authenticated from arbitrary metadata, and fields that are either
// plausible (known phones, codes that were really sent, tokens that were
// really issued, revert tokens that were really texted, spent or expired
// ones among them) or arbitrary bytes. Each input also decides whether
// verify_old_phone is on (the server's default) or off, so both modes are
// fuzzed. Revert windows and change locks last minutes, so that the clock
// moves reach their ends. After every operation the core's notice relay
// delivers what it queued (RunOnce()), so the revert tokens of the
// phone_changed_notices are in the capturing SmsSender before the next.
//
// A model of what the server legitimately handed out is kept beside it, and
// after every operation these properties are checked, beyond "no crash":
//   - no code is accepted that was not sent: a verification succeeds only
//     with the live code last texted to that phone for that user and
//     purpose (the capturing SmsSender below records them), or a test
//     number's fixed code; a texted code is accepted once;
//   - no token is accepted that was not issued: UpdatePhone succeeds only
//     with a live token issued to the caller, its newest, not yet spent;
//     the phone then is the one the token was issued for; or it is the
//     owner's retry of a spend that changed the phone, within the token TTL
//     of that change, and then it changes nothing;
//   - no phone is bound to two accounts, and every bound phone's owner is
//     the account that holds it;
//   - no account holds a phone it did not prove: every change of a user's
//     phone (read back from the user store) from Q to P follows a
//     successful verification in which that user presented a right code
//     for P (the live code last texted to P for that user and purpose
//     NEW_PHONE, or the test number's fixed code) while the account held
//     Q, and, with verify_old_phone and Q not empty, also a right
//     OLD_PHONE code for Q; or it is a successful revert with a valid
//     revert token (below) whose old phone is P; every user starts with no
//     phone;
//   - no change is reverted without its token: a revert succeeds only with
//     a revert token really texted in a phone_changed_notice, not used, not
//     voided by the revert of an earlier change of the same account, and
//     within revert_window of its change; the account then holds exactly
//     the token's old phone, and a second use of the token is NOT_FOUND
//     2320. A valid token is refused only with ALREADY_EXISTS 2035 (another
//     account holds its old phone now) or RESOURCE_EXHAUSTED 2100 (reverts
//     per client address); a failed revert answers nothing but those,
//     INVALID_ARGUMENT 1001 (malformed) or NOT_FOUND 2320;
//   - while an account is locked (a revert less than
//     change_lock_after_revert ago), its SendCode, Verify and UpdatePhone
//     never succeed, and FAILED_PRECONDITION 2330 is answered only then
//     (the one OK is UpdatePhone's replay of a spend that succeeded before
//     the revert, which changes nothing); a revert voids the account's
//     update-phone tokens;
//   - every UpdatePhone that replaces a phone texts the old phone exactly
//     one phone_changed_notice, with a 43-character base64url revert token
//     never texted before; every revert that unlinks a number texts it a
//     phone_unlinked_notice; nothing else texts a notice;
//   - old-phone codes are texted only to the caller's current phone;
//   - no answer is INTERNAL or UNKNOWN.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/auth/authenticator.h"
#include "server/codes/code_store.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/log.h"
#include "server/common/text.h"
#include "server/core/phone_change.h"
#include "server/limits/send_limiter.h"
#include "server/notices/notice_queue.h"
#include "server/notices/notice_relay.h"
#include "server/phone/phone_number.h"
#include "server/sms/sms_sender.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/in_memory_core.h"

namespace profile {
namespace {

constexpr char kTestE164[] = "+8613800138000";
constexpr char kTestCode[] = "246810";
constexpr size_t kMaxLiveTokens = 4;
constexpr int kMaxOps = 48;
// Short enough for the clock moves (up to 400 s each) to reach their ends.
constexpr absl::Duration kRevertWindow = absl::Minutes(15);
constexpr absl::Duration kChangeLock = absl::Minutes(5);
// A revert token: 32 bytes in base64url without padding.
constexpr size_t kRevertTokenChars = 43;
// Revert callers' addresses ("" for none); the last is for the second use
// of a token that just worked, so that the per-address cap never answers
// it.
constexpr const char* kClientIps[] = {"", "198.51.100.7", "203.0.113.9",
                                      "192.0.2.200"};
constexpr int kRevertsPerIp = 20;

void Check(bool condition, const std::string& what) {
  if (!condition) {
    __builtin_fprintf(stderr, "property violated: %s\n", what.c_str());
    std::abort();
  }
}

void CheckCanonical(const absl::Status& status, const char* op) {
  Check(status.code() != absl::StatusCode::kInternal &&
            status.code() != absl::StatusCode::kUnknown &&
            ApiCodeOf(status) != ApiCode::kInternal,
        absl::StrCat(op, " answered ", status.ToString()));
}

struct Phone {
  const char* country_code;
  const char* number;
};
constexpr Phone kPhones[] = {
    {"+86", "13800138000"},    // the test number
    {"+86", "138 0013 8001"},  //
    {"0086", "13800138002"},   //
    {"+44", "07400 123456"},   //
    {"+1", "(415) 555-0100"},  //
};

// A texted code's key: user, E.164, purpose. The core keeps a code per
// phone, purpose and the user who asked for it, so another user's code for
// the same phone proves nothing.
using CodeKeyTuple = std::tuple<std::string, std::string, int>;

// The fuzzed core: one test number, and caps small enough to be reached.
testing::InMemoryCoreOptions MemoryOptions(std::shared_ptr<Clock> clock,
                                           SmsSender* sms, bool verify_old) {
  testing::InMemoryCoreOptions options;
  options.core.verify_old_phone = verify_old;
  options.core.revert_window = kRevertWindow;
  options.core.change_lock_after_revert = kChangeLock;
  options.core.send_limits.max_reverts_per_ip_per_hour = kRevertsPerIp;
  options.clock = std::move(clock);
  options.sms = sms;
  options.test_codes = {{kTestE164, kTestCode}};
  options.max_live_tokens = kMaxLiveTokens;
  options.max_codes = 64;
  options.max_limiter_entries = 64;
  return options;
}

struct IssuedToken {
  std::string user;
  std::string old_e164;
  std::string new_e164;
  absl::Time expires_at;
  bool spent = false;
  // Whether the spend changed the phone, and when.
  bool changed = false;
  absl::Time changed_at;
};

// A revert token texted in a phone_changed_notice.
struct RevertGrant {
  std::string user;
  // The phone the token restores (the one the change replaced).
  std::string old_e164;
  // The change it undoes, numbered across the model (in order per user).
  int64_t change = 0;
  absl::Time expires_at;
  bool used = false;
  // Voided by the revert of an earlier change of the same account.
  bool voided = false;
};

bool IsBase64UrlText(const std::string& text) {
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

class World {
 public:
  explicit World(bool verify_old)
      : clock_(std::make_shared<testing::FakeClock>()),
        memory_(MemoryOptions(clock_, &sms_, verify_old)) {
    for (int i = 0; i < 4; ++i) known_users_.insert(absl::StrCat("u", i));
  }

  void Run(FuzzedDataProvider& in) {
    for (int op = 0; op < kMaxOps && in.remaining_bytes() > 0; ++op) {
      switch (in.ConsumeIntegralInRange(0, 7)) {
        case 0: Send(in); break;
        case 1: case 2: Verify(in); break;
        case 3: Update(in); break;
        case 4: Get(in); break;
        case 5:
          clock_->Advance(absl::Seconds(in.ConsumeIntegralInRange(0, 400)));
          break;
        case 6:
          memory_.tokens()->SweepExpired();
          memory_.codes()->SweepExpired();
          memory_.limiter()->SweepExpired();
          memory_.idempotency()->SweepExpired();
          break;
        case 7: Revert(in); break;
      }
      Drain();
      CheckUserStore();
      Check(memory_.tokens()->Size() <= kMaxLiveTokens,
            "token store over its cap");
    }
  }

 private:
  const PhoneChangeOptions& options() const { return memory_.options().core; }

  // Returns whether `user`'s phone changes are locked after a revert now.
  bool Locked(const std::string& user) const {
    auto it = locked_until_.find(user);
    return it != locked_until_.end() && clock_->Now() < it->second;
  }

  // Checks an answer of SendCode, Verify or UpdatePhone against the lock:
  // none succeeds for a locked account, and 2330 is for locked ones only.
  void CheckLock(const absl::Status& status, bool locked, const char* op) {
    if (ApiCodeOf(status) == ApiCode::kChangesLocked) {
      Check(locked && status.code() == absl::StatusCode::kFailedPrecondition,
            absl::StrCat(op, " answered ", status.ToString(),
                         " for an account that is not locked"));
    }
    Check(!(locked && status.ok()),
          absl::StrCat(op, " succeeded for an account locked after a revert"));
  }

  // Delivers the notices the last operation queued, so that they are in
  // sms_ before the next one: RunOnce() here, then waiting out a notice
  // that the relay's own thread leased meanwhile.
  void Drain() {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    for (;;) {
      memory_.relay()->RunOnce();
      absl::StatusOr<NoticeBacklog> backlog =
          memory_.users()->notices()->Backlog();
      Check(backlog.ok(), "the outbox cannot be read");
      if (backlog->pending == 0) return;
      Check(absl::Now() < give_up, "a queued notice is not delivered");
      std::this_thread::yield();
    }
  }

  // Returns the texts sent since sms_ held `count`.
  std::vector<SmsMessage> TextsSince(size_t count) const {
    std::vector<SmsMessage> sent = sms_.sent();
    sent.erase(sent.begin(), sent.begin() + count);
    return sent;
  }

  // Returns the caller, or false if the metadata did not authenticate.
  bool PickCaller(FuzzedDataProvider& in, Caller* caller) {
    caller->request_id = "fuzz";
    caller->language =
        in.ConsumeBool() ? Language::kChinese : Language::kEnglish;
    const int pick = in.ConsumeIntegralInRange(0, 4);
    if (pick < 4) {
      caller->user_id = absl::StrCat("u", pick);
      return true;
    }
    // Arbitrary metadata through the Authenticator.
    std::vector<std::string> storage;
    const int entries = in.ConsumeIntegralInRange(0, 3);
    for (int i = 0; i < entries; ++i) {
      storage.push_back(in.ConsumeBool() ? "x-user-id"
                                         : in.ConsumeRandomLengthString(16));
      storage.push_back(in.ConsumeRandomLengthString(160));
    }
    CallMetadata metadata;
    for (size_t i = 0; i + 1 < storage.size(); i += 2) {
      metadata.emplace(grpc::string_ref(storage[i]),
                       grpc::string_ref(storage[i + 1]));
    }
    absl::StatusOr<std::string> user =
        memory_.authenticator()->Authenticate(metadata);
    if (!user.ok()) {
      Check(user.status().code() == absl::StatusCode::kUnauthenticated &&
                ApiCodeOf(user.status()) == ApiCode::kUnauthenticated,
            "a refused caller is UNAUTHENTICATED 1000");
      return false;
    }
    Check(!user->empty() && user->size() <= kMaxUserIdBytes &&
              IsValidUtf8(*user) && IsCleanText(*user),
          "an accepted user id is 1 to 128 bytes of clean UTF-8");
    caller->user_id = *user;
    known_users_.insert(*user);
    return true;
  }

  std::pair<std::string, std::string> PickPhone(FuzzedDataProvider& in) {
    if (in.ConsumeIntegralInRange(0, 5) == 0) {
      std::string cc = in.ConsumeRandomLengthString(40);
      return {cc, in.ConsumeRandomLengthString(40)};
    }
    const Phone& phone =
        kPhones[in.ConsumeIntegralInRange<size_t>(0, std::size(kPhones) - 1)];
    return {phone.country_code, phone.number};
  }

  // One of kPhones whose E.164 is `e164`, or none ("", "").
  static std::pair<std::string, std::string> SpellingOf(
      const std::string& e164) {
    for (const Phone& phone : kPhones) {
      if (E164(phone.country_code, phone.number) == e164) {
        return {phone.country_code, phone.number};
      }
    }
    return {"", ""};
  }

  // E.164 of a phone as the core would parse it, or "".
  static std::string E164(const std::string& cc, const std::string& number) {
    absl::StatusOr<PhoneNumber> phone = ParsePhoneNumber(cc, number, "f");
    return phone.ok() ? phone->e164 : "";
  }

  std::string PickCode(FuzzedDataProvider& in, const std::string& e164,
                       int purpose) {
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0: {
        // The newest code texted to this phone, for either purpose.
        const std::vector<SmsMessage> sent = sms_.sent();
        for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
          if (it->phone_e164 == e164 &&
              (in.ConsumeBool() || static_cast<int>(it->purpose) == purpose)) {
            return it->code;
          }
        }
        return kTestCode;
      }
      case 1:
        return kTestCode;
      case 2:
        return std::to_string(in.ConsumeIntegralInRange(0, 999999));
      default:
        return in.ConsumeRandomLengthString(20);
    }
  }

  // Returns whether `code` is a right code for `user` to present for `e164`
  // and `purpose` now: the test number's fixed code, or the live code last
  // texted to that phone for that user and purpose.
  bool RightCode(const std::string& user, const std::string& e164,
                 int purpose, const std::string& code) const {
    if (e164 == kTestE164) return code == kTestCode;
    auto it = live_codes_.find({user, e164, purpose});
    return it != live_codes_.end() && it->second.first == code &&
           clock_->Now() < it->second.second;
  }

  // Checks a code the core accepted against the model and uses it up.
  void Accepted(const std::string& user, const std::string& e164,
                int purpose, const std::string& code, const char* which) {
    if (e164 == kTestE164) {
      Check(code == kTestCode,
            absl::StrCat(which, " code accepted for the test number is not "
                                "its fixed code"));
      return;
    }
    auto it = live_codes_.find({user, e164, purpose});
    Check(it != live_codes_.end(),
          absl::StrCat(which, " code accepted for ", e164, " and ", user,
                       " which was never sent one (or it was used)"));
    Check(it->second.first == code,
          absl::StrCat(which, " code accepted is not the one texted"));
    Check(clock_->Now() < it->second.second,
          absl::StrCat(which, " code accepted after it expired"));
    live_codes_.erase(it);
  }

  void Send(FuzzedDataProvider& in) {
    Caller caller;
    if (!PickCaller(in, &caller)) return;
    auto [cc, number] = PickPhone(in);
    const int purpose = in.ConsumeIntegralInRange(-1, 3);
    const std::string current = *memory_.users()->GetPhone(caller.user_id);
    const bool locked = Locked(caller.user_id);
    const size_t texts = sms_.count();
    absl::StatusOr<SendCodeResult> sent = memory_.core()->SendCode(
        caller, {cc, number, static_cast<CodePurpose>(purpose)});
    CheckCanonical(sent.status(), "SendCode");
    CheckLock(sent.status(), locked, "SendCode");
    if (!sent.ok()) {
      Check(sms_.count() == texts, "a refused SendCode texted");
      return;
    }
    const std::string e164 = E164(cc, number);
    Check(!e164.empty(), "SendCode accepted a phone that does not parse");
    if (e164 == kTestE164) {
      Check(sms_.count() == texts, "a test number was texted");
      return;
    }
    Check(sms_.count() == texts + 1, "SendCode OK texts exactly once");
    const SmsMessage text = sms_.sent().back();
    Check(text.phone_e164 == e164 && static_cast<int>(text.purpose) == purpose,
          "the text went to the phone and purpose asked for");
    if (purpose == static_cast<int>(CodePurpose::kOldPhone)) {
      Check(text.phone_e164 == current,
            "an old-phone code went to a phone that is not the caller's");
    }
    live_codes_[{caller.user_id, e164, purpose}] = {
        text.code, clock_->Now() + options().code_ttl};
  }

  void Verify(FuzzedDataProvider& in) {
    Caller caller;
    if (!PickCaller(in, &caller)) return;
    VerifyInput input;
    std::tie(input.new_phone_country_code, input.new_phone_number) =
        PickPhone(in);
    const std::string new_e164 =
        E164(input.new_phone_country_code, input.new_phone_number);
    input.new_phone_pass_code =
        PickCode(in, new_e164, static_cast<int>(CodePurpose::kNewPhone));
    const std::string current = *memory_.users()->GetPhone(caller.user_id);
    if (in.ConsumeBool()) {
      // Often the caller's current phone: the old-phone checks are only
      // reached with it.
      std::tie(input.old_phone_country_code, input.old_phone_number) =
          in.ConsumeBool() ? SpellingOf(current) : PickPhone(in);
      input.old_phone_pass_code =
          PickCode(in, current, static_cast<int>(CodePurpose::kOldPhone));
    }
    const std::string owner = *memory_.users()->FindOwner(new_e164);
    const bool locked = Locked(caller.user_id);
    absl::StatusOr<VerifyResult> verified =
        memory_.core()->Verify(caller, input);
    CheckCanonical(verified.status(), "Verify");
    CheckLock(verified.status(), locked, "Verify");
    if (!verified.ok()) return;

    Check(!new_e164.empty(), "Verify accepted a new phone that does not parse");
    Check(new_e164 != current, "Verify accepted the current phone as new");
    Check(owner.empty() || owner == caller.user_id,
          "Verify accepted a phone bound to another account");
    // What the caller proved, judged by the model alone (before Accepted()
    // uses the codes up); CheckUserStore() allows a change only with it.
    const bool old_required = options().verify_old_phone && !current.empty();
    const bool proved_new =
        RightCode(caller.user_id, new_e164,
                  static_cast<int>(CodePurpose::kNewPhone),
                  input.new_phone_pass_code);
    const bool proved_old =
        !old_required ||
        (E164(input.old_phone_country_code, input.old_phone_number) ==
             current &&
         RightCode(caller.user_id, current,
                   static_cast<int>(CodePurpose::kOldPhone),
                   input.old_phone_pass_code));
    if (proved_new && proved_old) {
      proofs_.insert({caller.user_id, current, new_e164});
    }
    Accepted(caller.user_id, new_e164,
             static_cast<int>(CodePurpose::kNewPhone),
             input.new_phone_pass_code, "new-phone");
    if (old_required) {
      Check(E164(input.old_phone_country_code, input.old_phone_number) ==
                current,
            "Verify accepted an old phone that is not the account's");
      Accepted(caller.user_id, current,
               static_cast<int>(CodePurpose::kOldPhone),
               input.old_phone_pass_code, "old-phone");
    }
    Check(issued_.count(verified->token) == 0, "a token was issued twice");
    issued_[verified->token] = {caller.user_id, current, new_e164,
                                clock_->Now() + options().token_ttl};
    issued_order_.push_back(verified->token);
    newest_token_[caller.user_id] = verified->token;
  }

  std::string PickToken(FuzzedDataProvider& in) {
    const int pick = in.ConsumeIntegralInRange(0, 3);
    if (pick <= 1 && !issued_order_.empty()) {
      std::string token = issued_order_[in.ConsumeIntegralInRange<size_t>(
          0, issued_order_.size() - 1)];
      if (pick == 1 && !token.empty()) {
        // One character changed: still base64url, not issued.
        const size_t at = in.ConsumeIntegralInRange<size_t>(0, token.size() - 1);
        token[at] = token[at] == 'A' ? 'B' : 'A';
      }
      return token;
    }
    if (pick == 2) return Base64UrlEncode(in.ConsumeBytesAsString(32));
    return in.ConsumeRandomLengthString(200);
  }

  void Update(FuzzedDataProvider& in) {
    Caller caller;
    if (!PickCaller(in, &caller)) return;
    const std::string token = PickToken(in);
    const std::string before = *memory_.users()->GetPhone(caller.user_id);
    const bool locked = Locked(caller.user_id);
    const size_t texts = sms_.count();
    absl::Status updated = memory_.core()->Update(caller, token);
    Drain();
    CheckCanonical(updated, "Update");
    const ApiCode code = ApiCodeOf(updated);
    if (code == ApiCode::kChangesLocked) CheckLock(updated, locked, "Update");
    const bool taken = updated.ok() || code == ApiCode::kPhoneTaken ||
                       code == ApiCode::kOldPhoneMismatch;
    if (!updated.ok()) {
      Check(sms_.count() == texts, "a failed UpdatePhone texted a notice");
    }
    if (!taken) return;
    auto it = issued_.find(token);
    Check(it != issued_.end(), "a token that was never issued was taken");
    IssuedToken& grant = it->second;
    Check(grant.user == caller.user_id,
          "a token issued to another user was taken");
    if (grant.spent) {
      // The replay of a spend that succeeded; also while locked, since the
      // change it reports happened before the revert.
      Check(updated.ok() && grant.changed &&
                clock_->Now() <
                    grant.changed_at + memory_.core()->options().token_ttl,
            "a token was taken twice");
      Check(*memory_.users()->GetPhone(caller.user_id) == before,
            "a retried UpdatePhone changed the phone again");
      Check(sms_.count() == texts, "a retried UpdatePhone texted a notice");
      return;
    }
    Check(!locked, "a token was taken while the account is locked after a "
                   "revert");
    Check(newest_token_[caller.user_id] == token,
          "a token revoked by a newer verification or a revert was taken");
    Check(clock_->Now() < grant.expires_at, "an expired token was taken");
    grant.spent = true;
    if (!updated.ok()) return;
    grant.changed = true;
    grant.changed_at = clock_->Now();
    Check(*memory_.users()->GetPhone(caller.user_id) == grant.new_e164,
          "after UpdatePhone the account has not the token's phone");
    const std::vector<SmsMessage> texted = TextsSince(texts);
    if (before.empty()) {
      Check(texted.empty(), "UpdatePhone that set a first phone texted");
      return;
    }
    Check(texted.size() == 1,
          absl::StrCat("UpdatePhone that replaced a phone texted ",
                       texted.size(), " messages, not one notice"));
    const SmsMessage& notice = texted.front();
    Check(notice.type == SmsType::kPhoneChangedNotice &&
              notice.phone_e164 == before,
          "the notice of a change is not a phone_changed_notice to the old "
          "phone");
    Check(notice.revert_token.size() == kRevertTokenChars &&
              IsBase64UrlText(notice.revert_token),
          absl::StrCat("a phone_changed_notice carries the revert token '",
                       notice.revert_token, "'"));
    Check(reverts_.count(notice.revert_token) == 0,
          "a revert token was texted twice");
    reverts_[notice.revert_token] = {caller.user_id, before, ++changes_,
                                     clock_->Now() + kRevertWindow};
    revert_order_.push_back(notice.revert_token);
  }

  std::string PickRevertToken(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange(0, 4)) {
      case 0:
      case 1:
        // One really texted, whether used, voided, expired or live.
        if (!revert_order_.empty()) {
          return revert_order_[in.ConsumeIntegralInRange<size_t>(
              0, revert_order_.size() - 1)];
        }
        break;
      case 2:
        // One character changed: still well-formed, never texted.
        if (!revert_order_.empty()) {
          std::string token = revert_order_[in.ConsumeIntegralInRange<size_t>(
              0, revert_order_.size() - 1)];
          const size_t at =
              in.ConsumeIntegralInRange<size_t>(0, token.size() - 1);
          token[at] = token[at] == 'A' ? 'B' : 'A';
          return token;
        }
        break;
      case 3:
        // An update-phone token: the same form, another kind of token.
        if (!issued_order_.empty()) {
          return issued_order_[in.ConsumeIntegralInRange<size_t>(
              0, issued_order_.size() - 1)];
        }
        break;
      default:
        break;
    }
    if (in.ConsumeBool()) return Base64UrlEncode(in.ConsumeBytesAsString(32));
    return in.ConsumeRandomLengthString(64);
  }

  void Revert(FuzzedDataProvider& in) {
    // A revert needs no user: the token names the account.
    Caller caller;
    caller.request_id = "fuzz";
    caller.language =
        in.ConsumeBool() ? Language::kChinese : Language::kEnglish;
    caller.client_ip = kClientIps[in.ConsumeIntegralInRange<size_t>(
        0, std::size(kClientIps) - 2)];
    const std::string token = PickRevertToken(in);
    const bool well_formed =
        token.size() == kRevertTokenChars && IsBase64UrlText(token);
    auto it = reverts_.find(token);
    RevertGrant* grant = it == reverts_.end() ? nullptr : &it->second;
    const bool valid = grant != nullptr && !grant->used && !grant->voided &&
                       clock_->Now() < grant->expires_at;
    std::string before, old_owner;
    if (grant != nullptr) {
      before = *memory_.users()->GetPhone(grant->user);
      old_owner = *memory_.users()->FindOwner(grant->old_e164);
    }
    const bool old_taken = !old_owner.empty() &&
                           grant != nullptr && old_owner != grant->user;
    const size_t texts = sms_.count();
    absl::Status reverted = memory_.core()->Revert(caller, token);
    Drain();
    CheckCanonical(reverted, "Revert");
    if (!reverted.ok()) {
      Check(sms_.count() == texts, "a failed revert texted");
      const ApiCode code = ApiCodeOf(reverted);
      const absl::StatusCode status = reverted.code();
      switch (code) {
        case ApiCode::kInvalidArgument:
          Check(status == absl::StatusCode::kInvalidArgument && !well_formed,
                "a well-formed revert token was refused as malformed");
          break;
        case ApiCode::kRevertTokenNotFound:
          Check(status == absl::StatusCode::kNotFound && well_formed &&
                    !valid,
                "a valid revert token was refused as NOT_FOUND 2320");
          break;
        case ApiCode::kPhoneTaken:
          Check(status == absl::StatusCode::kAlreadyExists && valid &&
                    old_taken,
                "a revert answered 2035 but its token is not valid or its "
                "old phone is free");
          break;
        case ApiCode::kTooFrequent:
          Check(status == absl::StatusCode::kResourceExhausted && well_formed,
                "a revert answered 2100 before checking the token's form");
          break;
        default:
          Check(false, absl::StrCat("Revert answered ", reverted.ToString()));
      }
      Check(!valid || old_taken || code == ApiCode::kTooFrequent,
            absl::StrCat("a valid revert token whose old phone is free was "
                         "refused: ",
                         reverted.ToString()));
      return;
    }
    Check(grant != nullptr,
          "a revert succeeded with a token never texted in a "
          "phone_changed_notice");
    Check(!grant->used, "a used revert token worked again");
    Check(!grant->voided,
          "a revert token voided by the revert of an earlier change worked");
    Check(clock_->Now() < grant->expires_at, "an expired revert token worked");
    Check(!old_taken, "a revert took a phone another account holds");
    const std::string user = grant->user;
    const std::string old_e164 = grant->old_e164;
    Check(*memory_.users()->GetPhone(user) == old_e164,
          "after a revert the account has not the token's old phone");
    grant->used = true;
    for (auto& [other_token, other] : reverts_) {
      if (other.user == user && other.change > grant->change) {
        other.voided = true;
      }
    }
    locked_until_[user] = clock_->Now() + kChangeLock;
    newest_token_[user].clear();  // its update-phone tokens are void
    if (before != old_e164) reverted_moves_.insert({user, before, old_e164});

    const std::vector<SmsMessage> texted = TextsSince(texts);
    if (before != old_e164 && !before.empty()) {
      Check(texted.size() == 1 &&
                texted.front().type == SmsType::kPhoneUnlinkedNotice &&
                texted.front().phone_e164 == before,
            "a revert that unlinked a number did not text it exactly one "
            "phone_unlinked_notice");
    } else {
      Check(texted.empty(), "a revert that unlinked nothing texted");
    }

    // The token is used up, from any address.
    Caller again_caller = caller;
    again_caller.client_ip = kClientIps[std::size(kClientIps) - 1];
    const absl::Status again = memory_.core()->Revert(again_caller, token);
    Check(again.code() == absl::StatusCode::kNotFound &&
              ApiCodeOf(again) == ApiCode::kRevertTokenNotFound,
          absl::StrCat("the second use of a revert token answered ",
                       again.ToString()));
    Drain();
    Check(sms_.count() == texts + texted.size(),
          "the second use of a revert token texted");
  }

  void Get(FuzzedDataProvider& in) {
    Caller caller;
    if (!PickCaller(in, &caller)) return;
    absl::StatusOr<ProfileView> view = memory_.core()->GetProfile(caller);
    CheckCanonical(view.status(), "GetProfile");
    Check(view.ok(), "GetProfile of the in-memory store fails");
    Check(view->user_id == caller.user_id, "GetProfile of another user");
    Check(view->phone_e164 == *memory_.users()->GetPhone(caller.user_id),
          "GetProfile shows a phone the store does not hold");
  }

  void CheckUserStore() {
    std::map<std::string, std::string> owner_of;
    for (const std::string& user : known_users_) {
      absl::StatusOr<std::string> phone = memory_.users()->GetPhone(user);
      Check(phone.ok(), "GetPhone fails");
      if (phone->empty()) continue;
      Check(owner_of.emplace(*phone, user).second,
            absl::StrCat("phone ", *phone, " is bound to two accounts"));
      Check(*memory_.users()->FindOwner(*phone) == user,
            "FindOwner disagrees with GetPhone");
    }
    // Every change of a phone, whatever the core's own checks said, was
    // proved to the model. Each operation changes at most the caller's
    // phone, and this runs after each, so no change goes unseen.
    for (const std::string& user : known_users_) {
      const std::string phone = *memory_.users()->GetPhone(user);
      std::string& seen = phone_seen_[user];  // "": every user starts so
      if (phone == seen) continue;
      // A valid revert explains the one move it made.
      const bool reverted = reverted_moves_.erase({user, seen, phone}) != 0;
      Check(reverted || proofs_.count({user, seen, phone}) != 0,
            absl::StrCat(user, " moved from '", seen, "' to '", phone,
                         "' without presenting right codes for it or a "
                         "valid revert token"));
      seen = phone;
    }
  }

  std::shared_ptr<testing::FakeClock> clock_;
  testing::CapturingSmsSender sms_;
  testing::InMemoryCore memory_;

  std::set<std::string> known_users_;
  std::map<CodeKeyTuple, std::pair<std::string, absl::Time>> live_codes_;
  std::map<std::string, IssuedToken> issued_;
  std::vector<std::string> issued_order_;
  std::map<std::string, std::string> newest_token_;
  // (user, phone held then, new phone) of every verification that succeeded
  // with right codes; and each user's phone as CheckUserStore() last saw it.
  std::set<std::tuple<std::string, std::string, std::string>> proofs_;
  std::map<std::string, std::string> phone_seen_;
  // Every revert token texted, by token and in order; the changes that
  // texted them are numbered by changes_.
  std::map<std::string, RevertGrant> reverts_;
  std::vector<std::string> revert_order_;
  int64_t changes_ = 0;
  // Until when each account is locked after its last revert.
  std::map<std::string, absl::Time> locked_until_;
  // (user, phone before, phone restored) of each valid revert that moved a
  // phone and CheckUserStore() has not seen yet.
  std::set<std::tuple<std::string, std::string, std::string>>
      reverted_moves_;
};

}  // namespace
}  // namespace profile

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The core writes an audit line per change; keep the fuzzer's output to
  // what it finds.
  profile::SetMinLogLevel(profile::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  profile::World world(in.ConsumeBool());
  world.Run(in);
  return 0;
}
