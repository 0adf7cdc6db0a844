#include "server/backends/redis_stores.h"

#include <algorithm>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"

namespace profile {
namespace {

// Milliseconds until `until`, rounded up.
int64_t MillisUntil(absl::Time now, absl::Time until) {
  return absl::ToInt64Milliseconds(absl::Ceil(until - now,
                                              absl::Milliseconds(1)));
}

int SecondsFromMillis(long long millis) {
  return static_cast<int>(std::max<long long>(1, (millis + 999) / 1000));
}

absl::Status Unexpected(absl::string_view what, const RedisReply& reply) {
  return absl::InternalError(
      absl::StrCat("redis: unexpected reply to ", what, ": ", reply.str));
}

// ---- Tokens ----

// KEYS: token key, user key, live set. ARGV: value, ttl ms, max live,
// token key prefix, token id.
ABSL_CONST_INIT const RedisScript kIssueToken(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prev = redis.call('GET', KEYS[2])
if prev then
  redis.call('DEL', ARGV[4] .. prev)
  redis.call('ZREM', KEYS[3], prev)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then
  return 0
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  return -1
end
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[5])
return 1
)lua");

// KEYS: token key, caller's user key, live set. ARGV: caller, token id.
// The value is "old\nnew\nuser" (phones hold no newline; the user id goes
// last so that it may hold anything).
ABSL_CONST_INIT const RedisScript kTakeToken(R"lua(
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local first = string.find(v, '\n', 1, true)
local second = string.find(v, '\n', first + 1, true)
if string.sub(v, second + 1) ~= ARGV[1] then return {2} end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
redis.call('ZREM', KEYS[3], ARGV[2])
return {1, v, ttl}
)lua");

// KEYS: user key, live set. ARGV: token key prefix.
ABSL_CONST_INIT const RedisScript kRevokeUserToken(R"lua(
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
redis.call('DEL', ARGV[1] .. id)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
return 1
)lua");

// KEYS: user key. ARGV: token key prefix. 1 if the user's token lives.
ABSL_CONST_INIT const RedisScript kHasLiveToken(R"lua(
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
return redis.call('EXISTS', ARGV[1] .. id)
)lua");

class RedisTokenStore final : public TokenStore {
 public:
  RedisTokenStore(RedisClient* redis, std::string prefix,
                  std::shared_ptr<Clock> clock, size_t max_live_tokens)
      : redis_(redis),
        token_prefix_(absl::StrCat(prefix, "token:")),
        user_prefix_(absl::StrCat(prefix, "token-of:")),
        live_key_(absl::StrCat(prefix, "tokens-live")),
        clock_(std::move(clock)),
        max_live_tokens_(max_live_tokens) {}

  absl::Status Issue(absl::string_view token_hash, const TokenGrant& grant,
                     absl::Time expires_at) override {
    const std::string id = absl::BytesToHexString(token_hash);
    const int64_t ttl_ms = MillisUntil(clock_->Now(), expires_at);
    if (ttl_ms <= 0) return absl::OkStatus();  // born expired: nothing to keep
    absl::StatusOr<RedisReply> reply = redis_->Eval(
        kIssueToken,
        {token_prefix_ + id, user_prefix_ + grant.user_id, live_key_},
        {absl::StrCat(grant.old_phone_e164, "\n", grant.new_phone_e164, "\n",
                      grant.user_id),
         absl::StrCat(ttl_ms), absl::StrCat(max_live_tokens_), token_prefix_,
         id});
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kInteger) {
      return Unexpected("token issue", *reply);
    }
    if (reply->integer == 0) return TooManyTokensError();
    if (reply->integer < 0) return absl::InternalError("token hash collision");
    return absl::OkStatus();
  }

