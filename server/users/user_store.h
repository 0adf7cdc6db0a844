// UserStore: which phone each user's account is bound to.
//
// A phone belongs to at most one account. ChangePhone() is a compare-and-set
// on the account's current phone, so concurrent changes of one account, and
// concurrent claims of one phone by two accounts, resolve to exactly one
// winner.
//
//   absl::StatusOr<std::string> phone = store->GetPhone("u1");  // "" if none
//   absl::Status changed = store->ChangePhone("u1", *phone, "+86138...");
//
// A user the store has never seen is a user without a phone; the first
// ChangePhone() creates the profile.
//
// A change that replaces a phone can leave behind a revert token (kept as
// its digest) and a notice to the old phone, committed with it; Revert()
// spends such a token: the account gets the old phone back and its phone
// changes are locked for a while. The notices wait in the store's
// NoticeQueue (server/notices/notice_queue.h) until the relay sends them.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_USERS_USER_STORE_H_
#define PROFILE_SERVER_USERS_USER_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/language.h"
#include "server/notices/notice_queue.h"

namespace profile {

// What Lookup() reads in one go.
struct PhoneBindings {
  std::string user_phone;   // the phone of the user asked about, or ""
  std::string phone_owner;  // the user holding the phone asked about, or ""
  // Until when the user's phone changes are locked after a revert;
  // InfinitePast() for not locked.
  absl::Time changes_locked_until = absl::InfinitePast();
};

// What a phone change commits besides the phone.
struct ChangeRecord {
  // Who made it: "self" (the user), "revert", or an admin's identity.
  std::string actor = "self";
  // What it was: "change" (the user's), "set", "clear" or "unlock" (an
  // admin's); a revert records "revert".
  std::string action = "change";
  // The admin's reason; empty for the user's own changes.
  std::string reason;
  std::string request_id;
  // The digest (SHA-256) of the token that undoes this change, valid for
  // `revert_window`; empty for none.
  std::string revert_token_hash;
  absl::Duration revert_window = absl::ZeroDuration();
  // The notice to the old phone, queued with the change; ignored (none)
  // unless `notify` is set. The queue assigns its id and created_at.
  bool notify = false;
  Notice notice;
};

// Revert(): what to undo.
struct RevertRequest {
  // The digest (SHA-256) of the revert token.
  std::string token_hash;
  // How long the account's phone changes stay locked afterwards.
  absl::Duration lock_for = absl::Hours(24);
  std::string request_id;
  // The language of the notice to the number the revert unlinks.
  Language language = Language::kEnglish;
};

// One audit record of an account's phone.
struct ChangeEntry {
  int64_t id = 0;
  absl::Time at;
  std::string old_phone;  // "" for none
  std::string new_phone;  // "" for none
  std::string actor;
  std::string action;
  std::string reason;
  std::string request_id;
};

struct RevertOutcome {
  std::string user_id;
  // The phone the account has again.
  std::string restored_phone;
  // The phone the revert unlinked; "" when the account had none, or had
  // the restored one already.
  std::string removed_phone;
};

class UserStore {
 public:
  virtual ~UserStore() = default;

  // Returns true if a call may wait on a network or a disk. The service then
  // runs the RPCs that use this off gRPC's callback threads, on its bounded
  // executor. True unless an implementation knows better: only what is
  // certain to return at once (memory under a mutex) may answer false.
  virtual bool MayBlock() const { return true; }

  // Returns the E.164 phone bound to `user_id`, or "" if it has none.
  virtual absl::StatusOr<std::string> GetPhone(absl::string_view user_id) = 0;

  // Returns the user bound to `phone_e164`, or "" if the phone is free.
  virtual absl::StatusOr<std::string> FindOwner(
      absl::string_view phone_e164) = 0;

  // Returns GetPhone(user_id) and FindOwner(phone_e164) read together: one
  // round trip on a remote store, one consistent snapshot where the store
  // offers one.
  virtual absl::StatusOr<PhoneBindings> Lookup(absl::string_view user_id,
                                               absl::string_view phone_e164);

  // Binds `new_phone_e164` to `user_id` if the account's phone still is
  // `expected_old_e164` ("" for none); an empty `new_phone_e164` unbinds
  // the phone (an admin's "clear"). Returns FAILED_PRECONDITION (api code
  // 2038) if the account's phone changed meanwhile, and ALREADY_EXISTS (2035)
  // if another account holds the new phone.
  // Returns FAILED_PRECONDITION (2330) while the account's phone changes
  // are locked. With `record`, commits its revert token and notice with the
  // change, atomically.
  virtual absl::Status ChangePhone(absl::string_view user_id,
                                   absl::string_view expected_old_e164,
                                   absl::string_view new_phone_e164,
                                   const ChangeRecord& record) = 0;
  absl::Status ChangePhone(absl::string_view user_id,
                           absl::string_view expected_old_e164,
                           absl::string_view new_phone_e164) {
    return ChangePhone(user_id, expected_old_e164, new_phone_e164,
                       ChangeRecord());
  }

  // Spends a revert token, atomically: the account gets the token's old
  // phone back whatever its phone is now; the token and the revert tokens
  // of every later change of the account are used up; phone changes of the
  // account are locked for `request.lock_for`; an audit record is written;
  // and the number unlinked now, if any, is owed a kPhoneUnlinked notice.
  // Returns NOT_FOUND (2320) for a token unknown, expired or used, and
  // ALREADY_EXISTS (2035) if another account holds the old phone now (the
  // token stays usable).
  virtual absl::StatusOr<RevertOutcome> Revert(
      const RevertRequest& request) = 0;

  // Lifts the revert lock of the account, recording `record` (an admin's
  // "unlock"). OK for an account that is not locked, or unknown.
  virtual absl::Status Unlock(absl::string_view user_id,
                              const ChangeRecord& record) = 0;

  // Returns up to `limit` audit records of the account, newest first, those
  // older than record `before_id` only (0: from the newest).
  virtual absl::StatusOr<std::vector<ChangeEntry>> ListChanges(
      absl::string_view user_id, int limit, int64_t before_id) = 0;

  // The outbox of the notices that changes owe. Owned by the store.
  virtual NoticeQueue* notices() = 0;
};

// Returns a store in this process's memory; revert windows, locks and
// notice retries follow `clock`.
std::unique_ptr<UserStore> NewInMemoryUserStore(
    std::shared_ptr<Clock> clock = SystemClock());

}  // namespace profile

#endif  // PROFILE_SERVER_USERS_USER_STORE_H_
