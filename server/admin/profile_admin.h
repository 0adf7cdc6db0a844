// ProfileAdmin: what support staff may do to an account's phone, with a
// reason, under the same rules as the user's own changes.
//
// The RPC layer (admin_service.h) decides who is an admin; this core knows
// nothing of gRPC. Every change is committed with an audit record carrying
// the admin's identity and reason (UserStore::ChangePhone / Unlock, in one
// PostgreSQL transaction), voids the account's live update-phone token, and
// owes the phone it removes a notice, as a change by the user does.
//
//   ProfileAdmin admin(options, deps);
//   absl::Status set = admin.SetPhone(
//       {"spiffe://cluster.local/ns/support/sa/console", "req-1"}, "u1",
//       "+86", "138 0013 8000", "ticket 4711: identity proofed");
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_SERVER_ADMIN_PROFILE_ADMIN_H_
#define PROFILE_SERVER_ADMIN_PROFILE_ADMIN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/language.h"
#include "server/core/phone_change.h"
#include "server/notices/notice_relay.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile {

// Who calls, as the RPC layer established.
struct AdminCaller {
  // The admin's identity: the client certificate's SAN, or "jwt:" and the
  // token's sub.
  std::string admin;
  std::string request_id;
};

// An account as support sees it.
struct AdminUserView {
  ProfileView profile;
  // InfinitePast() when not locked.
  absl::Time locked_until = absl::InfinitePast();
  bool has_live_token = false;
};

struct AdminChangesPage {
  std::vector<ChangeEntry> changes;
  // Empty on the last page.
  std::string next_page_token;
};

// The longest admin reason, in bytes.
inline constexpr size_t kMaxReasonBytes = 512;
// The most changes ListChanges() returns at once, and its default.
inline constexpr int kMaxChangesPageSize = 100;
inline constexpr int kDefaultChangesPageSize = 20;

struct ProfileAdminDeps {
  std::shared_ptr<Clock> clock;
  UserStore* users;
  TokenStore* tokens;
  // Woken after a change that owes a notice; null for none.
  NoticeRelay* relay = nullptr;
  // Seals the revert tokens of the notices (as PhoneChangeDeps::outbox_key).
  std::string outbox_key;
};

class ProfileAdmin {
 public:
  // `options`: the rules of the flow (fictional test numbers, revert
  // window, notices), as the public core has them.
  ProfileAdmin(const PhoneChangeOptions& options, ProfileAdminDeps deps);

  // Reads an account; one that never had a phone has empty phone fields.
  absl::StatusOr<AdminUserView> GetUser(const AdminCaller& caller,
                                        absl::string_view user_id);

  // Binds a number without codes: the same parsing (1001), uniqueness
  // (2035), same-phone (2230) and lock (2330) rules as the user's change.
  absl::Status SetPhone(const AdminCaller& caller, absl::string_view user_id,
                        absl::string_view country_code,
                        absl::string_view number, absl::string_view reason);

  // Unbinds the account's phone; 2037 without one.
  absl::Status ClearPhone(const AdminCaller& caller, absl::string_view user_id,
                          absl::string_view reason);

  // Lifts the account's revert lock.
  absl::Status Unlock(const AdminCaller& caller, absl::string_view user_id,
                      absl::string_view reason);

  // Lists the account's changes, newest first: `page_size` 1 to 100 (0:
  // 20), `page_token` from the previous page ("" for the first).
  absl::StatusOr<AdminChangesPage> ListChanges(const AdminCaller& caller,
                                               absl::string_view user_id,
                                               int page_size,
                                               absl::string_view page_token);

  // Returns true if a call may wait on a network or a disk.
  bool MayBlock() const {
    return deps_.users->MayBlock() || deps_.tokens->MayBlock();
  }

 private:
  // After a committed change: voids the live token, wakes the relay, and
  // writes the audit log line.
  void Changed(const AdminCaller& caller, absl::string_view action,
               absl::string_view user_id, absl::string_view old_phone,
               absl::string_view new_phone, absl::string_view reason,
               bool owes_notice);

  const PhoneChangeOptions options_;
  const ProfileAdminDeps deps_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_ADMIN_PROFILE_ADMIN_H_