  absl::StatusOr<TokenGrant> Take(absl::string_view token_hash,
                                  absl::string_view user_id) override {
    const std::string id = absl::BytesToHexString(token_hash);
    absl::StatusOr<RedisReply> reply = redis_->Eval(
        kTakeToken,
        {token_prefix_ + id, absl::StrCat(user_prefix_, user_id), live_key_},
        {std::string(user_id), id});
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kArray || reply->elements.empty()) {
      return Unexpected("token take", *reply);
    }
    switch (reply->elements[0].integer) {
      case 0:
        return TokenNotFoundError();
      case 2:
        return TokenOtherUserError();
      case 1:
        break;
      default:
        return Unexpected("token take", *reply);
    }
    if (reply->elements.size() < 2) return Unexpected("token take", *reply);
    std::vector<std::string> parts =
        absl::StrSplit(reply->elements[1].str, absl::MaxSplits('\n', 2));
    if (parts.size() != 3) return Unexpected("token take", *reply);
    absl::Time expires_at = absl::InfiniteFuture();
    if (reply->elements.size() >= 3 && reply->elements[2].integer > 0) {
      expires_at =
          clock_->Now() + absl::Milliseconds(reply->elements[2].integer);
    }
    return TokenGrant{std::move(parts[2]), std::move(parts[0]),
                      std::move(parts[1]), expires_at};
  }

  absl::StatusOr<bool> HasLiveToken(absl::string_view user_id) override {
    absl::StatusOr<RedisReply> reply =
        redis_->Eval(kHasLiveToken, {absl::StrCat(user_prefix_, user_id)},
                     {token_prefix_});
    if (!reply.ok()) return reply.status();
    return reply->type == RedisReply::Type::kInteger && reply->integer == 1;
  }

  absl::Status RevokeUser(absl::string_view user_id) override {
    return redis_
        ->Eval(kRevokeUserToken,
               {absl::StrCat(user_prefix_, user_id), live_key_},
               {token_prefix_})
        .status();
  }

  size_t SweepExpired() override {
    // Redis expires the tokens; only the live set needs trimming.
    absl::StatusOr<RedisReply> reply = redis_->Command(
        {"ZREMRANGEBYSCORE", live_key_, "-inf",
         absl::StrCat(absl::ToUnixMillis(clock_->Now()))});
    return reply.ok() && reply->type == RedisReply::Type::kInteger
               ? static_cast<size_t>(reply->integer)
               : 0;
  }

  size_t Size() const override {
    absl::StatusOr<RedisReply> reply = redis_->Command({"ZCARD", live_key_});
    return reply.ok() && reply->type == RedisReply::Type::kInteger
               ? static_cast<size_t>(reply->integer)
               : 0;
  }

 private:
  RedisClient* const redis_;
  const std::string token_prefix_;
  const std::string user_prefix_;
  const std::string live_key_;
  const std::shared_ptr<Clock> clock_;
  const size_t max_live_tokens_;
};

// ---- Codes ----

// KEYS: code key. ARGV: digest, attempts, ttl ms.
ABSL_CONST_INIT const RedisScript kPutCode(R"lua(
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'a', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
)lua");

// KEYS: code keys. ARGV: their digests. Checks them in turn, stopping at
// the first that fails: {0, 1} all match, else {its index from 1, 0 no
// code or 2 wrong (counted)}.
ABSL_CONST_INIT const RedisScript kCheckCodes(R"lua(
for i = 1, #KEYS do
  local d = redis.call('HGET', KEYS[i], 'd')
  if not d then return {i, 0} end
  if d ~= ARGV[i] then
    if redis.call('HINCRBY', KEYS[i], 'a', -1) <= 0 then
      redis.call('DEL', KEYS[i])
    end
    return {i, 2}
  end
end
return {0, 1}
)lua");

// KEYS: code keys. ARGV: their digests. Uses them up in turn, stopping at
// the first that is gone: 0 all used up, else its index from 1.
ABSL_CONST_INIT const RedisScript kConsumeCodes(R"lua(
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'd') ~= ARGV[i] then return i end
  redis.call('DEL', KEYS[i])
end
return 0
)lua");

class RedisCodeStore final : public CodeStore {
 public:
  RedisCodeStore(RedisClient* redis, std::string prefix,
                 std::shared_ptr<Clock> clock)
      : redis_(redis),
        prefix_(absl::StrCat(prefix, "code:")),
        clock_(std::move(clock)) {}

