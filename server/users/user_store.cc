#include "server/users/user_store.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"

namespace profile {
namespace {

class InMemoryUserStore final : public UserStore {
 public:
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
    return bindings;
  }

  absl::Status ChangePhone(absl::string_view user_id,
                           absl::string_view expected_old_e164,
                           absl::string_view new_phone_e164) override {
    absl::MutexLock lock(&mu_);
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
    if (!old_e164.empty()) owner_of_.erase(old_e164);
    owner_of_[new_phone_e164] = std::string(user_id);
    phone_of_[user_id] = std::string(new_phone_e164);
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> phone_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> owner_of_ ABSL_GUARDED_BY(mu_);
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

std::unique_ptr<UserStore> NewInMemoryUserStore() {
  return std::make_unique<InMemoryUserStore>();
}

}  // namespace profile
