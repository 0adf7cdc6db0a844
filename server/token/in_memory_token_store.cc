// The in-memory TokenStore.
//
// Layout, chosen for a small footprint at a million live tokens and for two
// cores serving two requests to share as few cache lines as possible:
//   - 64 shards keyed by a 64-bit hash of the *user id*. A shard holds,
//     under its one mutex, the tokens of its users (keyed by the first 16
//     bytes of the SHA-256 digest, 128 bits: collisions are out of reach)
//     and the index from a user's hash to that user's live token. Issue()
//     and a successful Take() each lock one shard once: the shard of the
//     user the request names;
//   - an entry is 32 bytes: the user id lives in one allocation of its own
//     (length and bytes; a std::string would be 32 bytes more, and still
//     allocate for ids over 15 bytes), the phones are integers. The entry
//     holds the user id itself, so a hash collision between two users can
//     never revoke or hand out the wrong token (it only leaves one extra
//     token to expire on its own);
//   - shards sit on cache lines of their own; the mutex, the credits (below)
//     and the token map's header share the first, which every Issue() and
//     Take() writes. The entry is built (and its user id allocated) before
//     the lock is taken.
//
// The miss path: a token that is not in the caller's shard is not the
// caller's, but Take() must still tell another user's live token
// (PERMISSION_DENIED, left in place) from no token (NOT_FOUND), so it looks
// in the other 63 shards, one lock at a time. That costs 63 lock round trips
// per miss, 1 to 2.5 us on one core (BM_TakeUnknown; a hit is about 0.1 us)
// and worse when two cores miss at once, where a token-sharded store needs
// one. Misses are rare (a replayed, expired or forged token) and UpdatePhone
// authenticates the caller before it gets here.
//
// The cap, `max_live_tokens`, without a global counter on the hot path: the
// budget `reserved_` counts the slots handed out to shards; a shard holds a
// few unused slots (credits), reserved in batches, spends one per token
// inserted and gets one back per token removed, so a steady stream of
// Issue() and Take() touches only its shard. A shard gives back credits
// above twice the batch, and takes at most 1/64 of what the budget has left.
// When a shard finds the budget empty it drops its lock, sweeps expired
// tokens (at most every 100 ms), reclaims the idle credits of every shard,
// one lock at a time, and retries once before refusing: Issue() is refused
// only when live tokens, plus credits other issuers reserved in that window
// and are about to spend, reach the cap. Below a cap of 4096 the batch is
// one slot, spent under the lock that reserved it, and a removed token's
// slot goes straight back: the cap is exact.
//
// Lock order: none. No code path holds two shard locks at once; `reserved_`
// and `last_full_sweep_ns_` are atomics, touched only when a shard runs out
// of credits or has too many.
#include <algorithm>
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
#include "server/common/crypto.h"
#include "server/common/periodic.h"
#include "server/token/token_store.h"

