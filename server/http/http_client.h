// HttpClient: the HTTPS requests the service makes to SMS and verification
// providers, through libcurl (loaded by the first New(): curl_library.h).
//
//   absl::StatusOr<std::unique_ptr<HttpClient>> http = HttpClient::New({});
//   HttpRequest request;
//   request.url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json";
//   request.body = FormEncode({{"To", "+8613800138000"}, {"Body", "hi"}});
//   request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
//   request.basic_user = "AC1";
//   request.basic_password = token;
//   request.timeout = absl::Seconds(5);
//   absl::StatusOr<HttpResponse> response = (*http)->Do(request);
//
// TLS peer verification is always on, against the system's CAs plus those of
// HttpClientOptions::ca_file. Connections are kept and reused. Redirects are
// not followed. Errors never carry the request's body or credentials.
//
// Thread-safety: Do() may be called concurrently; it blocks the caller.
#ifndef PROFILE_SERVER_HTTP_HTTP_CLIENT_H_
#define PROFILE_SERVER_HTTP_HTTP_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace profile {

using HttpFields = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpFields headers;
  std::string body;
  // HTTP basic authentication, when `basic_user` is set.
  std::string basic_user;
  std::string basic_password;
  // The longest the whole exchange may take, connecting included.
  absl::Duration timeout = absl::Seconds(5);
};

struct HttpResponse {
  int status = 0;
  // Header names in lower case, in the order received.
  HttpFields headers;
  std::string body;

  // Returns the first value of header `name` (lower case), or "".
  absl::string_view Header(absl::string_view name) const;
};

struct HttpClientOptions {
  // A PEM file of CA certificates trusted besides the system's (--sms_ca_file).
  std::string ca_file;
};

class HttpClient {
 public:
  // Returns INVALID_ARGUMENT naming --sms_ca_file if the file holds no
  // certificate, FAILED_PRECONDITION if libcurl cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpClient>> New(
      const HttpClientOptions& options);

  virtual ~HttpClient() = default;

  // Makes the request. Returns the response whatever its status, or
  // UNAVAILABLE if no response came (connection refused or reset, TLS
  // failure, timeout, not HTTP), with a message naming the host and what
  // failed.
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request) = 0;
};

// Returns OK if `url` may receive provider requests: https://, or http://
// to a loopback address (127.0.0.0/8, ::1, localhost; for tests). Else
// INVALID_ARGUMENT naming `flag`.
absl::Status CheckProviderUrl(absl::string_view flag, absl::string_view url);

// Returns `fields` as an application/x-www-form-urlencoded body.
std::string FormEncode(const HttpFields& fields);

// Returns `text` percent-encoded as RFC 3986 says: every byte but
// A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex).
std::string PercentEncode(absl::string_view text);

// Returns the seconds of a Retry-After header value (delta-seconds form),
// or zero if `value` is empty or not a number.
absl::Duration ParseRetryAfter(absl::string_view value);

}  // namespace profile

#endif  // PROFILE_SERVER_HTTP_HTTP_CLIENT_H_
