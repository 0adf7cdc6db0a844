// The short-lived state in Redis, shared by every replica: tokens, codes,
// send limits and idempotency records. Same contracts as the in-memory stores (see
// token_store.h, code_store.h, send_limiter.h); every check-and-change is
// one Lua script, so it is atomic across replicas:
//
//   - a token is issued with SET NX PX and taken by a script that checks the
//     owner and deletes it, so of any number of concurrent spends, on any
//     replicas, exactly one wins;
//   - a code's wrong attempts are counted by the same script that compares
//     it, and the last allowed one deletes it;
//   - the cooldown and the hourly caps are checked and counted together;
//   - an idempotency key is claimed, completed or abandoned by one script
//     each (a claim is named by a random id, so a holder whose lease ran
//     out cannot complete another's claim).
//
// Tokens and codes are keyed by their digests, never their values. Expiry
// is Redis's own (PX / PEXPIRE), so every replica agrees on it. All keys
// start with the --redis_key_prefix.
//
//   auto tokens = NewRedisTokenStore(redis, "profile:", clock, 1000000);
//
// Thread-safety: safe to call concurrently; calls block on the network, so
// run them on an Executor.
#ifndef PROFILE_SERVER_BACKENDS_REDIS_STORES_H_
#define PROFILE_SERVER_BACKENDS_REDIS_STORES_H_

#include <cstddef>
#include <memory>
#include <string>

#include "server/backends/redis_client.h"
#include "server/codes/code_store.h"
#include "server/common/clock.h"
#include "server/idempotency/idempotency_store.h"
#include "server/limits/send_limiter.h"
#include "server/token/token_store.h"

namespace profile {

// REQUIRES: `redis` outlives the stores.
std::unique_ptr<TokenStore> NewRedisTokenStore(RedisClient* redis,
                                               std::string prefix,
                                               std::shared_ptr<Clock> clock,
                                               size_t max_live_tokens);

std::unique_ptr<CodeStore> NewRedisCodeStore(RedisClient* redis,
                                             std::string prefix,
                                             std::shared_ptr<Clock> clock);

std::unique_ptr<SendLimiter> NewRedisSendLimiter(RedisClient* redis,
                                                 std::string prefix,
                                                 const SendLimits& limits);

// Records under "<prefix>idempotency:<hex digest>".
std::unique_ptr<IdempotencyStore> NewRedisIdempotencyStore(
    RedisClient* redis, std::string prefix, std::shared_ptr<Clock> clock);

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_REDIS_STORES_H_
