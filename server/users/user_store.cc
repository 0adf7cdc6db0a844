#include "server/users/user_store.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"

namespace profile {

const char* NoticeTypeName(NoticeType type) {
  return type == NoticeType::kPhoneUnlinked ? "phone_unlinked_notice"
                                            : "phone_changed_notice";
}

namespace {

absl::Status LockedError() { return ApiError(ApiCode::kChangesLocked); }

class InMemoryUserStore;

// The outbox in this process: the same leases and retries as PostgreSQL's,
// over a map ordered by id (oldest first).
class InMemoryNoticeQueue final : public NoticeQueue {
 public:
  explicit InMemoryNoticeQueue(std::shared_ptr<Clock> clock)
      : clock_(std::move(clock)) {}

  // Queues `notice` (the store calls it under its own lock, so a change and
  // its notice appear together).
  void Add(Notice notice) {
    absl::MutexLock lock(&mu_);
    notice.id = ++last_id_;
    notice.created_at = clock_->Now();
    notice.attempts = 0;
    entries_.emplace(notice.id, Entry{std::move(notice)});
  }

  absl::StatusOr<std::vector<Notice>> Lease(int max,
                                            absl::Duration lease) override {
    const absl::Time now = clock_->Now();
    std::vector<Notice> due;
    absl::MutexLock lock(&mu_);
    for (auto& [id, entry] : entries_) {
      if (static_cast<int>(due.size()) >= max) break;
      if (entry.due > now || entry.leased_until > now) continue;
      entry.leased_until = now + lease;
      ++entry.notice.attempts;
      due.push_back(entry.notice);
    }
    return due;
  }

  absl::Status Delivered(absl::Span<const int64_t> ids) override {
    absl::MutexLock lock(&mu_);
    for (int64_t id : ids) entries_.erase(id);
    return absl::OkStatus();
  }

  absl::Status Retry(int64_t id, absl::Duration delay) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(id); it != entries_.end()) {
      it->second.due = now + delay;
      it->second.leased_until = absl::InfinitePast();
    }
    return absl::OkStatus();
  }

  absl::Status Drop(int64_t id) override { return Delivered({id}); }

  absl::StatusOr<NoticeBacklog> Backlog() override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    NoticeBacklog backlog;
    backlog.pending = entries_.size();
    if (!entries_.empty()) {
      backlog.oldest = std::max(absl::ZeroDuration(),
                                now - entries_.begin()->second.notice.created_at);
    }
    return backlog;
  }

 private:
  struct Entry {
    Notice notice;
    absl::Time due = absl::InfinitePast();
    absl::Time leased_until = absl::InfinitePast();
  };

  const std::shared_ptr<Clock> clock_;
  absl::Mutex mu_;
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

class InMemoryUserStore final : public UserStore {
 public:
  explicit InMemoryUserStore(std::shared_ptr<Clock> clock)
      : clock_(std::move(clock)), notices_(clock_) {}

  using UserStore::ChangePhone;

  bool MayBlock() const override { return false; }

