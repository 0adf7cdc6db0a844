#include "server/backends/postgres_user_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/backends/connection_pool.h"
#include "server/backends/libpq_library.h"
#include "server/common/api_error.h"
#include "server/common/crypto.h"

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
    {3, R"sql(
ALTER TABLE profiles ADD COLUMN changes_locked_until timestamptz;
ALTER TABLE phone_changes ADD COLUMN actor text NOT NULL DEFAULT 'self',
                          ADD COLUMN action text NOT NULL DEFAULT 'change',
                          ADD COLUMN request_id text,
                          ADD COLUMN reason text,
                          ALTER COLUMN new_phone_e164 DROP NOT NULL;
CREATE INDEX phone_changes_user_id_id ON phone_changes (user_id, id);
-- A revert token by its digest (hex SHA-256); never the token itself.
CREATE TABLE phone_reverts (
  token_hash      text PRIMARY KEY,
  user_id         text NOT NULL,
  change_id       bigint NOT NULL,
  old_phone_e164  text NOT NULL,
  expires_at      timestamptz NOT NULL,
  used_at         timestamptz
);
CREATE INDEX phone_reverts_user_change ON phone_reverts (user_id, change_id);
-- The transactional outbox: notices owed by committed changes, until sent.
CREATE TABLE notices (
  id                   bigserial PRIMARY KEY,
  kind                 text NOT NULL,
  user_id              text NOT NULL,
  phone_e164           text NOT NULL,
  locale               text NOT NULL,
  new_phone_e164       text,
  sealed_revert_token  text,
  revert_expires_at    timestamptz,
  request_id           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  attempts             integer NOT NULL DEFAULT 0,
  due_at               timestamptz NOT NULL DEFAULT now(),
  leased_until         timestamptz
);
CREATE INDEX notices_due ON notices (due_at);
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
       (SELECT user_id FROM profiles WHERE phone_e164 = $2),
       (SELECT extract(epoch FROM changes_locked_until) FROM profiles
          WHERE user_id = $1 AND changes_locked_until > now()))sql"};
// One statement, so one implicit transaction: the compare-and-set, its
// audit row and, for a change from an old phone, its revert token and its
// notice commit together or not at all. Each answers how many changes it
// made (0: the phone changed meanwhile, or changes are locked).
constexpr Statement kChangeFromNone = {"change_from_none", R"sql(
WITH changed AS (
  INSERT INTO profiles (user_id, phone_e164) VALUES ($1, $2)
  ON CONFLICT (user_id) DO UPDATE
    SET phone_e164 = EXCLUDED.phone_e164, updated_at = now()
    WHERE profiles.phone_e164 IS NULL
      AND (profiles.changes_locked_until IS NULL
           OR profiles.changes_locked_until <= now())
  RETURNING user_id),
audit AS (
  INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164, actor,
                             request_id, action, reason)
  SELECT user_id, NULL, $2, $3, $4, $5, nullif($6, '') FROM changed
  RETURNING id)
SELECT count(*) FROM audit)sql"};
// $2 '' unbinds; $6 the revert token's digest ('' for none), $7 its window
// in seconds, $8 whether the old phone is owed a notice of kind $13, in
// locale $9 with the sealed token $10; $11 the action, $12 the reason.
constexpr Statement kChangeFromOld = {"change_from_old", R"sql(
WITH changed AS (
  UPDATE profiles SET phone_e164 = nullif($2, ''), updated_at = now()
  WHERE user_id = $1 AND phone_e164 = $3
    AND (changes_locked_until IS NULL OR changes_locked_until <= now())
  RETURNING user_id),
audit AS (
  INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164, actor,
                             request_id, action, reason)
  SELECT user_id, $3, nullif($2, ''), $4, $5, $11, nullif($12, '')
  FROM changed RETURNING id),
revert AS (
  INSERT INTO phone_reverts (token_hash, user_id, change_id, old_phone_e164,
                             expires_at)
  SELECT $6, $1, id, $3, now() + make_interval(secs => $7::float8)
  FROM audit WHERE $6 <> '' RETURNING 1),
notice AS (
  INSERT INTO notices (kind, user_id, phone_e164, locale, new_phone_e164,
                       sealed_revert_token, revert_expires_at, request_id)
  SELECT $13, $1, $3, $9, nullif($2, ''), nullif($10, ''),
         now() + make_interval(secs => $7::float8), $5
  FROM audit WHERE $8::boolean RETURNING 1)
