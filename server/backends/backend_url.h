// Backend URLs: where Redis and PostgreSQL are, parsed and checked at start.
//
//   absl::StatusOr<BackendUrl> url = ParseBackendUrl(
//       "redis://:secret@10.0.0.5:6379/2", "redis", "REDIS_PASSWORD");
//   // url->host == "10.0.0.5", url->port == 6379, url->database == "2"
//
// A password missing from the URL is read from the named environment
// variable, so that Kubernetes Secrets need not appear in flags.
//
// Thread-safety: pure functions (ParseBackendUrl reads the environment).
#ifndef PROFILE_SERVER_BACKENDS_BACKEND_URL_H_
#define PROFILE_SERVER_BACKENDS_BACKEND_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace profile {

struct BackendUrl {
  std::string user;
  std::string password;
  std::string host;
  int port = 0;
  // Redis: the database number ("" for 0); PostgreSQL: the database name.
  std::string database;

  // The URL with the password replaced by "***", for logs and errors.
  std::string Redacted() const;
};

// Parses `scheme`://[user][:password@]host:port[/database] (percent-escapes
// in user and password are decoded; IPv6 hosts in brackets). A password not
// in the URL comes from environment variable `password_env` when it is set.
// Errors are INVALID_ARGUMENT and never contain the password.
absl::StatusOr<BackendUrl> ParseBackendUrl(absl::string_view url,
                                           absl::string_view scheme,
                                           const char* password_env);

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_BACKEND_URL_H_