  absl::Status Put(const CodeKey& key, absl::string_view digest,
                   absl::Time expires_at, int max_attempts) override {
    const int64_t ttl_ms = MillisUntil(clock_->Now(), expires_at);
    if (ttl_ms <= 0) return absl::OkStatus();
    absl::StatusOr<RedisReply> reply =
        redis_->Eval(kPutCode, {Key(key)},
                     {std::string(digest), absl::StrCat(max_attempts),
                      absl::StrCat(ttl_ms)});
    return reply.ok() ? absl::OkStatus() : reply.status();
  }

  absl::Status Check(const CodeKey& key, absl::string_view digest) override {
    size_t failed = 0;
    return CheckAll({{key, std::string(digest)}}, &failed);
  }

  absl::Status Consume(const CodeKey& key, absl::string_view digest) override {
    return ConsumeAll({{key, std::string(digest)}});
  }

  absl::Status CheckAll(absl::Span<const KeyedDigest> digests,
                        size_t* failed) override {
    if (digests.empty()) return absl::OkStatus();
    absl::StatusOr<RedisReply> reply = EvalDigests(kCheckCodes, digests);
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kArray ||
        reply->elements.size() != 2 || reply->elements[0].integer < 0 ||
        reply->elements[0].integer > static_cast<long long>(digests.size())) {
      return Unexpected("code check", *reply);
    }
    if (reply->elements[0].integer == 0) return absl::OkStatus();
    *failed = static_cast<size_t>(reply->elements[0].integer - 1);
    return reply->elements[1].integer == 2 ? ApiError(ApiCode::kWrongCode)
                                           : NoLiveCodeError();
  }

  absl::Status ConsumeAll(absl::Span<const KeyedDigest> digests) override {
    if (digests.empty()) return absl::OkStatus();
    absl::StatusOr<RedisReply> reply = EvalDigests(kConsumeCodes, digests);
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kInteger) {
      return Unexpected("code consume", *reply);
    }
    return reply->integer == 0 ? absl::OkStatus() : NoLiveCodeError();
  }

  size_t SweepExpired() override { return 0; }  // Redis expires codes

 private:
  std::string Key(const CodeKey& key) const {
    // Phones hold no colon; the user id goes last, so it may hold any.
    return absl::StrCat(prefix_, CodePurposeName(key.purpose), ":",
                        key.phone_e164, ":", key.user_id);
  }

  // Runs `script` with the codes' keys as KEYS and their digests as ARGV.
  absl::StatusOr<RedisReply> EvalDigests(
      const RedisScript& script, absl::Span<const KeyedDigest> digests) {
    std::vector<std::string> keys;
    std::vector<std::string> args;
    keys.reserve(digests.size());
    args.reserve(digests.size());
    for (const KeyedDigest& digest : digests) {
      keys.push_back(Key(digest.key));
      args.push_back(digest.digest);
    }
    return redis_->Eval(script, keys, args);
  }

  RedisClient* const redis_;
  const std::string prefix_;
  const std::shared_ptr<Clock> clock_;
};

// ---- Send limits ----

// KEYS: cooldown, phone window, user window, client window, region window
// (a hash: 's' codes sent, 'v' verified), region suspension, service
// window, suspended-regions set. ARGV: resend ms, max per phone, per user,
// per client (0: unknown client), per region (0: no cap), per hour (0: no
// cap), breaker's min codes (0: off), breaker's min conversion, region ("":
// none). Returns {0, 0}, {which limit, ms until it lifts}, or {6, ms,
// sent, verified} when this call tripped the region breaker.
ABSL_CONST_INIT const RedisScript kAcquireSend(R"lua(
local t = redis.call('PTTL', KEYS[1])
if t > 0 then return {1, t} end
local function full(key, max)
  max = tonumber(max)
  return max > 0 and tonumber(redis.call('GET', key) or '0') >= max
end
local function count(key)
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, 3600000) end
end
if full(KEYS[2], ARGV[2]) then return {2, redis.call('PTTL', KEYS[2])} end
if full(KEYS[3], ARGV[3]) then return {3, redis.call('PTTL', KEYS[3])} end
if full(KEYS[4], ARGV[4]) then return {4, redis.call('PTTL', KEYS[4])} end
local region = ARGV[9] ~= ''
if region then
  local s = redis.call('PTTL', KEYS[6])
  if s > 0 then return {5, s} end
  local w = redis.call('HMGET', KEYS[5], 's', 'v')
  local sent = tonumber(w[1] or '0')
  local verified = tonumber(w[2] or '0')
  local min = tonumber(ARGV[7])
  if min > 0 and sent >= min and verified < tonumber(ARGV[8]) * sent then
    local now = redis.call('TIME')
    local until_ms = tonumber(now[1]) * 1000 + 3600000
    redis.call('SET', KEYS[6], '1', 'PX', 3600000)
    redis.call('DEL', KEYS[5])
    redis.call('ZADD', KEYS[8], until_ms, ARGV[9])
    return {6, 3600000, sent, verified}
  end
  local cap = tonumber(ARGV[5])
  if cap > 0 and sent >= cap then return {7, redis.call('PTTL', KEYS[5])} end