SELECT count(*) FROM audit)sql"};
// An admin lifts a revert lock, with an audit record.
constexpr Statement kUnlock = {"unlock", R"sql(
WITH unlocked AS (
  UPDATE profiles SET changes_locked_until = NULL WHERE user_id = $1
  RETURNING user_id, phone_e164)
INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164, actor,
                           request_id, action, reason)
SELECT user_id, phone_e164, phone_e164, $2, $3, 'unlock', nullif($4, '')
FROM unlocked)sql"};
constexpr Statement kListChanges = {"list_changes", R"sql(
SELECT id, extract(epoch FROM changed_at), coalesce(old_phone_e164, ''),
       coalesce(new_phone_e164, ''), actor, action, coalesce(reason, ''),
       coalesce(request_id, '')
FROM phone_changes
WHERE user_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC LIMIT $3)sql"};
// Why a change made none: the account is locked, or its phone changed.
constexpr Statement kLockedNow = {"locked_now", R"sql(
SELECT changes_locked_until > now() FROM profiles WHERE user_id = $1)sql"};
// The outbox.
constexpr Statement kLeaseNotices = {"lease_notices", R"sql(
UPDATE notices SET leased_until = now() + make_interval(secs => $2::float8),
                   attempts = attempts + 1
WHERE id IN (SELECT id FROM notices
             WHERE due_at <= now()
               AND (leased_until IS NULL OR leased_until <= now())
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, kind, user_id, phone_e164, locale,
          coalesce(new_phone_e164, ''), coalesce(sealed_revert_token, ''),
          coalesce(extract(epoch FROM revert_expires_at), 0),
          extract(epoch FROM created_at), attempts,
          coalesce(request_id, ''))sql"};
constexpr Statement kNoticeDone = {
    "notice_done", "DELETE FROM notices WHERE id = ANY($1::bigint[])"};
constexpr Statement kRetryNotice = {"retry_notice", R"sql(
UPDATE notices SET due_at = now() + make_interval(secs => $2::float8),
                   leased_until = NULL
WHERE id = $1)sql"};
constexpr Statement kNoticeBacklog = {"notice_backlog", R"sql(
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
FROM notices)sql"};
constexpr Statement kStatements[] = {
    kGetPhone,     kFindOwner,    kLookup,      kChangeFromNone,
    kChangeFromOld, kLockedNow,   kLeaseNotices, kNoticeDone,
    kRetryNotice,  kNoticeBacklog, kUnlock,       kListChanges};

struct PgResultDeleter {
  void operator()(PGresult* result) const { Libpq().PQclear(result); }
};
using Result = std::unique_ptr<PGresult, PgResultDeleter>;

absl::Status Unavailable(absl::string_view what) {
  return ApiError(ApiCode::kUnavailable, absl::StrCat("postgres: ", what));
}

// Classifies a failed statement.
absl::Status ErrorOf(PGconn* conn, const PGresult* result) {
  const char* state = result != nullptr
                          ? Libpq().PQresultErrorField(result, PG_DIAG_SQLSTATE)
                          : nullptr;
  std::string message = result != nullptr ? Libpq().PQresultErrorMessage(result)
                                          : Libpq().PQerrorMessage(conn);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  if (state != nullptr && std::strcmp(state, "23505") == 0) {
    // The only unique index a write can trip is the phone's.
    return ApiError(ApiCode::kPhoneTaken);
  }
  if (state != nullptr && std::strcmp(state, "57014") == 0) {
    return ApiError(ApiCode::kDeadlineExceeded,
                    absl::StrCat("postgres: statement timed out: ", message));
  }
  if (Libpq().PQstatus(conn) != CONNECTION_OK || state == nullptr ||
      absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return Unavailable(message);
  }
  return absl::InternalError(absl::StrCat("postgres: ", state, ": ", message));
}

// Opens one connection. The URL goes to libpq as it is (expand_dbname),
// after this store's defaults so that whatever it names itself (sslmode,
// connect_timeout, options, ...) wins over them.
absl::StatusOr<PGconn*> Connect(const PostgresOptions& options) {
  // Loaded already if the options came from ParsePostgresUrl(); every
  // other libpq call here is on a connection this opened.
  if (absl::StatusOr<const LibpqLibrary*> pq = LoadLibpq(); !pq.ok()) {
    return pq.status();
  }
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
  PGconn* conn = Libpq().PQconnectdbParams(keywords.data(), values.data(),
                                           /*expand_dbname=*/1);
  if (conn == nullptr) return Unavailable("cannot allocate a connection");
  if (Libpq().PQstatus(conn) != CONNECTION_OK) {
    std::string message = Libpq().PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    Libpq().PQfinish(conn);
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
  Result result(
      params.empty()
          ? Libpq().PQexec(conn, sql)
          : Libpq().PQexecParams(conn, sql, static_cast<int>(params.size()),
                                 nullptr, values.data(), nullptr, nullptr, 0));
  const ExecStatusType status =
      result ? Libpq().PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
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
  Result result(Libpq().PQexecPrepared(conn, statement.name,
                                       static_cast<int>(params.size()),
                                       values.data(), nullptr, nullptr, 0));
  const ExecStatusType status =
      result ? Libpq().PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
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
    if (conn_ != nullptr) Libpq().PQfinish(conn_);
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
  if (!absl::SimpleAtoi(Libpq().PQgetvalue(result->get(), 0, 0), &version)) {
    return absl::InternalError("postgres: unreadable schema version");
  }
  return version;
}

// The text of a result's cell; "" for NULL.
std::string Cell(const PGresult* result, int row, int column) {
  return std::string(Libpq().PQgetvalue(result, row, column),
                     Libpq().PQgetlength(result, row, column));
}

// Seconds with a fraction, as PostgreSQL's extract(epoch ...) writes them.
absl::Time TimeOfEpoch(const std::string& text) {
  double seconds = 0;
  if (text.empty() || !absl::SimpleAtod(text, &seconds)) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(static_cast<int64_t>(seconds * 1e6));
}

std::string Seconds(absl::Duration d) {
  return absl::StrCat(absl::ToDoubleSeconds(d));
}

class PostgresUserStoreImpl final : public PostgresUserStore,
                                    public NoticeQueue {
 public:
  using UserStore::ChangePhone;

  explicit PostgresUserStoreImpl(const PostgresOptions& options)
      : options_(options),
        pool_({"postgres", options.pool_size, options.timeout},
              [this] { return Open(options_); },
              [](PGconn* conn) { Libpq().PQfinish(conn); }) {}

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
    PhoneBindings bindings{std::move((*row)[0]), std::move((*row)[1])};
    bindings.changes_locked_until = TimeOfEpoch((*row)[2]);
    return bindings;
  }

  absl::Status ChangePhone(absl::string_view user_id,
                           absl::string_view expected_old_e164,
                           absl::string_view new_phone_e164,
                           const ChangeRecord& record) override {
    std::vector<std::string> params = {std::string(user_id),
                                       std::string(new_phone_e164)};
    if (expected_old_e164.empty()) {
      if (new_phone_e164.empty()) {
        return ApiError(ApiCode::kNoCurrentPhone);  // nothing to unbind
      }
      params.insert(params.end(), {record.actor, record.request_id,
                                   record.action, record.reason});
    } else {
      params.insert(
          params.end(),
          {std::string(expected_old_e164), record.actor, record.request_id,
           absl::BytesToHexString(record.revert_token_hash),
           Seconds(record.revert_window), record.notify ? "true" : "false",
           LanguageTag(record.notice.language),
           Base64UrlEncode(record.notice.sealed_revert_token), record.action,
           record.reason, NoticeTypeName(record.notice.type)});
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
    } else if (std::strcmp(Libpq().PQgetvalue(result->get(), 0, 0), "1") != 0) {
      // Nothing changed: say why (a rare path, worth a second statement).
      absl::StatusOr<Result> locked =
          ExecPrepared(*conn, kLockedNow, {std::string(user_id)});
      if (locked.ok() && Libpq().PQntuples(locked->get()) == 1 &&
          std::strcmp(Libpq().PQgetvalue(locked->get(), 0, 0), "t") == 0) {
        status = ApiError(ApiCode::kChangesLocked);
      } else {
        status = ApiError(ApiCode::kOldPhoneMismatch,
                          "the account's phone changed since the verification");
      }
    }
    Release(*conn);
    return status;
  }

  absl::StatusOr<RevertOutcome> Revert(const RevertRequest& request) override {
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    RevertOutcome outcome;
    absl::Status status = InTransaction(*conn, [&](PGconn* c) -> absl::Status {
      absl::StatusOr<Result> token = Exec(c, R"sql(
SELECT user_id, change_id, old_phone_e164 FROM phone_reverts
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
FOR UPDATE)sql",
                                          {absl::BytesToHexString(
                                              request.token_hash)});
      if (!token.ok()) return token.status();
      if (Libpq().PQntuples(token->get()) != 1) {
        return ApiError(ApiCode::kRevertTokenNotFound);
      }
      outcome.user_id = Libpq().PQgetvalue(token->get(), 0, 0);
      const std::string change_id = Libpq().PQgetvalue(token->get(), 0, 1);
      outcome.restored_phone = Libpq().PQgetvalue(token->get(), 0, 2);
      absl::StatusOr<Result> current = Exec(
          c, "SELECT phone_e164 FROM profiles WHERE user_id = $1 FOR UPDATE",
          {outcome.user_id});
      if (!current.ok()) return current.status();
      const std::string now_phone =
          Libpq().PQntuples(current->get()) == 1
              ? Libpq().PQgetvalue(current->get(), 0, 0)
              : "";
      absl::StatusOr<Result> taken = Exec(
          c,
          "SELECT 1 FROM profiles WHERE phone_e164 = $1 AND user_id <> $2",
          {outcome.restored_phone, outcome.user_id});
      if (!taken.ok()) return taken.status();
      if (Libpq().PQntuples(taken->get()) != 0) {
        return ApiError(ApiCode::kPhoneTaken,
                        "the old phone is bound to another account now");
      }
      if (now_phone != outcome.restored_phone) {
        outcome.removed_phone = now_phone;
      }
      absl::StatusOr<Result> done = Exec(c, R"sql(
UPDATE profiles SET phone_e164 = $2, updated_at = now(),
       changes_locked_until = now() + make_interval(secs => $3::float8)
WHERE user_id = $1)sql",
                                         {outcome.user_id,
                                          outcome.restored_phone,
                                          Seconds(request.lock_for)});
      if (!done.ok()) return done.status();
      done = Exec(c, R"sql(
UPDATE phone_reverts SET used_at = now()
WHERE user_id = $1 AND change_id >= $2 AND used_at IS NULL)sql",
                  {outcome.user_id, change_id});
      if (!done.ok()) return done.status();
      done = Exec(c, R"sql(
INSERT INTO phone_changes (user_id, old_phone_e164, new_phone_e164, actor,
                           request_id, action)
VALUES ($1, nullif($2, ''), $3, 'revert', $4, 'revert'))sql",
                  {outcome.user_id, now_phone, outcome.restored_phone,
                   request.request_id});
      if (!done.ok()) return done.status();
      if (outcome.removed_phone.empty()) return absl::OkStatus();
      done = Exec(c, R"sql(
INSERT INTO notices (kind, user_id, phone_e164, locale, request_id)
VALUES ('phone_unlinked_notice', $1, $2, $3, $4))sql",
                  {outcome.user_id, outcome.removed_phone,
                   LanguageTag(request.language), request.request_id});
      return done.ok() ? absl::OkStatus() : done.status();
    });
    Release(*conn);
    if (!status.ok()) return status;
    return outcome;
  }

  absl::Status Unlock(absl::string_view user_id,
                      const ChangeRecord& record) override {
    return Write(kUnlock, {std::string(user_id), record.actor,
                           record.request_id, record.reason});
  }

  absl::StatusOr<std::vector<ChangeEntry>> ListChanges(
      absl::string_view user_id, int limit, int64_t before_id) override {
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Result> rows =
        ExecPrepared(*conn, kListChanges,
                     {std::string(user_id), absl::StrCat(before_id),
                      absl::StrCat(limit)});
    Release(*conn);
    if (!rows.ok()) return rows.status();
    std::vector<ChangeEntry> page;
    const PGresult* r = rows->get();
    for (int i = 0; i < Libpq().PQntuples(r); ++i) {
      const auto text = [r, i](int column) { return Cell(r, i, column); };
      ChangeEntry entry;
      if (!absl::SimpleAtoi(text(0), &entry.id)) {
        return absl::InternalError("postgres: unreadable audit row");
      }
      entry.at = TimeOfEpoch(text(1));
      entry.old_phone = text(2);
      entry.new_phone = text(3);
      entry.actor = text(4);
      entry.action = text(5);
      entry.reason = text(6);
      entry.request_id = text(7);
      page.push_back(std::move(entry));
    }
    return page;
  }

  NoticeQueue* notices() override { return this; }

  absl::StatusOr<std::vector<Notice>> Lease(int max,
                                            absl::Duration lease) override {
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Result> rows = ExecPrepared(
        *conn, kLeaseNotices, {absl::StrCat(max), Seconds(lease)});
    Release(*conn);
    if (!rows.ok()) return rows.status();
    std::vector<Notice> due;
    const PGresult* r = rows->get();
    for (int i = 0; i < Libpq().PQntuples(r); ++i) {
      Notice notice;
      const auto text = [r, i](int column) { return Cell(r, i, column); };
      if (!absl::SimpleAtoi(text(0), &notice.id) ||
          !absl::SimpleAtoi(text(9), &notice.attempts)) {
        return absl::InternalError("postgres: unreadable notice row");
      }
      notice.type = text(1) == "phone_unlinked_notice"
                        ? NoticeType::kPhoneUnlinked
                        : NoticeType::kPhoneChanged;
      notice.user_id = text(2);
      notice.phone_e164 = text(3);
      notice.language =
          text(4) == LanguageTag(Language::kChinese) ? Language::kChinese
                                                     : Language::kEnglish;
      notice.new_phone_e164 = text(5);
      if (!absl::WebSafeBase64Unescape(text(6), &notice.sealed_revert_token)) {
        notice.sealed_revert_token.clear();
      }
      notice.revert_expires_at = TimeOfEpoch(text(7));
      notice.created_at = TimeOfEpoch(text(8));
      notice.request_id = text(10);
      due.push_back(std::move(notice));
    }
    std::sort(due.begin(), due.end(),
              [](const Notice& a, const Notice& b) { return a.id < b.id; });
    return due;
  }

  absl::Status Delivered(absl::Span<const int64_t> ids) override {
    if (ids.empty()) return absl::OkStatus();
    // An array literal of integers: "{1,2,3}".
    return Write(kNoticeDone,
                 {absl::StrCat("{", absl::StrJoin(ids, ","), "}")});
  }

  absl::Status Retry(int64_t id, absl::Duration delay) override {
    return Write(kRetryNotice, {absl::StrCat(id), Seconds(delay)});
  }

  absl::Status Drop(int64_t id) override { return Delivered({id}); }

  absl::StatusOr<NoticeBacklog> Backlog() override {
    absl::StatusOr<Row> row = QueryRow(kNoticeBacklog, {});
    if (!row.ok()) return row.status();
    NoticeBacklog backlog;
    double oldest = 0;
    int64_t pending = 0;
    if (!absl::SimpleAtoi((*row)[0], &pending) ||
        !absl::SimpleAtod((*row)[1], &oldest)) {
      return absl::InternalError("postgres: unreadable notice backlog");
    }
    backlog.pending = static_cast<size_t>(pending);
    backlog.oldest = absl::Seconds(oldest);
    return backlog;
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
        Row row(static_cast<size_t>(std::max(Libpq().PQnfields(rows), 1)));
        if (Libpq().PQntuples(rows) == 0) return row;
        for (int column = 0; column < Libpq().PQnfields(rows); ++column) {
          row[column] = Cell(rows, 0, column);
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
      Result prepared(
          Libpq().PQprepare(*conn, statement.name, statement.sql, 0, nullptr));
      if (!prepared ||
          Libpq().PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
        absl::Status status = ErrorOf(*conn, prepared.get());
        Libpq().PQfinish(*conn);
        conn = status;
      }
    }
    return conn;
  }

  absl::StatusOr<PGconn*> Acquire() { return pool_.Acquire(); }

  // Runs one prepared statement that writes; OK or its error.
  absl::Status Write(const Statement& statement,
                     const std::vector<std::string>& params) {
    absl::StatusOr<PGconn*> conn = Acquire();
    if (!conn.ok()) return conn.status();
    absl::StatusOr<Result> result = ExecPrepared(*conn, statement, params);
    Release(*conn);
    return result.ok() ? absl::OkStatus() : result.status();
  }

  // Runs `body` between BEGIN and COMMIT on `conn`; ROLLBACK if it fails.
  static absl::Status InTransaction(
      PGconn* conn, const std::function<absl::Status(PGconn*)>& body) {
    absl::StatusOr<Result> begun = Exec(conn, "BEGIN");
    if (!begun.ok()) return begun.status();
    absl::Status status = body(conn);
    absl::StatusOr<Result> ended = Exec(conn, status.ok() ? "COMMIT" : "ROLLBACK");
    if (status.ok() && !ended.ok()) status = ended.status();
    return status;
  }

  // Returns a connection to the pool, or closes it if it broke.
  void Release(PGconn* conn) {
    pool_.Release(conn, Libpq().PQstatus(conn) == CONNECTION_OK &&
                            Libpq().PQtransactionStatus(conn) == PQTRANS_IDLE);
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
  if (std::strcmp(Libpq().PQgetvalue(exists->get(), 0, 0), "t") != 0) return 0;
  return CurrentVersion(session->get());
}

std::unique_ptr<PostgresUserStore> NewPostgresUserStore(
    const PostgresOptions& options) {
  return std::make_unique<PostgresUserStoreImpl>(options);
}

}  // namespace profile
