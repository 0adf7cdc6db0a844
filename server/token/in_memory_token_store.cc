// The in-memory TokenStore.
//
// Layout, chosen for a small footprint at a million live tokens:
//   - tokens are sharded by their hash; a shard maps the first 16 bytes of
//     the SHA-256 digest (128 bits: collisions are out of reach) to a compact
//     entry with the phones packed into integers;
//   - an entry is 32 bytes: the user id lives in one allocation of its own
//     (length and bytes; a std::string would be 32 bytes more, and still
//     allocate for ids over 15 bytes), the phones are integers;
//   - shards sit on cache lines of their own, so that two cores locking two
//     shards do not contend;
//   - a second, user-sharded index maps a 64-bit hash of the user id to the
//     user's live token, so Issue() can revoke it. The entry holds the user
//     id itself, so a hash collision between two users can never revoke the
//     wrong token (it only leaves one extra token to expire on its own).
//
// Lock order: a user shard may be held while a token shard is taken, never
// the reverse.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"
#include "server/common/periodic.h"
#include "server/token/token_store.h"

namespace profile {
namespace {

constexpr size_t kShards = 64;  // a power of two

using TokenKey = std::array<uint64_t, 2>;

TokenKey KeyOf(absl::string_view token_hash) {
  // Callers pass a SHA-256 digest; anything shorter is a bug upstream, but
  // zero-padding keeps it memory-safe.
  char bytes[16] = {};
  std::memcpy(bytes, token_hash.data(), std::min<size_t>(16, token_hash.size()));
  TokenKey key;
  std::memcpy(key.data(), bytes, sizeof(bytes));
  return key;
}

// "+8613800138000" <-> 8613800138000; "" <-> 0. E.164 digits never start
// with 0 and number at most 15, so the packing is lossless.
uint64_t PackPhone(absl::string_view e164) {
  uint64_t value = 0;
  if (e164.size() < 2 || !absl::SimpleAtoi(e164.substr(1), &value)) return 0;
  return value;
}

std::string UnpackPhone(uint64_t value) {
  return value == 0 ? std::string() : absl::StrCat("+", value);
}

// A user id in 8 bytes.
class CompactUserId {
 public:
  CompactUserId() = default;
  explicit CompactUserId(absl::string_view id)
      : data_(new char[sizeof(uint32_t) + id.size()]) {
    const auto size = static_cast<uint32_t>(id.size());
    std::memcpy(data_.get(), &size, sizeof(size));
    std::memcpy(data_.get() + sizeof(size), id.data(), id.size());
  }

  absl::string_view view() const {
    if (data_ == nullptr) return {};
    uint32_t size;
    std::memcpy(&size, data_.get(), sizeof(size));
    return absl::string_view(data_.get() + sizeof(size), size);
  }

 private:
  std::unique_ptr<char[]> data_;
};

struct TokenEntry {
  CompactUserId user_id;
  uint64_t old_phone;
  uint64_t new_phone;
  int64_t expires_at_ns;  // unix nanoseconds
};

struct alignas(64) TokenShard {
  absl::Mutex mu;
  absl::flat_hash_map<TokenKey, TokenEntry> entries ABSL_GUARDED_BY(mu);
};

struct alignas(64) UserShard {
  absl::Mutex mu;
  // Hash of a user id -> that user's live token.
  absl::flat_hash_map<uint64_t, TokenKey> tokens ABSL_GUARDED_BY(mu);
};

class InMemoryTokenStore final : public TokenStore {
 public:
  InMemoryTokenStore(std::shared_ptr<Clock> clock,
                     const InMemoryTokenStoreOptions& options)
      : clock_(std::move(clock)),
        max_live_tokens_(options.max_live_tokens),
        on_expired_(options.on_expired) {
    if (options.sweep_interval > absl::ZeroDuration()) {
      sweeper_.emplace(options.sweep_interval, [this] { SweepExpired(); });
    }
  }

  ~InMemoryTokenStore() override { sweeper_.reset(); }

  absl::Status Issue(absl::string_view token_hash, const TokenGrant& grant,
                     absl::Time expires_at) override {
    const TokenKey key = KeyOf(token_hash);
    const uint64_t user_hash = absl::HashOf(grant.user_id);
    if (live_.load(std::memory_order_relaxed) >= max_live_tokens_) {
      // Full, perhaps of expired tokens the background sweep has not reached
      // yet: sweep now, at most every 100 ms so a flood cannot turn every
      // Issue() into a full scan.
      SweepIfFull();
    }
    UserShard& user_shard = user_shards_[user_hash & (kShards - 1)];
    absl::MutexLock user_lock(&user_shard.mu);

    // Revoke the previous token first, so a user at the limit can always
    // replace their own token.
    auto previous = user_shard.tokens.find(user_hash);
    if (previous != user_shard.tokens.end()) {
      Erase(previous->second, grant.user_id);
    }
    if (live_.fetch_add(1, std::memory_order_relaxed) >= max_live_tokens_) {
      live_.fetch_sub(1, std::memory_order_relaxed);
      return TooManyTokensError();
    }
    TokenShard& shard = ShardOf(key);
    {
      absl::MutexLock lock(&shard.mu);
      auto [it, inserted] = shard.entries.try_emplace(
          key, TokenEntry{CompactUserId(grant.user_id),
                          PackPhone(grant.old_phone_e164),
                          PackPhone(grant.new_phone_e164),
                          absl::ToUnixNanos(expires_at)});
      if (!inserted) {
        // Two issued tokens with one 128-bit prefix: the CSPRNG is broken.
        live_.fetch_sub(1, std::memory_order_relaxed);
        return absl::InternalError("token hash collision");
      }
    }
    user_shard.tokens[user_hash] = key;
    return absl::OkStatus();
  }