namespace profile {
namespace {

constexpr size_t kShards = 64;  // a power of two

using TokenKey = std::array<uint64_t, 2>;

TokenKey KeyOf(absl::string_view token_hash) {
  return DigestPrefix128(token_hash);
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

// The members an Issue() or Take() writes every time (the mutex, the
// credits, the size of `entries`) come first: one cache line.
struct alignas(64) Shard {
  // Mutable so that Size() can be const.
  mutable absl::Mutex mu;
  // Slots reserved from the store's budget and not held by a token.
  size_t credits ABSL_GUARDED_BY(mu) = 0;
  // The tokens of this shard's users.
  absl::flat_hash_map<TokenKey, TokenEntry> entries ABSL_GUARDED_BY(mu);
  // Hash of a user id -> that user's live token, in `entries`.
  absl::flat_hash_map<uint64_t, TokenKey> user_tokens ABSL_GUARDED_BY(mu);
};

class InMemoryTokenStore final : public TokenStore {
 public:
  bool MayBlock() const override { return false; }
  InMemoryTokenStore(std::shared_ptr<Clock> clock,
                     const InMemoryTokenStoreOptions& options)
      : clock_(std::move(clock)),
        max_live_tokens_(options.max_live_tokens),
        // A batch per shard is at most 1/64 of the cap over all shards,
        // and 64 slots (the RMW on `reserved_` is then amortized over 64
        // Issue() calls). Zero means one slot at a time.
        batch_(std::min<size_t>(max_live_tokens_ / (kShards * kShards), 64)),
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
    Shard& shard = ShardOf(user_hash);
    // Built, and its user id allocated, before the lock.
    TokenEntry entry{CompactUserId(grant.user_id),
                     PackPhone(grant.old_phone_e164),
                     PackPhone(grant.new_phone_e164),
                     absl::ToUnixNanos(expires_at)};
    for (int attempt = 0;; ++attempt) {
      TokenEntry revoked;  // freed after the lock is dropped
      {
        absl::MutexLock lock(&shard.mu);
        auto [index, new_user] = shard.user_tokens.try_emplace(user_hash);
        if (!new_user) {
          // Revoke the previous token first: its slot pays for the new
          // one, so a user at the limit can always replace their own token.
          auto it = shard.entries.find(index->second);
          if (it != shard.entries.end() &&
              it->second.user_id.view() == grant.user_id) {
            revoked = std::move(it->second);
            shard.entries.erase(it);
            ++shard.credits;
          }
        }
        if (shard.credits == 0) shard.credits = Reserve();
        if (shard.credits > 0) {
          if (!shard.entries.try_emplace(key, std::move(entry)).second) {
            // Two issued tokens with one 128-bit prefix: the CSPRNG is
            // broken. (Only caught within one shard: checking all 64 on
            // every Issue() would cost what the sharding by user saves.)
            if (new_user) shard.user_tokens.erase(index);
            return absl::InternalError("token hash collision");
          }
          --shard.credits;
          index->second = key;
          return absl::OkStatus();
        }
        if (new_user) shard.user_tokens.erase(index);
      }
      if (attempt == 1) return TooManyTokensError();
      // Full, perhaps of expired tokens the background sweep has not
      // reached yet, or of credits idle in other shards.
      SweepIfFull();
      ReclaimCredits();
    }
  }

  absl::StatusOr<TokenGrant> Take(absl::string_view token_hash,
                                  absl::string_view user_id) override {
    const uint64_t user_hash = absl::HashOf(user_id);
    Shard& shard = ShardOf(user_hash);
    const TokenKey key = KeyOf(token_hash);
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    TokenEntry entry;  // freed after the lock is dropped
    bool taken = false;
    {
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(key);
      if (it != shard.entries.end()) {
        // Expired beats "another user": an expired token reveals nothing.
        if (it->second.expires_at_ns <= now_ns) return TokenNotFoundError();
        if (it->second.user_id.view() != user_id) {
          return TokenOtherUserError();
        }
        entry = std::move(it->second);
        taken = true;
        shard.entries.erase(it);
        auto index = shard.user_tokens.find(user_hash);
        if (index != shard.user_tokens.end() && index->second == key) {
          shard.user_tokens.erase(index);
        }
        ++shard.credits;
        GiveBackExcessCredits(shard);
      }
    }
    if (!taken) {
      // Not in the caller's shard, so not the caller's token.
      return OtherUsersToken(key, shard, now_ns) ? TokenOtherUserError()
                                                 : TokenNotFoundError();
    }
    return TokenGrant{std::string(user_id), UnpackPhone(entry.old_phone),
                      UnpackPhone(entry.new_phone),
                      absl::FromUnixNanos(entry.expires_at_ns)};
  }

  absl::StatusOr<bool> HasLiveToken(absl::string_view user_id) override {
    const uint64_t user_hash = absl::HashOf(user_id);
    Shard& shard = ShardOf(user_hash);
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    absl::MutexLock lock(&shard.mu);
    auto index = shard.user_tokens.find(user_hash);
    if (index == shard.user_tokens.end()) return false;
    auto it = shard.entries.find(index->second);
    return it != shard.entries.end() && it->second.user_id.view() == user_id &&
           it->second.expires_at_ns > now_ns;
  }

  absl::Status RevokeUser(absl::string_view user_id) override {
    const uint64_t user_hash = absl::HashOf(user_id);
    Shard& shard = ShardOf(user_hash);
    TokenEntry revoked;  // freed after the lock is dropped
    absl::MutexLock lock(&shard.mu);
    auto index = shard.user_tokens.find(user_hash);
    if (index == shard.user_tokens.end()) return absl::OkStatus();
    auto it = shard.entries.find(index->second);
    if (it != shard.entries.end() && it->second.user_id.view() == user_id) {
      revoked = std::move(it->second);
      shard.entries.erase(it);
      shard.user_tokens.erase(index);
      ++shard.credits;
      GiveBackExcessCredits(shard);
    }
    return absl::OkStatus();
  }

  size_t SweepExpired() override {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    size_t swept = 0;
    std::vector<CompactUserId> expired;  // freed after the lock is dropped
    for (Shard& shard : shards_) {
      expired.clear();
      {
        absl::MutexLock lock(&shard.mu);
        for (auto it = shard.entries.begin(); it != shard.entries.end();) {
          if (it->second.expires_at_ns <= now_ns) {
            auto index =
                shard.user_tokens.find(absl::HashOf(it->second.user_id.view()));
            if (index != shard.user_tokens.end() && index->second == it->first) {
              shard.user_tokens.erase(index);
            }
            expired.push_back(std::move(it->second.user_id));
            shard.entries.erase(it++);
          } else {
            ++it;
          }
        }
        shard.credits += expired.size();
        GiveBackExcessCredits(shard);
      }
      swept += expired.size();
    }
    if (swept > 0 && on_expired_) on_expired_(swept);
    return swept;
  }

  size_t Size() const override {
    size_t size = 0;
    for (const Shard& shard : shards_) {
      absl::ReaderMutexLock lock(&shard.mu);
      size += shard.entries.size();
    }
    return size;
  }

 private:
  Shard& ShardOf(uint64_t user_hash) {
    return shards_[user_hash & (kShards - 1)];
  }

  // Returns whether a shard other than `own` holds a live token `key`.
  // Locks one shard at a time: the miss path (see the top of the file).
  bool OtherUsersToken(const TokenKey& key, const Shard& own, int64_t now_ns) {
    // Starting after `own`, so that concurrent misses of different users
    // do not walk the shards in lockstep.
    const size_t first = &own - shards_.data();
    for (size_t i = 1; i < kShards; ++i) {
      const Shard& shard = shards_[(first + i) & (kShards - 1)];
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(key);
      if (it != shard.entries.end()) return it->second.expires_at_ns > now_ns;
    }
    return false;
  }

  // Returns how many slots it reserved from the budget for a shard: a batch,
  // or less as the budget runs low (at most 1/64 of what is left, so that no
  // shard hoards the last slots), at least one; zero if the budget is spent.
  size_t Reserve() {
    size_t reserved = reserved_.load(std::memory_order_relaxed);
    for (;;) {
      if (reserved >= max_live_tokens_) return 0;
      const size_t room = max_live_tokens_ - reserved;
      const size_t want =
          std::max<size_t>(1, std::min(batch_, room / kShards));
      if (reserved_.compare_exchange_weak(reserved, reserved + want,
                                          std::memory_order_relaxed)) {
        return want;
      }
    }
  }

  // REQUIRES: shard.mu is held.
  void GiveBackExcessCredits(Shard& shard)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (shard.credits > 2 * batch_) {
      reserved_.fetch_sub(shard.credits - batch_, std::memory_order_relaxed);
      shard.credits = batch_;
    }
  }

