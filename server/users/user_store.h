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
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_USERS_USER_STORE_H_
#define PROFILE_SERVER_USERS_USER_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

// What Lookup() reads in one go.
struct PhoneBindings {
  std::string user_phone;   // the phone of the user asked about, or ""
  std::string phone_owner;  // the user holding the phone asked about, or ""
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
  // `expected_old_e164` ("" for none). Returns FAILED_PRECONDITION (api code
  // 2038) if the account's phone changed meanwhile, and ALREADY_EXISTS (2035)
  // if another account holds the new phone.
  virtual absl::Status ChangePhone(absl::string_view user_id,
                                   absl::string_view expected_old_e164,
                                   absl::string_view new_phone_e164) = 0;
};

// Returns a store in this process's memory.
std::unique_ptr<UserStore> NewInMemoryUserStore();

}  // namespace profile

#endif  // PROFILE_SERVER_USERS_USER_STORE_H_
