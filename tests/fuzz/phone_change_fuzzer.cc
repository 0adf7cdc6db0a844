// Fuzzes the service core in-process: a PhoneChange over the in-memory
// stores and a fake clock, driven by a sequence of operations decoded from
// the input (send a code, verify, spend a token, read a profile, move the
// clock, sweep), with callers from a small set of users or authenticated
// from arbitrary metadata, and fields that are either plausible (known
// phones, codes that were really sent, tokens that were really issued) or
// arbitrary bytes. Each input also decides whether verify_old_phone is on
// (the server's default) or off, so both modes are fuzzed.
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
//     OLD_PHONE code for Q; every user starts with no phone;
//   - old-phone codes are texted only to the caller's current phone;
//   - no answer is INTERNAL or UNKNOWN.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
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

class World {
 public:
  explicit World(bool verify_old)
      : clock_(std::make_shared<testing::FakeClock>()),
        memory_(MemoryOptions(clock_, &sms_, verify_old)) {
    for (int i = 0; i < 4; ++i) known_users_.insert(absl::StrCat("u", i));
  }

  void Run(FuzzedDataProvider& in) {
    for (int op = 0; op < kMaxOps && in.remaining_bytes() > 0; ++op) {
      switch (in.ConsumeIntegralInRange(0, 6)) {
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
      }
      CheckUserStore();
      Check(memory_.tokens()->Size() <= kMaxLiveTokens,
            "token store over its cap");
    }
  }

 private:
  const PhoneChangeOptions& options() const { return memory_.options().core; }

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
    const size_t texts = sms_.count();
    absl::StatusOr<SendCodeResult> sent = memory_.core()->SendCode(
        caller, {cc, number, static_cast<CodePurpose>(purpose)});
    CheckCanonical(sent.status(), "SendCode");
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
    absl::StatusOr<VerifyResult> verified =
        memory_.core()->Verify(caller, input);
    CheckCanonical(verified.status(), "Verify");
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
    absl::Status updated = memory_.core()->Update(caller, token);
    CheckCanonical(updated, "Update");
    const ApiCode code = ApiCodeOf(updated);
    const bool taken = updated.ok() || code == ApiCode::kPhoneTaken ||
                       code == ApiCode::kOldPhoneMismatch;
    if (!taken) return;
    auto it = issued_.find(token);
    Check(it != issued_.end(), "a token that was never issued was taken");
    IssuedToken& grant = it->second;
    Check(grant.user == caller.user_id,
          "a token issued to another user was taken");
    if (grant.spent) {
      Check(updated.ok() && grant.changed &&
                clock_->Now() <
                    grant.changed_at + memory_.core()->options().token_ttl,
            "a token was taken twice");
      Check(*memory_.users()->GetPhone(caller.user_id) == before,
            "a retried UpdatePhone changed the phone again");
      return;
    }
    Check(newest_token_[caller.user_id] == token,
          "a token revoked by a newer verification was taken");
    Check(clock_->Now() < grant.expires_at, "an expired token was taken");
    grant.spent = true;
    if (updated.ok()) {
      grant.changed = true;
      grant.changed_at = clock_->Now();
      Check(*memory_.users()->GetPhone(caller.user_id) == grant.new_e164,
            "after UpdatePhone the account has not the token's phone");
    }
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
      Check(proofs_.count({user, seen, phone}) != 0,
            absl::StrCat(user, " moved from '", seen, "' to '", phone,
                         "' without presenting right codes for it"));
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