  // Returns every shard's idle credits to the budget, one lock at a time.
  void ReclaimCredits() {
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      if (shard.credits > 0) {
        reserved_.fetch_sub(shard.credits, std::memory_order_relaxed);
        shard.credits = 0;
      }
    }
  }

  // Sweeps, at most every 100 ms, so that a flood at the cap cannot turn
  // every Issue() into a full scan.
  void SweepIfFull() {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    int64_t last = last_full_sweep_ns_.load(std::memory_order_relaxed);
    if (now_ns - last < 100'000'000 ||
        !last_full_sweep_ns_.compare_exchange_strong(last, now_ns)) {
      return;
    }
    SweepExpired();
  }

  const std::shared_ptr<Clock> clock_;
  const size_t max_live_tokens_;
  const size_t batch_;
  const std::function<void(size_t)> on_expired_;
  // Slots held by tokens or by shards' credits; at most max_live_tokens_.
  alignas(64) std::atomic<size_t> reserved_{0};
  std::atomic<int64_t> last_full_sweep_ns_{0};
  std::array<Shard, kShards> shards_;
  // Declared last: destroyed first, so the sweep never sees a dead store.
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

absl::Status TokenNotFoundError() {
  return ApiError(ApiCode::kTokenNotFound);
}

absl::Status TokenOtherUserError() {
  return ApiError(ApiCode::kTokenOtherUser);
}

absl::Status TooManyTokensError() {
  return ApiError(ApiCode::kTooManyTokens);
}

std::unique_ptr<TokenStore> NewInMemoryTokenStore(
    std::shared_ptr<Clock> clock, const InMemoryTokenStoreOptions& options) {
  return std::make_unique<InMemoryTokenStore>(std::move(clock), options);
}

}  // namespace profile