end
if full(KEYS[7], ARGV[6]) then return {8, redis.call('PTTL', KEYS[7])} end
if tonumber(ARGV[1]) > 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
count(KEYS[2])
count(KEYS[3])
if tonumber(ARGV[4]) > 0 then count(KEYS[4]) end
if region and redis.call('HINCRBY', KEYS[5], 's', 1) == 1 then
  redis.call('PEXPIRE', KEYS[5], 3600000)
end
if tonumber(ARGV[6]) > 0 then count(KEYS[7]) end
return {0, 0}
)lua");

// KEYS: window. ARGV: max, window ms. Counts one event unless the window
// holds `max`: {0, 0}, else {1, ms until it ends}.
ABSL_CONST_INIT const RedisScript kTakeFromWindow(R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {1, redis.call('PTTL', KEYS[1])} end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {0, 0}
)lua");

// KEYS: verification window, then the failure windows to read. ARGV:
// max verifications, window ms, max failures. {1, ms until it ends} if the
// verification window holds its max; else counts one and returns {0, 0}
// followed by {capped, ms} for each failure window, capped 1 if it holds
// its max.
ABSL_CONST_INIT const RedisScript kAcquireVerification(R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {1, redis.call('PTTL', KEYS[1])} end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local out = {0, 0}
for i = 2, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[3]) then
    table.insert(out, 1)
    table.insert(out, redis.call('PTTL', KEYS[i]))
  else
    table.insert(out, 0)
    table.insert(out, 0)
  end
end
return out
)lua");

// KEYS: window. ARGV: max. {0, 0} while under `max`, else {1, ms}.
ABSL_CONST_INIT const RedisScript kCheckWindow(R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {1, redis.call('PTTL', KEYS[1])} end
return {0, 0}
)lua");

// KEYS: window. ARGV: window ms.
ABSL_CONST_INIT const RedisScript kCountInWindow(R"lua(
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 0
)lua");

// KEYS: region windows, one per verified code.
ABSL_CONST_INIT const RedisScript kRegionVerified(R"lua(
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
  end
end
return 0
)lua");

// KEYS: suspended-regions set. Returns {region, until ms, ...} of the
// suspensions that last.
ABSL_CONST_INIT const RedisScript kSuspendedRegions(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
)lua");

constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

class RedisSendLimiter final : public SendLimiter {
 public:
  RedisSendLimiter(RedisClient* redis, std::string prefix,
                   const SendLimits& limits)
      : redis_(redis), prefix_(std::move(prefix)), limits_(limits) {}

