#include "server/codes/code_store.h"

#include <array>
#include <atomic>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/periodic.h"

namespace profile {
namespace {

constexpr size_t kShards = 16;  // a power of two

struct StoredCode {
  std::string digest;
  int64_t expires_at_ns;
  int attempts_left;
};

class InMemoryCodeStore final : public CodeStore {
 public:
  bool MayBlock() const override { return false; }
  InMemoryCodeStore(std::shared_ptr<Clock> clock,
                    const InMemoryCodeStoreOptions& options)
      : clock_(std::move(clock)), max_codes_(options.max_codes) {
    if (options.sweep_interval > absl::ZeroDuration()) {
      sweeper_.emplace(options.sweep_interval, [this] { SweepExpired(); });
    }
  }

  ~InMemoryCodeStore() override { sweeper_.reset(); }

  absl::Status Put(const CodeKey& key, absl::string_view digest,
                   absl::Time expires_at, int max_attempts) override {
    std::string map_key = MapKey(key);
    Shard& shard = ShardOf(map_key);
    absl::MutexLock lock(&shard.mu);
    StoredCode code{std::string(digest), absl::ToUnixNanos(expires_at),
                    max_attempts};
    auto it = shard.codes.find(map_key);
    if (it != shard.codes.end()) {
      it->second = std::move(code);
      return absl::OkStatus();
    }
    if (size_.fetch_add(1, std::memory_order_relaxed) >= max_codes_) {
      size_.fetch_sub(1, std::memory_order_relaxed);
      return ApiError(ApiCode::kTooFrequent,
                      "too many verification codes are outstanding; retry "
                      "later");
    }
    shard.codes.emplace(std::move(map_key), std::move(code));
    return absl::OkStatus();
  }

  absl::Status Check(const CodeKey& key, absl::string_view digest) override {
    const std::string map_key = MapKey(key);
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    Shard& shard = ShardOf(map_key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.codes.find(map_key);
    if (it == shard.codes.end() || it->second.expires_at_ns <= now_ns) {
      return NoLiveCodeError();
    }
    if (ConstantTimeEquals(it->second.digest, digest)) return absl::OkStatus();
    if (--it->second.attempts_left <= 0) Erase(shard, it);
    return ApiError(ApiCode::kWrongCode);
  }

  absl::Status Consume(const CodeKey& key, absl::string_view digest) override {
    const std::string map_key = MapKey(key);
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    Shard& shard = ShardOf(map_key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.codes.find(map_key);
    if (it == shard.codes.end() || it->second.expires_at_ns <= now_ns ||
        !ConstantTimeEquals(it->second.digest, digest)) {
      return NoLiveCodeError();
    }
    Erase(shard, it);
    return absl::OkStatus();
  }

  size_t SweepExpired() override {
    const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
    size_t swept = 0;
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      const size_t erased =
          absl::erase_if(shard.codes, [now_ns](const auto& entry) {
            return entry.second.expires_at_ns <= now_ns;
          });
      size_.fetch_sub(erased, std::memory_order_relaxed);
      swept += erased;
    }
    return swept;
  }

 private:
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, StoredCode> codes ABSL_GUARDED_BY(mu);
  };
  using Iterator = absl::flat_hash_map<std::string, StoredCode>::iterator;

  // REQUIRES: shard.mu is held.
  void Erase(Shard& shard, Iterator it) {
    shard.codes.erase(it);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }

  static std::string MapKey(const CodeKey& key) {
    // Phones hold no newline; the user id goes last, so it may hold any.
    return absl::StrCat(static_cast<int>(key.purpose), key.phone_e164, "\n",
                        key.user_id);
  }

  Shard& ShardOf(absl::string_view map_key) {
    return shards_[absl::HashOf(map_key) & (kShards - 1)];
  }

  const std::shared_ptr<Clock> clock_;
  const size_t max_codes_;
  std::atomic<size_t> size_{0};
  std::array<Shard, kShards> shards_;
  std::optional<PeriodicTask> sweeper_;
};

}  // namespace

absl::Status NoLiveCodeError() {
  return ApiError(ApiCode::kCodeExpired);
}

absl::string_view CodePurposeName(CodePurpose purpose) {
  switch (purpose) {
    case CodePurpose::kNewPhone:
      return "new_phone";
    case CodePurpose::kOldPhone:
      return "old_phone";
    case CodePurpose::kUnspecified:
      break;
  }
  return "unspecified";
}

std::string CodeDigest(absl::string_view secret, const CodeKey& key,
                       absl::string_view code) {
  // The user id is length-prefixed: it may hold any character.
  return HmacSha256(secret, absl::StrCat(CodePurposeName(key.purpose), "|",
                                         key.phone_e164, "|",
                                         key.user_id.size(), ":", key.user_id,
                                         "|", code));
}

absl::Status CodeStore::CheckAll(absl::Span<const KeyedDigest> digests,
                                 size_t* failed) {
  for (size_t i = 0; i < digests.size(); ++i) {
    absl::Status checked = Check(digests[i].key, digests[i].digest);
    if (!checked.ok()) {
      *failed = i;
      return checked;
    }
  }
  return absl::OkStatus();
}

absl::Status CodeStore::ConsumeAll(absl::Span<const KeyedDigest> digests) {
  for (const KeyedDigest& digest : digests) {
    absl::Status consumed = Consume(digest.key, digest.digest);
    if (!consumed.ok()) return consumed;
  }
  return absl::OkStatus();
}

std::unique_ptr<CodeStore> NewInMemoryCodeStore(
    std::shared_ptr<Clock> clock, const InMemoryCodeStoreOptions& options) {
  return std::make_unique<InMemoryCodeStore>(std::move(clock), options);
}

}  // namespace profile
