// Profiles in PostgreSQL, shared by every replica and kept across restarts.
//
//   PostgresOptions options{*ParsePostgresUrl(url, "POSTGRES_PASSWORD"),
//                           absl::Seconds(2), 8};
//   absl::Status migrated = MigratePostgres(options);  // at start
//   auto users = NewPostgresUserStore(options);
//
// The schema: `profiles (user_id PRIMARY KEY, phone_e164 UNIQUE)` and an
// audit table `phone_changes`. ChangePhone() is one statement: a
// compare-and-set on the old phone plus the audit row, committed together,
// so concurrent changes and concurrent claims of one phone resolve
// correctly on any number of replicas (the unique index decides). Once it
// returns OK the change is committed.
//
// Every call waits at most `timeout` for a connection and for its
// statement; a database that is down answers UNAVAILABLE, and the pool
// reconnects by itself when it is back. Calls block their thread: use them
// from an Executor.
//
// Thread-safety: safe to call concurrently; at most `pool_size` statements
// run at once.
#ifndef PROFILE_SERVER_BACKENDS_POSTGRES_USER_STORE_H_
#define PROFILE_SERVER_BACKENDS_POSTGRES_USER_STORE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/backends/postgres_url.h"
#include "server/users/user_store.h"

namespace profile {

struct PostgresOptions {
  PostgresUrl url;
  absl::Duration timeout = absl::Seconds(2);
  int pool_size = 8;
};

// The schema version this build migrates to.
inline constexpr int kPostgresSchemaVersion = 3;

// Brings the database's schema to kPostgresSchemaVersion with versioned,
// idempotent migrations under an advisory lock (replicas starting together
// migrate once). Migrations up to `target_version` only, for tests of
// upgrades; 0 means all.
absl::Status MigratePostgres(const PostgresOptions& options,
                             int target_version = 0);

// Returns the schema version the database is at (0 for an empty one).
absl::StatusOr<int> PostgresSchemaVersion(const PostgresOptions& options);

// A UserStore over PostgreSQL that can also say whether it is reachable.
class PostgresUserStore : public UserStore {
 public:
  // Returns OK if the database answers.
  virtual absl::Status Ping() = 0;
};

std::unique_ptr<PostgresUserStore> NewPostgresUserStore(
    const PostgresOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_POSTGRES_USER_STORE_H_
