#include "server/admin/profile_admin.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/auth/authenticator.h"
#include "server/common/api_error.h"
#include "server/common/log.h"
#include "server/common/text.h"
#include "server/phone/phone_number.h"

namespace profile {
namespace {

// The rules of x-user-id, for the account an admin names.
absl::Status CheckUserId(absl::string_view user_id) {
  const absl::string_view problem = UserIdProblem(user_id);
  if (!problem.empty()) return InvalidFieldError("user_id", problem);
  return absl::OkStatus();
}

absl::Status CheckReason(absl::string_view reason) {
  if (absl::StripAsciiWhitespace(reason).empty()) {
    return InvalidFieldError("reason",
                             "is required: say why, for the audit record");
  }
  if (reason.size() > kMaxReasonBytes || !IsCleanText(reason)) {
    return InvalidFieldError(
        "reason", "must be 1 to 512 bytes of UTF-8 without control "
                  "characters");
  }
  return absl::OkStatus();
}

// Page tokens are the id of the last record a page held, opaque to callers.
std::string PageToken(int64_t id) {
  return absl::WebSafeBase64Escape(absl::StrCat("p", id));
}

bool ReadPageToken(absl::string_view token, int64_t* id) {
  std::string text;
  if (token.size() > 64 || !absl::WebSafeBase64Unescape(token, &text)) {
    return false;
  }
  absl::string_view rest = text;
  return absl::ConsumePrefix(&rest, "p") && absl::SimpleAtoi(rest, id) &&
         *id > 0;
}

}  // namespace

ProfileAdmin::ProfileAdmin(const PhoneChangeOptions& options,
                           ProfileAdminDeps deps)
    : options_(options), deps_(std::move(deps)) {}

absl::StatusOr<AdminUserView> ProfileAdmin::GetUser(const AdminCaller&,
                                                    absl::string_view user_id) {
  absl::Status valid = CheckUserId(user_id);
  if (!valid.ok()) return valid;
  absl::StatusOr<PhoneBindings> bindings = deps_.users->Lookup(user_id, "");
  if (!bindings.ok()) return bindings.status();
  AdminUserView view;
  view.profile.user_id = std::string(user_id);
  if (!bindings->user_phone.empty()) {
    absl::StatusOr<PhoneNumber> phone = ParseE164(bindings->user_phone);
    if (!phone.ok()) {
      return absl::InternalError(
          absl::StrCat("stored phone of ", user_id, " is not E.164"));
    }
    view.profile.phone_country_code = phone->country_code;
    view.profile.phone_number = phone->national_number;
    view.profile.phone_e164 = phone->e164;
  }
  if (bindings->changes_locked_until > deps_.clock->Now()) {
    view.locked_until = bindings->changes_locked_until;
  }
  absl::StatusOr<bool> live = deps_.tokens->HasLiveToken(user_id);
  if (!live.ok()) return live.status();
  view.has_live_token = *live;
  return view;
}

absl::Status ProfileAdmin::SetPhone(const AdminCaller& caller,
                                    absl::string_view user_id,
                                    absl::string_view country_code,
                                    absl::string_view number,
                                    absl::string_view reason) {
  absl::Status valid = CheckUserId(user_id);
  if (valid.ok()) valid = CheckReason(reason);
  if (!valid.ok()) return valid;
  absl::StatusOr<PhoneNumber> phone = ParsePhoneNumber(
      country_code, number, "phone_number", &options_.fictional_numbers);
  if (!phone.ok()) return phone.status();
  absl::StatusOr<std::string> current = deps_.users->GetPhone(user_id);
  if (!current.ok()) return current.status();
  if (*current == phone->e164) {
    return ApiError(ApiCode::kSamePhone,
                    "the number is the account's phone already");
  }
  ChangeRecord record =
      NewChangeRecord(options_, deps_.outbox_key, user_id, *current,
                      phone->e164, Language::kEnglish, caller.request_id);
  record.actor = caller.admin;
  record.action = "set";
  record.reason = std::string(reason);
  absl::Status changed =
      deps_.users->ChangePhone(user_id, *current, phone->e164, record);
  if (!changed.ok()) return changed;
  Changed(caller, "set", user_id, *current, phone->e164, reason,
          record.notify);
  return absl::OkStatus();
}

absl::Status ProfileAdmin::ClearPhone(const AdminCaller& caller,
                                      absl::string_view user_id,
                                      absl::string_view reason) {
  absl::Status valid = CheckUserId(user_id);
  if (valid.ok()) valid = CheckReason(reason);
  if (!valid.ok()) return valid;
  absl::StatusOr<std::string> current = deps_.users->GetPhone(user_id);
  if (!current.ok()) return current.status();
  if (current->empty()) return ApiError(ApiCode::kNoCurrentPhone);
  ChangeRecord record;
  record.actor = caller.admin;
  record.action = "clear";
  record.reason = std::string(reason);
  record.request_id = caller.request_id;
  // The number leaves the account: its holder is told, without a token (an
  // admin's clear is undone by an admin).
  record.notify = options_.notify_old_phone;
  record.notice.type = NoticeType::kPhoneUnlinked;
  record.notice.user_id = std::string(user_id);
  record.notice.phone_e164 = *current;
  record.notice.request_id = caller.request_id;
  absl::Status changed = deps_.users->ChangePhone(user_id, *current, "", record);
  if (!changed.ok()) return changed;
  Changed(caller, "clear", user_id, *current, "", reason, record.notify);
  return absl::OkStatus();
}

absl::Status ProfileAdmin::Unlock(const AdminCaller& caller,
                                  absl::string_view user_id,
                                  absl::string_view reason) {
  absl::Status valid = CheckUserId(user_id);
  if (valid.ok()) valid = CheckReason(reason);
  if (!valid.ok()) return valid;
  ChangeRecord record;
  record.actor = caller.admin;
  record.action = "unlock";
  record.reason = std::string(reason);
  record.request_id = caller.request_id;
  absl::Status unlocked = deps_.users->Unlock(user_id, record);
  if (!unlocked.ok()) return unlocked;
  Log(LogLevel::kInfo, "phone changes unlocked",
      {{"audit", "admin_unlock"},
       {"admin", caller.admin},
       {"user_id", user_id},
       {"reason", reason},
       {"request_id", caller.request_id}});
  return absl::OkStatus();
}

absl::StatusOr<AdminChangesPage> ProfileAdmin::ListChanges(
    const AdminCaller&, absl::string_view user_id, int page_size,
    absl::string_view page_token) {
  absl::Status valid = CheckUserId(user_id);
  if (!valid.ok()) return valid;
  if (page_size < 0 || page_size > kMaxChangesPageSize) {
    return InvalidFieldError("page_size", "must be from 0 (20) to 100");
  }
  if (page_size == 0) page_size = kDefaultChangesPageSize;
  int64_t before = 0;
  if (!page_token.empty() && !ReadPageToken(page_token, &before)) {
    return InvalidFieldError("page_token",
                             "is not a next_page_token of ListPhoneChanges");
  }
  // One more than asked says whether another page follows.
  absl::StatusOr<std::vector<ChangeEntry>> changes =
      deps_.users->ListChanges(user_id, page_size + 1, before);
  if (!changes.ok()) return changes.status();
  AdminChangesPage page;
  page.changes = *std::move(changes);
  if (static_cast<int>(page.changes.size()) > page_size) {
    page.changes.resize(page_size);
    page.next_page_token = PageToken(page.changes.back().id);
  }
  return page;
}

void ProfileAdmin::Changed(const AdminCaller& caller, absl::string_view action,
                           absl::string_view user_id,
                           absl::string_view old_phone,
                           absl::string_view new_phone,
                           absl::string_view reason, bool owes_notice) {
  // The change is committed: an update-phone token issued before it would
  // apply a verification of another state.
  absl::Status revoked = deps_.tokens->RevokeUser(user_id);
  if (!revoked.ok()) {
    Log(LogLevel::kWarning, "cannot void the update-phone token of a change",
        {{"error", std::string(revoked.message())},
         {"request_id", caller.request_id}});
  }
  if (owes_notice && deps_.relay != nullptr) deps_.relay->Wake();
  Log(LogLevel::kInfo, "phone changed by an admin",
      {{"audit", absl::StrCat("admin_", action)},
       {"admin", caller.admin},
       {"user_id", user_id},
       {"old_phone", MaskPhone(old_phone)},
       {"new_phone", MaskPhone(new_phone)},
       {"reason", reason},
       {"request_id", caller.request_id}});
}

}  // namespace profile
