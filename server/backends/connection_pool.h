// A bounded pool of connections to one backend, shared by the threads that
// run backend calls.
//
// At most `max_size` connections exist at once, and at most `max_connecting`
// of them are being opened at once. A burst of callers on an empty or broken
// pool therefore opens connections a few at a time while the rest wait for
// the first ones to come back, instead of all connecting together:
// PostgreSQL forks a process per connection, and 64 opened at once on a busy
// 2-core machine ran past the connect timeout and failed their calls
// UNAVAILABLE. (MongoDB drivers bound this the same way, maxConnecting = 2.)
//
//   ConnectionPool<PGconn> pool({"postgres", /*max_size=*/16, absl::Seconds(2)},
//                               [] { return Connect(); }, PQfinish);
//   absl::StatusOr<PGconn*> conn = pool.Acquire();
//   if (!conn.ok()) return conn.status();
//   ...
//   pool.Release(*conn, PQstatus(*conn) == CONNECTION_OK);
//
// Thread-safe.
#ifndef PROFILE_SERVER_BACKENDS_CONNECTION_POOL_H_
#define PROFILE_SERVER_BACKENDS_CONNECTION_POOL_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/api_error.h"

namespace profile {

template <typename Connection>
class ConnectionPool {
 public:
  struct Options {
    Options(std::string name, int max_size, absl::Duration wait)
        : name(std::move(name)), max_size(max_size), wait(wait) {}

    // Names the backend in error messages ("postgres").
    std::string name;
    // Connections open, being opened or in use, at most.
    int max_size;
    // The longest Acquire() waits for a connection.
    absl::Duration wait;
    // Connections being opened at once, at most.
    int max_connecting = 2;
  };
  // Opens a connection, or returns why it could not.
  using Opener = std::function<absl::StatusOr<Connection*>()>;
  using Closer = std::function<void(Connection*)>;

  ConnectionPool(Options options, Opener open, Closer close)
      : options_(std::move(options)),
        open_(std::move(open)),
        close_(std::move(close)) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // REQUIRES: every acquired connection has been released.
  ~ConnectionPool() {
    absl::MutexLock lock(&mu_);
    for (Connection* connection : idle_) close_(connection);
  }

  // Returns an idle connection, else a new one if the pool has room and
  // fewer than `max_connecting` are being opened, else waits up to `wait`
  // for either. A failed open returns its status; a wait that runs out is
  // UNAVAILABLE (api code 5003).
  absl::StatusOr<Connection*> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      const auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || (in_use_ < options_.max_size &&
                                  connecting_ < options_.max_connecting);
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&ready), options_.wait)) {
        return ApiError(
            ApiCode::kUnavailable,
            absl::StrCat(options_.name, ": no connection came free within ",
                         absl::FormatDuration(options_.wait)));
      }
      ++in_use_;
      if (!idle_.empty()) {
        Connection* connection = idle_.back();
        idle_.pop_back();
        return connection;
      }
      ++connecting_;
    }
    absl::StatusOr<Connection*> connection = open_();
    absl::MutexLock lock(&mu_);
    --connecting_;
    if (!connection.ok()) --in_use_;
    return connection;
  }

  // Gives back a connection from Acquire(); one that is not `healthy` is
  // closed, and its place may be opened anew.
  void Release(Connection* connection, bool healthy) {
    if (!healthy) close_(connection);
    absl::MutexLock lock(&mu_);
    --in_use_;
    if (healthy) idle_.push_back(connection);
  }

 private:
  const Options options_;
  const Opener open_;
  const Closer close_;
  absl::Mutex mu_;
  std::vector<Connection*> idle_ ABSL_GUARDED_BY(mu_);
  // Acquired and not yet released, including those being opened.
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int connecting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_CONNECTION_POOL_H_
