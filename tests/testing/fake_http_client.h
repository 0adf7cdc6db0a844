// FakeHttpClient: an HttpClient that records every request and answers from
// a script, for the unit tests of the SMS providers and Twilio Verify.
//
//   auto http = std::make_shared<FakeHttpClient>();
//   http->Reply(201, R"({"sid":"SM1"})");
//   http->Reply(429, "", {{"retry-after", "7"}});
//   http->Fail(absl::UnavailableError("connection refused"));
//   ... the provider under test calls http->Do() ...
//   HttpRequest sent = http->requests().at(0);
//   FormFields form = ParseForm(sent.body);  // {"To": "+86...", ...}
//
// Scripted answers are used in order; set_handler() answers instead once
// they run out. With neither, Do() answers UNAVAILABLE, "no scripted
// answer".
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_TESTS_TESTING_FAKE_HTTP_CLIENT_H_
#define PROFILE_TESTS_TESTING_FAKE_HTTP_CLIENT_H_

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/http/http_client.h"

namespace profile::testing {

class FakeHttpClient final : public HttpClient {
 public:
  using Handler =
      std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)>;

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    Handler handler;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
      if (!script_.empty()) {
        absl::StatusOr<HttpResponse> answer = std::move(script_.front());
        script_.pop_front();
        return answer;
      }
      handler = handler_;
    }
    if (handler) return handler(request);
    return absl::UnavailableError("FakeHttpClient: no scripted answer");
  }

  // Queues an answer with `status`, `body` and `headers` (names in lower
  // case, as HttpClient gives them).
  void Reply(int status, std::string body, HttpFields headers = {}) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    Push(std::move(response));
  }

  // Queues a failure: no response came.
  void Fail(absl::Status status) { Push(std::move(status)); }

  // Queues `answer` as it is.
  void Push(absl::StatusOr<HttpResponse> answer) {
    absl::MutexLock lock(&mu_);
    script_.push_back(std::move(answer));
  }

  // Answers every request once the script is used up.
  void set_handler(Handler handler) {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
  }

  // Returns every request made so far, in order.
  std::vector<HttpRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  // Returns the number of requests made so far.
  size_t request_count() const {
    absl::MutexLock lock(&mu_);
    return requests_.size();
  }

  // Returns the number of scripted answers not used yet.
  size_t unused_answers() const {
    absl::MutexLock lock(&mu_);
    return script_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::StatusOr<HttpResponse>> script_ ABSL_GUARDED_BY(mu_);
  Handler handler_ ABSL_GUARDED_BY(mu_);
};

// The fields of a form body, by name; a repeated name keeps every value.
using FormFields = std::multimap<std::string, std::string>;

// Returns the byte `c` stands for as a hex digit, or -1.
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Returns `text` with %XX escapes and '+' (a space) decoded. A malformed
// escape stays as it is, so a test sees it.
inline std::string FormDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() &&
               HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Returns the fields of an application/x-www-form-urlencoded `body`.
inline FormFields ParseForm(absl::string_view body) {
  FormFields fields;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> name_value =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    fields.emplace(FormDecode(name_value.first), FormDecode(name_value.second));
  }
  return fields;
}

// Returns the value of header `name` in `request` (compared without case),
// or "" if it has none.
inline std::string RequestHeader(const HttpRequest& request,
                                 absl::string_view name) {
  for (const auto& [header, value] : request.headers) {
    if (absl::EqualsIgnoreCase(header, name)) return value;
  }
  return "";
}

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_FAKE_HTTP_CLIENT_H_
