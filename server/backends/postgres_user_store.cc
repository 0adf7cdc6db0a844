#include "server/backends/postgres_user_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/backends/connection_pool.h"
#include "server/common/api_error.h"

namespace profile {
namespace {

// One migration a version; never edit a released one, add the next.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE profiles (
  user_id     text PRIMARY KEY,
  phone_e164  text UNIQUE,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
)sql"},
    {2, R"sql(
CREATE TABLE phone_changes (
  id              bigserial PRIMARY KEY,
  user_id         text NOT NULL,
  old_phone_e164  text,
  new_phone_e164  text NOT NULL,
  changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_changes_user_id ON phone_changes (user_id);
)sql"},
};

// Any constant: replicas that migrate at once serialize on it.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(727367)";

// The statements the store runs, prepared once on every connection so that
// each call skips parsing and planning.
struct Statement {
  const char* name;
  const char* sql;
};

constexpr Statement kGetPhone = {
    "get_phone", "SELECT phone_e164 FROM profiles WHERE user_id = $1"};
constexpr Statement kFindOwner = {
    "find_owner", "SELECT user_id FROM profiles WHERE phone_e164 = $1"};
// Both reads of a verification in one round trip (and one snapshot).
constexpr Statement kLookup = {"lookup", R"sql(
SELECT (SELECT phone_e164 FROM profiles WHERE user_id = $1),
       (SELECT user_id FROM profiles WHERE phone_e164 = $2))sql"};
// One statement, so one implicit transaction: the compare-and-set and its
// audit row commit together or not at all.
constexpr Statement kChangeFromNone = {"change_from_none", R"sql(
WITH changed AS (
  INSERT INTO profiles (user_id, phone_e164) VALUES ($1, $2)
  ON CONFLICT (user_id) DO UPDATE
    SET phone_e164 = EXCLUDED.phone_e164, updated_at = now()
    WHERE profiles.phone_e164 IS NULL
  RETURNING user_id)
INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164)
SELECT user_id, NULL, $2 FROM changed)sql"};
constexpr Statement kChangeFromOld = {"change_from_old", R"sql(
WITH changed AS (
  UPDATE profiles SET phone_e164 = $2, updated_at = now()
  WHERE user_id = $1 AND phone_e164 = $3
  RETURNING user_id)
INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164)
SELECT user_id, $3, $2 FROM changed)sql"};
constexpr Statement kStatements[] = {kGetPhone, kFindOwner, kLookup,
                                     kChangeFromNone, kChangeFromOld};

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, PgResultDeleter>;

absl::Status Unavailable(absl::string_view what) {
  return ApiError(ApiCode::kUnavailable, absl::StrCat("postgres: ", what));
}

// Classifies a failed statement.
absl::Status ErrorOf(PGconn* conn, const PGresult* result) {
  const char* state =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result != nullptr ? PQresultErrorMessage(result)
                                          : PQerrorMessage(conn);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  if (state != nullptr && std::strcmp(state, "23505") == 0) {
    // The only unique index a write can trip is the phone's.
    return ApiError(ApiCode::kPhoneTaken);
  }
  if (state != nullptr && std::strcmp(state, "57014") == 0) {
    return ApiError(ApiCode::kDeadlineExceeded,
                    absl::StrCat("postgres: statement timed out: ", message));
  }
  if (PQstatus(conn) != CONNECTION_OK || state == nullptr ||
      absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return Unavailable(message);
  }
  return absl::InternalError(absl::StrCat("postgres: ", state, ": ", message));
}

// Opens one connection. The URL goes to libpq as it is (expand_dbname),
// after this store's defaults so that whatever it names itself (sslmode,
// connect_timeout, options, ...) wins over them.
absl::StatusOr<PGconn*> Connect(const PostgresOptions& options) {
  const int64_t timeout_ms = absl::ToInt64Milliseconds(options.timeout);
  std::vector<std::pair<const char*, std::string>> params = {
      {"connect_timeout",
       absl::StrCat(std::max<int64_t>(2, (timeout_ms + 999) / 1000))},
      {"keepalives", "1"},
      {"keepalives_idle", "5"},
      {"keepalives_interval", "2"},
      {"keepalives_count", "2"},
      {"tcp_user_timeout", absl::StrCat(timeout_ms)},
      {"application_name", "profile-service"},
      {"options", absl::StrCat("-c statement_timeout=", timeout_ms)},
      {"dbname", options.url.uri},
  };
  // Only set when the URL has none, so it overrides nothing.
  if (!options.url.password.empty()) {
    params.emplace_back("password", options.url.password);
  }
  std::vector<const char*> keywords, values;
  for (const auto& [keyword, value] : params) {
    keywords.push_back(keyword);
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(),
                                   /*expand_dbname=*/1);
  if (conn == nullptr) return Unavailable("cannot allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    return Unavailable(absl::StrCat("cannot connect to ",
                                    options.url.Redacted(), ": ", message));
  }
  return conn;
}