  absl::Status Acquire(const SendRequest& request) override {
    const CodeKey& key = request.key;
    absl::StatusOr<RedisReply> reply = redis_->Eval(
        kAcquireSend,
        {absl::StrCat(prefix_, "cooldown:", CodePurposeName(key.purpose), ":",
                      key.phone_e164),
         absl::StrCat(prefix_, "sent-to:", key.phone_e164),
         absl::StrCat(prefix_, "sent-by:", key.user_id),
         absl::StrCat(prefix_, "sent-from:", request.client),
         absl::StrCat(prefix_, "region:", request.region),
         absl::StrCat(prefix_, "region-suspended:", request.region),
         absl::StrCat(prefix_, "sent-all"),
         absl::StrCat(prefix_, "suspended-regions")},
        {absl::StrCat(absl::ToInt64Milliseconds(limits_.resend_interval)),
         absl::StrCat(limits_.max_per_phone_per_hour),
         absl::StrCat(limits_.max_per_user_per_hour),
         absl::StrCat(request.client.empty() ? 0 : limits_.max_per_ip_per_hour),
         absl::StrCat(limits_.max_per_region_per_hour),
         absl::StrCat(limits_.max_per_hour),
         absl::StrCat(limits_.region_breaker_min_codes),
         absl::StrCat(limits_.region_breaker_min_conversion),
         request.region});
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kArray ||
        reply->elements.size() < 2) {
      return Unexpected("send limit", *reply);
    }
    const int seconds = SecondsFromMillis(reply->elements[1].integer);
    switch (reply->elements[0].integer) {
      case 0:
        return absl::OkStatus();
      case 1:
        return CooldownError(seconds);
      case 2:
        return PhoneHourlyCapError(seconds);
      case 3:
        return UserHourlyCapError(seconds);
      case 4:
        return IpHourlyCapError(seconds);
      case 5:
        return RegionSuspendedError(seconds);
      case 6:
        if (reply->elements.size() == 4) {
          LogRegionSuspended(request.region,
                             static_cast<int>(reply->elements[2].integer),
                             static_cast<int>(reply->elements[3].integer));
        }
        return RegionSuspendedError(seconds);
      case 7:
        return RegionHourlyCapError(seconds);
      default:
        return ServiceHourlyCapError(seconds);
    }
  }

  absl::StatusOr<FailureCaps> AcquireVerification(
      absl::string_view user_id,
      absl::Span<const std::string> phones) override {
    std::vector<std::string> keys = {
        absl::StrCat(prefix_, "verifications:", user_id)};
    for (const std::string& phone : phones) {
      keys.push_back(FailuresKey(user_id, phone));
    }
    absl::StatusOr<RedisReply> reply =
        redis_->Eval(kAcquireVerification, keys,
                     {absl::StrCat(limits_.max_verifications_per_user_per_hour),
                      absl::StrCat(kHourMs),
                      absl::StrCat(limits_.max_code_failures_per_day)});
    if (!reply.ok()) return reply.status();
    const std::vector<RedisReply>& out = reply->elements;
    if (reply->type != RedisReply::Type::kArray || out.size() < 2) {
      return Unexpected("verification limit", *reply);
    }
    if (out[0].integer != 0) {
      return VerificationCapError(SecondsFromMillis(out[1].integer));
    }
    if (out.size() != 2 + 2 * phones.size()) {
      return Unexpected("verification limit", *reply);
    }
    FailureCaps failures;
    for (size_t i = 2; i < out.size(); i += 2) {
      failures.push_back(
          out[i].integer == 0
              ? absl::OkStatus()
              : CodeFailureCapError(SecondsFromMillis(out[i + 1].integer)));
    }
    return failures;
  }

  absl::Status AcquireRevert(absl::string_view client) override {
    absl::StatusOr<int> ms = Window(
        kTakeFromWindow, absl::StrCat(prefix_, "reverts-from:", client),
        {absl::StrCat(limits_.max_reverts_per_ip_per_hour),
         absl::StrCat(kHourMs)});
    if (!ms.ok()) return ms.status();
    return *ms == 0 ? absl::OkStatus() : RevertCapError(SecondsFromMillis(*ms));
  }

  absl::Status CheckCodeFailures(absl::string_view user_id,
                                 absl::string_view phone_e164) override {
    absl::StatusOr<int> ms =
        Window(kCheckWindow, FailuresKey(user_id, phone_e164),
               {absl::StrCat(limits_.max_code_failures_per_day)});
    if (!ms.ok()) return ms.status();
    return *ms == 0 ? absl::OkStatus()
                    : CodeFailureCapError(SecondsFromMillis(*ms));
  }

  absl::Status RecordCodeFailure(absl::string_view user_id,
                                 absl::string_view phone_e164) override {
    return redis_
        ->Eval(kCountInWindow, {FailuresKey(user_id, phone_e164)},
               {absl::StrCat(kDayMs)})
        .status();
  }

  absl::Status RecordVerified(
      absl::Span<const std::string> regions) override {
    std::vector<std::string> keys;
    for (const std::string& region : regions) {
      if (!region.empty()) {
        keys.push_back(absl::StrCat(prefix_, "region:", region));
      }
    }
    if (keys.empty()) return absl::OkStatus();
    return redis_->Eval(kRegionVerified, keys, {}).status();
  }

  absl::StatusOr<std::vector<RegionSuspension>> SuspendedRegions() override {
    absl::StatusOr<RedisReply> reply = redis_->Eval(
        kSuspendedRegions, {absl::StrCat(prefix_, "suspended-regions")}, {});
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kArray ||
        reply->elements.size() % 2 != 0) {
      return Unexpected("suspended regions", *reply);
    }
    std::vector<RegionSuspension> regions;
    for (size_t i = 0; i < reply->elements.size(); i += 2) {
      int64_t until_ms = 0;
      if (!absl::SimpleAtoi(reply->elements[i + 1].str, &until_ms)) {
        return Unexpected("suspended regions", *reply);
      }
      regions.push_back({reply->elements[i].str,
                         absl::FromUnixMillis(until_ms)});
    }
    return regions;
  }

  size_t SweepExpired() override { return 0; }  // Redis expires windows

 private:
  // The phone goes first: it holds no colon, the user id may.
  std::string FailuresKey(absl::string_view user_id,
                          absl::string_view phone_e164) const {
    return absl::StrCat(prefix_, "code-failures:", phone_e164, ":", user_id);
  }

  // Runs a window script; returns 0 if allowed, else the ms until the
  // window ends.
  absl::StatusOr<int> Window(const RedisScript& script, std::string key,
                             std::vector<std::string> args) {
    absl::StatusOr<RedisReply> reply =
        redis_->Eval(script, {std::move(key)}, std::move(args));
    if (!reply.ok()) return reply.status();
    if (reply->type != RedisReply::Type::kArray ||
        reply->elements.size() != 2) {
      return Unexpected("window", *reply);
    }
    if (reply->elements[0].integer == 0) return 0;
    return static_cast<int>(std::max<long long>(1, reply->elements[1].integer));
  }

  RedisClient* const redis_;
  const std::string prefix_;
  const SendLimits limits_;
};

