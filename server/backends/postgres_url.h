// The PostgreSQL URL: checked at start by libpq's own parser, then handed to
// libpq exactly as the operator wrote it.
//
//   absl::StatusOr<PostgresUrl> url = ParsePostgresUrl(
//       "postgresql://app@db1:5432,db2:5432/profile?sslmode=verify-full"
//       "&sslrootcert=/etc/ca.crt",
//       "POSTGRES_PASSWORD");
//   // url->uri is that text, url->database == "profile"
//
// Whatever libpq accepts works, because nothing is rewritten: query
// parameters (sslmode, sslrootcert, target_session_attrs, ...), several
// hosts, percent-escapes, and no password at all, which leaves the password
// to libpq (its password file ~/.pgpass or $PGPASSFILE, or $PGPASSWORD).
// Only when the URL has no password and the named environment variable is
// set does that variable supply one, so that Kubernetes Secrets need not
// appear in flags.
//
// Thread-safety: pure functions (ParsePostgresUrl reads the environment).
#ifndef PROFILE_SERVER_BACKENDS_POSTGRES_URL_H_
#define PROFILE_SERVER_BACKENDS_POSTGRES_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

struct PostgresUrl {
  // The URL as given, for libpq.
  std::string uri;
  // The password from the environment when `uri` has none; else empty.
  std::string password;
  // The database the URL names ("" if none).
  std::string database;

  // The URL with every password in it replaced by "***", for logs and
  // errors.
  std::string Redacted() const;
};

// Checks `url` (postgresql:// or postgres://, as libpq's parser reads it),
// loading libpq (libpq_library.h). Errors are INVALID_ARGUMENT and never
// contain the password; FAILED_PRECONDITION if libpq cannot be loaded.
absl::StatusOr<PostgresUrl> ParsePostgresUrl(absl::string_view url,
                                             const char* password_env);

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_POSTGRES_URL_H_
