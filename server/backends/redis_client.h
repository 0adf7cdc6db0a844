// RedisClient: a bounded pool of blocking hiredis connections.
//
//   auto redis = RedisClient::Create({url, absl::Seconds(2), 8});
//   absl::StatusOr<RedisReply> reply = (*redis)->Command({"GET", "k"});
//   absl::StatusOr<RedisReply> taken = (*redis)->Eval(kTakeScript, {"k"}, {});
//
// Every call waits at most `timeout` for a free connection and at most
// `timeout` for each read and write, then answers UNAVAILABLE: a Redis that
// is down or stalled never hangs a caller. A connection that failed is
// dropped and a new one is made on the next call, so the client recovers by
// itself when Redis comes back.
//
// Calls block their thread: use them from an Executor, never from a gRPC
// callback thread.
//
// Thread-safety: safe to call concurrently; at most `pool_size` commands are
// in flight at once.
#ifndef PROFILE_SERVER_BACKENDS_REDIS_CLIENT_H_
#define PROFILE_SERVER_BACKENDS_REDIS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/backends/backend_url.h"
#include "server/backends/connection_pool.h"

struct redisContext;

namespace profile {

// A decoded Redis reply.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kArray, kStatus, kError };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;  // kString, kStatus, kError
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::kNil; }
};

// A Lua script, run by its SHA-1 (EVALSHA) after the first use. Made for
// namespace-scope constants: it is constant-initialized and computes its
// SHA-1 on first use, so a server without Redis spends nothing on it at
// start. Thread-safe.
//
//   ABSL_CONST_INIT const RedisScript kIncr("return redis.call('INCR', KEYS[1])");
class RedisScript {
 public:
  // REQUIRES: `source` outlives the script (a string literal does).
  constexpr explicit RedisScript(const char* source) : source_(source) {}
  RedisScript(const RedisScript&) = delete;
  RedisScript& operator=(const RedisScript&) = delete;

  absl::string_view source() const { return source_; }
  // The SHA-1 of source(), 40 hex digits.
  absl::string_view sha1() const;

 private:
  const char* source_;
  mutable absl::once_flag sha1_once_;
  mutable char sha1_[40] = {};
};

struct RedisClientOptions {
  BackendUrl url;
  absl::Duration timeout = absl::Seconds(2);
  int pool_size = 8;
};

class RedisClient {
 public:
  static std::unique_ptr<RedisClient> Create(const RedisClientOptions& options);
  ~RedisClient();

  // Runs one command (binary-safe arguments). A Redis error reply is
  // returned as a RedisReply of type kError, a transport failure as
  // UNAVAILABLE.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args);

  // Runs `script` with `keys` and `args` (EVALSHA, falling back to EVAL when
  // Redis does not know the script yet). An error reply is INTERNAL.
  absl::StatusOr<RedisReply> Eval(const RedisScript& script,
                                  const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);

  // Returns OK if Redis answers PING.
  absl::Status Ping();

  // Returns how many commands this client has sent and waited for, each a
  // round trip to Redis (a script Redis did not know yet costs two). The
  // AUTH and SELECT of a new connection are not counted.
  uint64_t RoundTrips() const {
    return round_trips_.load(std::memory_order_relaxed);
  }

 private:
  explicit RedisClient(const RedisClientOptions& options);

  // Opens and sets up (AUTH, SELECT) one connection.
  absl::StatusOr<redisContext*> Connect();

  const RedisClientOptions options_;
  ConnectionPool<redisContext> pool_;
  std::atomic<uint64_t> round_trips_{0};
};

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_REDIS_CLIENT_H_