// ---- Idempotency records ----

// A record is a hash: 'r' the request digest (hex), 'c' the claim in flight,
// 'a' the answer once completed.

// KEYS: record. ARGV: request, claim id, lease ms.
// {1} claimed, {2, answer} replay, {3} other request, {0} in flight.
ABSL_CONST_INIT const RedisScript kBeginIdempotent(R"lua(
local r = redis.call('HMGET', KEYS[1], 'r', 'c', 'a')
if not r[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'c', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1}
end
if r[1] ~= ARGV[1] then return {3} end
if r[3] then return {2, r[3]} end
return {0}
)lua");

// KEYS: record. ARGV: claim id, answer, ttl ms.
ABSL_CONST_INIT const RedisScript kCompleteIdempotent(R"lua(
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'c')
redis.call('HSET', KEYS[1], 'a', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
)lua");

// KEYS: record. ARGV: claim id.
ABSL_CONST_INIT const RedisScript kAbandonIdempotent(R"lua(
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
)lua");

// How often a duplicate looks again at a key held by a call in flight.
constexpr absl::Duration kIdempotentPoll = absl::Milliseconds(20);

class RedisIdempotencyStore final : public IdempotencyStore {
 public:
  RedisIdempotencyStore(RedisClient* redis, std::string prefix,
                        std::shared_ptr<Clock> clock)
      : redis_(redis),
        prefix_(absl::StrCat(prefix, "idempotency:")),
        clock_(std::move(clock)) {}