// Runs `sql` with text `params`; OK results only.
absl::StatusOr<Result> Exec(PGconn* conn, const char* sql,
                            const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  // Without parameters, PQexec: it also runs several statements at once,
  // as a migration may.
  Result result(params.empty()
                    ? PQexec(conn, sql)
                    : PQexecParams(conn, sql, static_cast<int>(params.size()),
                                   nullptr, values.data(), nullptr, nullptr,
                                   0));
  const ExecStatusType status =
      result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ErrorOf(conn, result.get());
  }
  return result;
}

// Runs a statement that was prepared on `conn`; OK results only.
absl::StatusOr<Result> ExecPrepared(PGconn* conn, const Statement& statement,
                                    const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  Result result(PQexecPrepared(conn, statement.name,
                               static_cast<int>(params.size()), values.data(),
                               nullptr, nullptr, 0));
  const ExecStatusType status =
      result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ErrorOf(conn, result.get());
  }
  return result;
}

// A single connection for a one-off job (migrations).
class Session {
 public:
  static absl::StatusOr<Session> Open(const PostgresOptions& options) {
    absl::StatusOr<PGconn*> conn = Connect(options);
    if (!conn.ok()) return conn.status();
    return Session(*conn);
  }
  Session(Session&& other) : conn_(std::exchange(other.conn_, nullptr)) {}
  ~Session() {
    if (conn_ != nullptr) PQfinish(conn_);
  }
  PGconn* get() const { return conn_; }

 private:
  explicit Session(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

absl::StatusOr<int> CurrentVersion(PGconn* conn) {
  absl::StatusOr<Result> result = Exec(
      conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!result.ok()) return result.status();
  int version = 0;
  if (!absl::SimpleAtoi(PQgetvalue(result->get(), 0, 0), &version)) {
    return absl::InternalError("postgres: unreadable schema version");
  }
  return version;
}

class PostgresUserStoreImpl final : public PostgresUserStore {
 public:
  explicit PostgresUserStoreImpl(const PostgresOptions& options)
      : options_(options),
        pool_({"postgres", options.pool_size, options.timeout},
              [this] { return Open(options_); }, PQfinish) {}

  absl::StatusOr<std::string> GetPhone(absl::string_view user_id) override {
    absl::StatusOr<Row> row = QueryRow(kGetPhone, {std::string(user_id)});
    if (!row.ok()) return row.status();
    return std::move((*row)[0]);
  }

  absl::StatusOr<std::string> FindOwner(
      absl::string_view phone_e164) override {
    absl::StatusOr<Row> row = QueryRow(kFindOwner, {std::string(phone_e164)});
    if (!row.ok()) return row.status();
    return std::move((*row)[0]);
  }

  absl::StatusOr<PhoneBindings> Lookup(absl::string_view user_id,
                                       absl::string_view phone_e164) override {
    absl::StatusOr<Row> row =
        QueryRow(kLookup, {std::string(user_id), std::string(phone_e164)});
    if (!row.ok()) return row.status();
    return PhoneBindings{std::move((*row)[0]), std::move((*row)[1])};
  }

  absl::Status ChangePhone(absl::string_view user_id,
                           absl::string_view expected_old_e164,
                           absl::string_view new_phone_e164) override {
    std::vector<std::string> params = {std::string(user_id),
                                       std::string(new_phone_e164)};
    if (!expected_old_e164.empty()) {
      params.push_back(std::string(expected_old_e164));
    }
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Result> result =
        ExecPrepared(*conn,
                     expected_old_e164.empty() ? kChangeFromNone
                                               : kChangeFromOld,
                     params);
    absl::Status status;
    if (!result.ok()) {
      status = result.status();
    } else if (std::strcmp(PQcmdTuples(result->get()), "1") != 0) {
      status = ApiError(ApiCode::kOldPhoneMismatch,
                        "the account's phone changed since the verification");
    }
    Release(*conn);
    return status;
  }

  absl::Status Ping() override {
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Result> result = Exec(*conn, "SELECT 1");
    Release(*conn);
    return result.ok() ? absl::OkStatus() : result.status();
  }

 private:
  // The text columns of a query's first row; "" for NULL, and every
  // column "" when there is no row.
  using Row = std::vector<std::string>;

  // Runs a query of at most one row. A read is safe to repeat, so one that
  // failed on a connection that broke while idle is tried once more on a
  // fresh one.
  absl::StatusOr<Row> QueryRow(const Statement& statement,
                               const std::vector<std::string>& params) {
    absl::Status status;
    for (int attempt = 0; attempt < 2; ++attempt) {
      absl::StatusOr<PGconn*> conn = Acquire();
      if (!conn.ok()) return conn.status();
      absl::StatusOr<Result> result = ExecPrepared(*conn, statement, params);
      Release(*conn);
      if (result.ok()) {
        const PGresult* rows = result->get();
        Row row(static_cast<size_t>(std::max(PQnfields(rows), 1)));
        if (PQntuples(rows) == 0) return row;
        for (int column = 0; column < PQnfields(rows); ++column) {
          if (!PQgetisnull(rows, 0, column)) {
            row[column].assign(PQgetvalue(rows, 0, column),
                               PQgetlength(rows, 0, column));
          }
        }
        return row;
      }
      status = result.status();
      if (status.code() != absl::StatusCode::kUnavailable) break;
    }
    return status;
  }

  // Opens a connection with every statement prepared on it.
  static absl::StatusOr<PGconn*> Open(const PostgresOptions& options) {
    absl::StatusOr<PGconn*> conn = Connect(options);
    for (const Statement& statement : kStatements) {
      if (!conn.ok()) break;
      Result prepared(PQprepare(*conn, statement.name, statement.sql, 0,
                                nullptr));
      if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
        absl::Status status = ErrorOf(*conn, prepared.get());
        PQfinish(*conn);
        conn = status;
      }
    }
    return conn;
  }

  absl::StatusOr<PGconn*> Acquire() { return pool_.Acquire(); }

  // Returns a connection to the pool, or closes it if it broke.
  void Release(PGconn* conn) {
    pool_.Release(conn, PQstatus(conn) == CONNECTION_OK &&
                            PQtransactionStatus(conn) == PQTRANS_IDLE);
  }

  const PostgresOptions options_;
  ConnectionPool<PGconn> pool_;
};

}  // namespace

