#include "server/backends/postgres_url.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/backends/libpq_library.h"

namespace profile {
namespace {

constexpr char kRedacted[] = "***";

// A piece of a URL: `offset` and `size` in it.
struct Span {
  size_t offset;
  size_t size;
};

// Returns where the passwords are in `url`: in the user information, and
// the values of `password=` query parameters. Finds them as libpq does: the
// user information ends at the first '@' before any '/', and its password
// starts after its first ':'.
std::vector<Span> PasswordSpans(absl::string_view url) {
  std::vector<Span> spans;
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return spans;
  const size_t start = scheme_end + 3;
  size_t host = start;
  const size_t at = url.find_first_of("@/", start);
  if (at != absl::string_view::npos && url[at] == '@') {
    const size_t colon = url.find(':', start);
    if (colon < at) spans.push_back({colon + 1, at - colon - 1});
    host = at + 1;
  }
  const size_t query = url.find('?', host);
  if (query == absl::string_view::npos) return spans;
  for (size_t pair = query + 1; pair < url.size();) {
    size_t end = url.find('&', pair);
    if (end == absl::string_view::npos) end = url.size();
    constexpr absl::string_view kKey = "password=";
    if (absl::StartsWith(url.substr(pair, end - pair), kKey)) {
      spans.push_back({pair + kKey.size(), end - pair - kKey.size()});
    }
    pair = end + 1;
  }
  return spans;
}

// Returns `url` with every password in it replaced.
std::string Redact(absl::string_view url) {
  std::string out;
  size_t from = 0;
  for (const Span& span : PasswordSpans(url)) {
    absl::StrAppend(&out, url.substr(from, span.offset - from), kRedacted);
    from = span.offset + span.size;
  }
  absl::StrAppend(&out, url.substr(from));
  return out;
}

// Returns `message` with the passwords of `url` replaced: libpq's parse
// errors may quote a malformed one ("invalid percent-encoded token").
std::string Scrub(std::string message, absl::string_view url) {
  for (const Span& span : PasswordSpans(url)) {
    if (span.size == 0) continue;
    absl::StrReplaceAll({{url.substr(span.offset, span.size), kRedacted}},
                        &message);
  }
  return message;
}

absl::Status Bad(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      why,
      "; expected a libpq connection URI: postgresql://[user[:password]@]"
      "host[:port][,host[:port]...]/database[?param=value&...]"));
}

struct ConnInfoDeleter {
  void operator()(PQconninfoOption* options) const {
    Libpq().PQconninfoFree(options);
  }
};

}  // namespace

std::string PostgresUrl::Redacted() const { return Redact(uri); }

absl::StatusOr<PostgresUrl> ParsePostgresUrl(absl::string_view url,
                                             const char* password_env) {
  // libpq would also take "key=value" connection strings, but its errors
  // for them quote the whole string, password and all; the flag is a URL.
  if (!absl::StartsWith(url, "postgresql://") &&
      !absl::StartsWith(url, "postgres://")) {
    return Bad("the URL does not start with postgresql:// or postgres://");
  }
  // Loads libpq, which every use of the URL needs (libpq_library.h).
  if (absl::StatusOr<const LibpqLibrary*> pq = LoadLibpq(); !pq.ok()) {
    return pq.status();
  }
  PostgresUrl out;
  out.uri = std::string(url);
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConnInfoDeleter> options(
      Libpq().PQconninfoParse(out.uri.c_str(), &error));
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    Libpq().PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Bad(absl::StrCat(
        "the URL is not valid (libpq: ", Scrub(std::move(message), url), ")"));
  }
  bool has_password = false;
  for (const PQconninfoOption* option = options.get();
       option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const absl::string_view keyword = option->keyword;
    if (keyword == "dbname") out.database = option->val;
    if (keyword == "password" && option->val[0] != '\0') has_password = true;
  }
  if (!has_password && password_env != nullptr) {
    if (const char* env = std::getenv(password_env); env != nullptr) {
      out.password = env;
    }
  }
  return out;
}

}  // namespace profile
