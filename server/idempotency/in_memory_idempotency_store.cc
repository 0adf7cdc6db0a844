// The in-memory IdempotencyStore: 16 shards by key, each a mutex (its
// duplicates wait on it for their key to settle) and a map from the first
// 128 bits of a key digest to its record (collisions are out of reach).
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/periodic.h"
#include "server/idempotency/idempotency_store.h"

namespace profile {
namespace {

constexpr size_t kShards = 16;  // a power of two

using Key128 = std::array<uint64_t, 2>;

Key128 Key128Of(absl::string_view digest) { return DigestPrefix128(digest); }

struct Record {
  Key128 request;
  // The claim in flight; 0 once completed.
  uint64_t claim;
  int64_t expires_at_ns;  // unix nanoseconds
  std::string answer;
};

struct alignas(64) Shard {
  absl::Mutex mu;
  absl::flat_hash_map<Key128, Record> records ABSL_GUARDED_BY(mu);
};

class InMemoryIdempotencyStore final : public IdempotencyStore {
 public:
  InMemoryIdempotencyStore(std::shared_ptr<Clock> clock,
                           const InMemoryIdempotencyStoreOptions& options)
      : clock_(std::move(clock)), max_entries_(options.max_entries) {
    if (options.sweep_interval > absl::ZeroDuration()) {
      sweeper_.emplace(options.sweep_interval, [this] { SweepExpired(); });
    }
  }

  ~InMemoryIdempotencyStore() override { sweeper_.reset(); }

  bool MayBlock() const override { return false; }

  absl::StatusOr<IdempotencyClaim> Begin(absl::string_view key,
                                         absl::string_view request,
                                         absl::Time lease_until,
                                         absl::Duration wait) override {
    const Key128 k = Key128Of(key);
    const Key128 r = Key128Of(request);
    Shard& shard = ShardOf(k);
    // Waiting is real time, not the injected clock: it bounds how long this
    // thread is held, while expiry follows the clock.
    const absl::Time wait_until = absl::Now() + wait;
    absl::MutexLock lock(&shard.mu);
    for (;;) {
      auto it = shard.records.find(k);
      if (it != shard.records.end() &&
          it->second.expires_at_ns <= absl::ToUnixNanos(clock_->Now())) {
        shard.records.erase(it);
        size_.fetch_sub(1, std::memory_order_relaxed);
        it = shard.records.end();
      }
      IdempotencyClaim claim;
      if (it == shard.records.end()) {
        if (size_.fetch_add(1, std::memory_order_relaxed) >= max_entries_) {
          size_.fetch_sub(1, std::memory_order_relaxed);
          claim.outcome = IdempotencyClaim::kNotKept;
          return claim;
        }
        const uint64_t id = next_claim_.fetch_add(1, std::memory_order_relaxed);
        shard.records.emplace(
            k, Record{r, id, absl::ToUnixNanos(lease_until), std::string()});
        claim.outcome = IdempotencyClaim::kClaimed;
        claim.claim_id = absl::StrCat(id);
        return claim;
      }
      const Record& record = it->second;
      if (record.request != r) {
        claim.outcome = IdempotencyClaim::kOtherRequest;
        return claim;
      }
      if (record.claim == 0) {
        claim.outcome = IdempotencyClaim::kReplay;
        claim.answer = record.answer;
        return claim;
      }
      // A duplicate in flight: wait for it to complete, give up or run out
      // of its lease, then look again.
      const uint64_t holder = record.claim;
      const auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
        auto now = shard.records.find(k);
        return now == shard.records.end() || now->second.claim != holder ||
               now->second.expires_at_ns <= absl::ToUnixNanos(clock_->Now());
      };
      if (!shard.mu.AwaitWithTimeout(absl::Condition(&settled),
                                     wait_until - absl::Now())) {
        return IdempotencyInFlightError();
      }
    }
  }

  absl::Status Complete(absl::string_view key, absl::string_view claim_id,
                        absl::string_view answer,
                        absl::Time expires_at) override {
    const Key128 k = Key128Of(key);
    Shard& shard = ShardOf(k);
    uint64_t id = 0;
    if (!absl::SimpleAtoi(claim_id, &id) || id == 0) return absl::OkStatus();
    absl::MutexLock lock(&shard.mu);
    auto it = shard.records.find(k);
    if (it == shard.records.end() || it->second.claim != id) {
      return absl::OkStatus();
    }
    it->second.claim = 0;
    it->second.expires_at_ns = absl::ToUnixNanos(expires_at);
    it->second.answer = std::string(answer);
    return absl::OkStatus();
  }

  void Abandon(absl::string_view key, absl::string_view claim_id) override {
    const Key128 k = Key128Of(key);
    Shard& shard = ShardOf(k);
    uint64_t id = 0;
    if (!absl::SimpleAtoi(claim_id, &id) || id == 0) return;
    absl::MutexLock lock(&shard.mu);
    auto it = shard.records.find(k);
    if (it == shard.records.end() || it->second.claim != id) return;
    shard.records.erase(it);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }

  size_t SweepExpired() override {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    size_t swept = 0;
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      size_t before = shard.records.size();
      absl::erase_if(shard.records, [now_ns](const auto& entry) {
        return entry.second.expires_at_ns <= now_ns;
      });
      const size_t removed = before - shard.records.size();
      if (removed > 0) size_.fetch_sub(removed, std::memory_order_relaxed);
      swept += removed;
    }
    return swept;
  }

 private:
  Shard& ShardOf(const Key128& key) { return shards_[key[0] & (kShards - 1)]; }

  const std::shared_ptr<Clock> clock_;
  const size_t max_entries_;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> next_claim_{1};
  std::array<Shard, kShards> shards_;
  // Declared last: destroyed first, so the sweep never sees a dead store.
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

absl::Status IdempotencyInFlightError() {
  return ApiError(ApiCode::kUnavailable,
                  "a call with the same x-idempotency-key is still in "
                  "progress; retry later");
}

std::unique_ptr<IdempotencyStore> NewInMemoryIdempotencyStore(
    std::shared_ptr<Clock> clock,
    const InMemoryIdempotencyStoreOptions& options) {
  return std::make_unique<InMemoryIdempotencyStore>(std::move(clock), options);
}

}  // namespace profile