  absl::StatusOr<IdempotencyClaim> Begin(absl::string_view key,
                                         absl::string_view request,
                                         absl::Time lease_until,
                                         absl::Duration wait) override {
    const std::string claim_id = absl::BytesToHexString(RandomBytes(16));
    const std::string request_hex = absl::BytesToHexString(request);
    // Real time bounds the wait; the lease follows the clock.
    const absl::Time wait_until = absl::Now() + wait;
    for (;;) {
      const int64_t lease_ms = MillisUntil(clock_->Now(), lease_until);
      absl::StatusOr<RedisReply> reply = redis_->Eval(
          kBeginIdempotent, {Key(key)},
          {request_hex, claim_id, absl::StrCat(std::max<int64_t>(1, lease_ms))});
      if (!reply.ok()) return reply.status();
      if (reply->type != RedisReply::Type::kArray || reply->elements.empty()) {
        return Unexpected("idempotency begin", *reply);
      }
      IdempotencyClaim claim;
      switch (reply->elements[0].integer) {
        case 1:
          claim.outcome = IdempotencyClaim::kClaimed;
          claim.claim_id = claim_id;
          return claim;
        case 2:
          if (reply->elements.size() < 2) {
            return Unexpected("idempotency begin", *reply);
          }
          claim.outcome = IdempotencyClaim::kReplay;
          claim.answer = reply->elements[1].str;
          return claim;
        case 3:
          claim.outcome = IdempotencyClaim::kOtherRequest;
          return claim;
        case 0:
          break;
        default:
          return Unexpected("idempotency begin", *reply);
      }
      if (absl::Now() + kIdempotentPoll > wait_until) {
        return IdempotencyInFlightError();
      }
      absl::SleepFor(kIdempotentPoll);
    }
  }

  absl::Status Complete(absl::string_view key, absl::string_view claim_id,
                        absl::string_view answer,
                        absl::Time expires_at) override {
    const int64_t ttl_ms = MillisUntil(clock_->Now(), expires_at);
    if (ttl_ms <= 0) {
      Abandon(key, claim_id);
      return absl::OkStatus();
    }
    absl::StatusOr<RedisReply> reply = redis_->Eval(
        kCompleteIdempotent, {Key(key)},
        {std::string(claim_id), std::string(answer), absl::StrCat(ttl_ms)});
    return reply.ok() ? absl::OkStatus() : reply.status();
  }

  void Abandon(absl::string_view key, absl::string_view claim_id) override {
    redis_->Eval(kAbandonIdempotent, {Key(key)}, {std::string(claim_id)})
        .IgnoreError();
  }

  size_t SweepExpired() override { return 0; }  // Redis expires records

 private:
  std::string Key(absl::string_view key) const {
    return absl::StrCat(prefix_, absl::BytesToHexString(key));
  }

  RedisClient* const redis_;
  const std::string prefix_;
  const std::shared_ptr<Clock> clock_;
};

}  // namespace

std::unique_ptr<TokenStore> NewRedisTokenStore(RedisClient* redis,
                                               std::string prefix,
                                               std::shared_ptr<Clock> clock,
                                               size_t max_live_tokens) {
  return std::make_unique<RedisTokenStore>(redis, std::move(prefix),
                                           std::move(clock), max_live_tokens);
}

std::unique_ptr<CodeStore> NewRedisCodeStore(RedisClient* redis,
                                             std::string prefix,
                                             std::shared_ptr<Clock> clock) {
  return std::make_unique<RedisCodeStore>(redis, std::move(prefix),
                                          std::move(clock));
}

std::unique_ptr<SendLimiter> NewRedisSendLimiter(RedisClient* redis,
                                                 std::string prefix,
                                                 const SendLimits& limits) {
  return std::make_unique<RedisSendLimiter>(redis, std::move(prefix), limits);
}

std::unique_ptr<IdempotencyStore> NewRedisIdempotencyStore(
    RedisClient* redis, std::string prefix, std::shared_ptr<Clock> clock) {
  return std::make_unique<RedisIdempotencyStore>(redis, std::move(prefix),
                                                 std::move(clock));
}

}  // namespace profile