  absl::StatusOr<std::string> GetPhone(absl::string_view user_id) override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = phone_of_.find(user_id);
    return it == phone_of_.end() ? std::string() : it->second;
  }

  absl::StatusOr<std::string> FindOwner(
      absl::string_view phone_e164) override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = owner_of_.find(phone_e164);
    return it == owner_of_.end() ? std::string() : it->second;
  }

  absl::StatusOr<PhoneBindings> Lookup(absl::string_view user_id,
                                       absl::string_view phone_e164) override {
    absl::ReaderMutexLock lock(&mu_);
    PhoneBindings bindings;
    if (auto it = phone_of_.find(user_id); it != phone_of_.end()) {
      bindings.user_phone = it->second;
    }
    if (auto it = owner_of_.find(phone_e164); it != owner_of_.end()) {
      bindings.phone_owner = it->second;
    }
    if (auto it = locked_until_.find(user_id); it != locked_until_.end()) {
      bindings.changes_locked_until = it->second;
    }
    return bindings;
  }

  absl::Status ChangePhone(absl::string_view user_id,
                           absl::string_view expected_old_e164,
                           absl::string_view new_phone_e164,
                           const ChangeRecord& record) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    if (expected_old_e164.empty() && new_phone_e164.empty()) {
      return ApiError(ApiCode::kNoCurrentPhone);  // nothing to unbind
    }
    if (LockedLocked(user_id, now)) return LockedError();
    auto current = phone_of_.find(user_id);
    absl::string_view old_e164 =
        current == phone_of_.end() ? absl::string_view() : current->second;
    if (old_e164 != expected_old_e164) {
      return ApiError(ApiCode::kOldPhoneMismatch,
                      "the account's phone changed since the verification");
    }
    auto owner = owner_of_.find(new_phone_e164);
    if (owner != owner_of_.end() && owner->second != user_id) {
      return ApiError(ApiCode::kPhoneTaken);
    }
    const std::string old_phone(old_e164);
    Bind(user_id, old_phone, new_phone_e164);
    Record(user_id, old_phone, new_phone_e164, record, now);
    const int64_t change = ++changes_[std::string(user_id)];
    if (!record.revert_token_hash.empty()) {
      SweepRevertsIfLarge(now);
      reverts_[record.revert_token_hash] =
          RevertGrant{std::string(user_id), old_phone, change,
                      now + record.revert_window, false};
    }
    if (record.notify) {
      Notice notice = record.notice;
      notice.revert_expires_at = now + record.revert_window;
      notices_.Add(std::move(notice));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RevertOutcome> Revert(const RevertRequest& request) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    auto grant = reverts_.find(request.token_hash);
    if (grant == reverts_.end() || grant->second.used ||
        grant->second.expires_at <= now) {
      return ApiError(ApiCode::kRevertTokenNotFound);
    }
    const RevertGrant token = grant->second;
    auto owner = owner_of_.find(token.old_phone);
    if (owner != owner_of_.end() && owner->second != token.user_id) {
      return ApiError(ApiCode::kPhoneTaken,
                      "the old phone is bound to another account now");
    }
    RevertOutcome outcome{token.user_id, token.old_phone, ""};
    auto current = phone_of_.find(token.user_id);
    const std::string now_phone =
        current == phone_of_.end() ? std::string() : current->second;
    if (now_phone != token.old_phone) {
      outcome.removed_phone = now_phone;
      Bind(token.user_id, now_phone, token.old_phone);
    }
    // This token and those of every later change are used up.
    for (auto& [hash, other] : reverts_) {
      if (other.user_id == token.user_id && other.change >= token.change) {
        other.used = true;
      }
    }
    ++changes_[token.user_id];
    locked_until_[token.user_id] = now + request.lock_for;
    ChangeRecord audit;
    audit.actor = "revert";
    audit.action = "revert";
    audit.request_id = request.request_id;
    Record(token.user_id, now_phone, token.old_phone, audit, now);
    if (!outcome.removed_phone.empty()) {
      Notice notice;
      notice.type = NoticeType::kPhoneUnlinked;
      notice.user_id = token.user_id;
      notice.phone_e164 = outcome.removed_phone;
      notice.language = request.language;
      notice.request_id = request.request_id;
      notices_.Add(std::move(notice));
    }
    return outcome;
  }

  absl::Status Unlock(absl::string_view user_id,
                      const ChangeRecord& record) override {
    const absl::Time now = clock_->Now();
    absl::MutexLock lock(&mu_);
    locked_until_.erase(user_id);
    auto current = phone_of_.find(user_id);
    if (current == phone_of_.end()) return absl::OkStatus();
    const std::string phone = current->second;
    Record(user_id, phone, phone, record, now);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<ChangeEntry>> ListChanges(
      absl::string_view user_id, int limit, int64_t before_id) override {
    std::vector<ChangeEntry> page;
    absl::ReaderMutexLock lock(&mu_);
    auto it = history_.find(user_id);
    if (it == history_.end()) return page;
    const std::vector<ChangeEntry>& entries = it->second;
    for (auto e = entries.rbegin();
         e != entries.rend() && static_cast<int>(page.size()) < limit; ++e) {
      if (before_id == 0 || e->id < before_id) page.push_back(*e);
    }
    return page;
  }

  NoticeQueue* notices() override { return &notices_; }

 private:
  // Appends an audit record of `user_id`'s phone going from `old_phone` to
  // `new_phone`.
  void Record(absl::string_view user_id, absl::string_view old_phone,
              absl::string_view new_phone, const ChangeRecord& record,
              absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    history_[user_id].push_back(ChangeEntry{
        ++last_entry_, now, std::string(old_phone), std::string(new_phone),
        record.actor, record.action, record.reason, record.request_id});
  }

  // What a revert token grants.
  struct RevertGrant {
    std::string user_id;
    std::string old_phone;
    // The account's change the token undoes (they count up per account).
    int64_t change;
    absl::Time expires_at;
    bool used;
  };

  // Forgets the revert tokens that expired, once their number doubled since
  // the last time: memory stays bounded by the tokens still valid.
  void SweepRevertsIfLarge(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reverts_.size() < sweep_reverts_at_) return;
    absl::erase_if(reverts_, [now](const auto& entry) {
      return entry.second.expires_at <= now;
    });
    sweep_reverts_at_ = std::max<size_t>(1024, 2 * reverts_.size());
  }

  bool LockedLocked(absl::string_view user_id, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = locked_until_.find(user_id);
    return it != locked_until_.end() && it->second > now;
  }

  // Moves `user_id` from `old_phone` ("" for none) to `new_phone` ("" for
  // none).
  void Bind(absl::string_view user_id, const std::string& old_phone,
            absl::string_view new_phone) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!old_phone.empty()) owner_of_.erase(old_phone);
    if (new_phone.empty()) {
      phone_of_.erase(user_id);
      return;
    }
    owner_of_[new_phone] = std::string(user_id);
    phone_of_[user_id] = std::string(new_phone);
  }

  const std::shared_ptr<Clock> clock_;
  InMemoryNoticeQueue notices_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> phone_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> owner_of_ ABSL_GUARDED_BY(mu_);
  // User -> how many changes its phone went through.
  absl::flat_hash_map<std::string, int64_t> changes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> locked_until_
      ABSL_GUARDED_BY(mu_);
  // Revert token digest -> what it grants. Kept after use (a second use is
  // 2320 either way) until it expires and a sweep forgets it.
  absl::flat_hash_map<std::string, RevertGrant> reverts_ ABSL_GUARDED_BY(mu_);
  size_t sweep_reverts_at_ ABSL_GUARDED_BY(mu_) = 1024;
  // User -> its audit records, oldest first.
  absl::flat_hash_map<std::string, std::vector<ChangeEntry>> history_
      ABSL_GUARDED_BY(mu_);
  int64_t last_entry_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<PhoneBindings> UserStore::Lookup(absl::string_view user_id,
                                                absl::string_view phone_e164) {
  absl::StatusOr<std::string> user_phone = GetPhone(user_id);
  if (!user_phone.ok()) return user_phone.status();
  absl::StatusOr<std::string> phone_owner = FindOwner(phone_e164);
  if (!phone_owner.ok()) return phone_owner.status();
  return PhoneBindings{*std::move(user_phone), *std::move(phone_owner)};
}

std::unique_ptr<UserStore> NewInMemoryUserStore(std::shared_ptr<Clock> clock) {
  return std::make_unique<InMemoryUserStore>(std::move(clock));
}

}  // namespace profile