  absl::StatusOr<TokenGrant> Take(absl::string_view token_hash,
                                  absl::string_view user_id) override {
    const TokenKey key = KeyOf(token_hash);
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    TokenEntry entry;
    {
      TokenShard& shard = ShardOf(key);
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(key);
      if (it == shard.entries.end() || it->second.expires_at_ns <= now_ns) {
        return TokenNotFoundError();
      }
      if (it->second.user_id.view() != user_id) {
        return TokenOtherUserError();
      }
      entry = std::move(it->second);
      shard.entries.erase(it);
    }
    live_.fetch_sub(1, std::memory_order_relaxed);
    ForgetUserToken(user_id, key);
    return TokenGrant{std::string(user_id), UnpackPhone(entry.old_phone),
                      UnpackPhone(entry.new_phone)};
  }

  size_t SweepExpired() override {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    size_t swept = 0;
    std::vector<std::pair<CompactUserId, TokenKey>> expired;
    for (TokenShard& shard : token_shards_) {
      expired.clear();
      {
        absl::MutexLock lock(&shard.mu);
        for (auto it = shard.entries.begin(); it != shard.entries.end();) {
          if (it->second.expires_at_ns <= now_ns) {
            expired.emplace_back(std::move(it->second.user_id), it->first);
            shard.entries.erase(it++);
          } else {
            ++it;
          }
        }
      }
      live_.fetch_sub(expired.size(), std::memory_order_relaxed);
      for (const auto& [user_id, key] : expired) {
        ForgetUserToken(user_id.view(), key);
      }
      swept += expired.size();
    }
    if (swept > 0 && on_expired_) on_expired_(swept);
    return swept;
  }

  size_t Size() const override {
    return live_.load(std::memory_order_relaxed);
  }

 private:
  TokenShard& ShardOf(const TokenKey& key) {
    return token_shards_[key[0] & (kShards - 1)];
  }

  void SweepIfFull() {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    int64_t last = last_full_sweep_ns_.load(std::memory_order_relaxed);
    if (now_ns - last < 100'000'000 ||
        !last_full_sweep_ns_.compare_exchange_strong(last, now_ns)) {
      return;
    }
    SweepExpired();
  }

  // Erases the token `key` if it belongs to `user_id`.
  // REQUIRES: the user's shard is held.
  void Erase(const TokenKey& key, absl::string_view user_id) {
    TokenShard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(key);
    if (it != shard.entries.end() && it->second.user_id.view() == user_id) {
      shard.entries.erase(it);
      live_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Drops the user's index entry if it still points at `key`.
  void ForgetUserToken(absl::string_view user_id, const TokenKey& key) {
    const uint64_t user_hash = absl::HashOf(user_id);
    UserShard& user_shard = user_shards_[user_hash & (kShards - 1)];
    absl::MutexLock lock(&user_shard.mu);
    auto it = user_shard.tokens.find(user_hash);
    if (it != user_shard.tokens.end() && it->second == key) {
      user_shard.tokens.erase(it);
    }
  }

  const std::shared_ptr<Clock> clock_;
  const size_t max_live_tokens_;
  const std::function<void(size_t)> on_expired_;
  alignas(64) std::atomic<size_t> live_{0};
  std::atomic<int64_t> last_full_sweep_ns_{0};
  std::array<TokenShard, kShards> token_shards_;
  std::array<UserShard, kShards> user_shards_;
  // Declared last: destroyed first, so the sweep never sees a dead store.
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

absl::Status TokenNotFoundError() {
  return ApiError(ApiCode::kTokenNotFound,
                  "the update-phone token is unknown, expired or used");
}

absl::Status TokenOtherUserError() {
  return ApiError(ApiCode::kTokenOtherUser,
                  "the update-phone token was issued to another user");
}

absl::Status TooManyTokensError() {
  return ApiError(ApiCode::kTooManyTokens,
                  "too many phone changes are in progress; retry later");
}

std::unique_ptr<TokenStore> NewInMemoryTokenStore(
    std::shared_ptr<Clock> clock, const InMemoryTokenStoreOptions& options) {
  return std::make_unique<InMemoryTokenStore>(std::move(clock), options);
}

}  // namespace profile