absl::Status MigratePostgres(const PostgresOptions& options,
                             int target_version) {
  if (target_version <= 0) target_version = kPostgresSchemaVersion;
  absl::StatusOr<Session> session = Session::Open(options);
  if (!session.ok()) return session.status();
  PGconn* conn = session->get();
  absl::StatusOr<Result> done = Exec(conn, R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  applied_at  timestamptz NOT NULL DEFAULT now()
))sql");
  if (!done.ok()) return done.status();
  if (done = Exec(conn, "BEGIN"); !done.ok()) return done.status();
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<Result> locked = Exec(conn, kMigrationLock);
    if (!locked.ok()) return locked.status();
    absl::StatusOr<int> current = CurrentVersion(conn);
    if (!current.ok()) return current.status();
    if (*current > kPostgresSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres: the schema is at version ", *current,
          ", newer than this build's ", kPostgresSchemaVersion));
    }
    for (const Migration& migration : kMigrations) {
      if (migration.version <= *current ||
          migration.version > target_version) {
        continue;
      }
      absl::StatusOr<Result> applied = Exec(conn, migration.sql);
      if (!applied.ok()) return applied.status();
      applied = Exec(conn, "INSERT INTO schema_migrations (version) VALUES ($1)",
                     {absl::StrCat(migration.version)});
      if (!applied.ok()) return applied.status();
    }
    return absl::OkStatus();
  }();
  done = Exec(conn, status.ok() ? "COMMIT" : "ROLLBACK");
  if (status.ok() && !done.ok()) status = done.status();
  return status;
}

absl::StatusOr<int> PostgresSchemaVersion(const PostgresOptions& options) {
  absl::StatusOr<Session> session = Session::Open(options);
  if (!session.ok()) return session.status();
  absl::StatusOr<Result> exists = Exec(
      session->get(), "SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (std::strcmp(PQgetvalue(exists->get(), 0, 0), "t") != 0) return 0;
  return CurrentVersion(session->get());
}

std::unique_ptr<PostgresUserStore> NewPostgresUserStore(
    const PostgresOptions& options) {
  return std::make_unique<PostgresUserStoreImpl>(options);
}

}  // namespace profile
