#include "server/sms/twilio_sms_sender.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/common/files.h"
#include "server/common/flag_error.h"

namespace profile {
namespace {

// The longest piece of Twilio's own error message quoted in a status.
constexpr size_t kMaxQuotedMessage = 200;

// Returns true if `sid` may go into a URL path as it is: a Twilio SID is
// two letters and 32 hex digits, so anything but letters and digits is a
// typo or worse.
bool IsPlainSid(absl::string_view sid) {
  if (sid.empty()) return false;
  for (char c : sid) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Returns " (twilio error <code>: <message>)" from a Twilio error body
// {"code": 21211, "message": "...", ...}, or "" if the body is not one.
// Nothing else of the body is ever quoted.
std::string TwilioErrorDetail(absl::string_view body) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr,
                                              /*allow_exceptions=*/false);
  if (!json.is_object()) return "";
  std::string code;
  auto code_it = json.find("code");
  if (code_it != json.end() && code_it->is_number_integer()) {
    code = absl::StrCat(code_it->get<int64_t>());
  }
  std::string message;
  auto message_it = json.find("message");
  if (message_it != json.end() && message_it->is_string()) {
    message = message_it->get<std::string>();
    if (message.size() > kMaxQuotedMessage) {
      message.resize(kMaxQuotedMessage);
      message += "...";
    }
  }
  if (code.empty() && message.empty()) return "";
  if (message.empty()) return absl::StrCat(" (twilio error ", code, ")");
  if (code.empty()) return absl::StrCat(" (twilio: ", message, ")");
  return absl::StrCat(" (twilio error ", code, ": ", message, ")");
}

class TwilioSmsSender final : public SmsProvider {
 public:
  TwilioSmsSender(const TwilioOptions& options, std::string auth_token,
                  std::shared_ptr<HttpClient> http)
      : account_sid_(options.account_sid),
        auth_token_(std::move(auth_token)),
        from_(options.from),
        messaging_service_sid_(options.messaging_service_sid),
        url_(absl::StrCat(absl::StripSuffix(options.api_url, "/"),
                          "/2010-04-01/Accounts/", options.account_sid,
                          "/Messages.json")),
        http_(std::move(http)) {}

  absl::string_view name() const override { return "twilio"; }

  SmsAttempt Attempt(const SmsMessage& message,
                     absl::Duration timeout) override {
    HttpFields form = {{"To", message.phone_e164}, {"Body", message.text}};
    if (!from_.empty()) {
      form.emplace_back("From", from_);
    } else {
      form.emplace_back("MessagingServiceSid", messaging_service_sid_);
    }
    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    const std::string traceparent = message.trace.Traceparent();
    if (!traceparent.empty()) {
      request.headers.emplace_back("traceparent", traceparent);
    }
    request.body = FormEncode(form);
    request.basic_user = account_sid_;
    request.basic_password = auth_token_;
    request.timeout = timeout;

    absl::StatusOr<HttpResponse> response = http_->Do(request);
    if (!response.ok()) {
      // No answer: the message may be tried again (Twilio deduplicates
      // nothing, but a request that never arrived sent nothing either).
      SmsAttempt attempt;
      attempt.status = absl::UnavailableError(
          absl::StrCat("twilio: ", response.status().message()));
      attempt.retryable = true;
      return attempt;
    }
    SmsAttempt attempt = HttpAttempt("twilio", response->status,
                                     response->Header("retry-after"));
    if (!attempt.status.ok()) {
      if (response->status >= 400 && response->status < 500) {
        const std::string detail = TwilioErrorDetail(response->body);
        if (!detail.empty()) {
          attempt.status = absl::Status(
              attempt.status.code(),
              absl::StrCat(attempt.status.message(), detail));
        }
      }
      return attempt;
    }
    nlohmann::json json = nlohmann::json::parse(response->body, nullptr,
                                                /*allow_exceptions=*/false);
    if (json.is_object()) {
      auto sid = json.find("sid");
      if (sid != json.end() && sid->is_string() &&
          !sid->get<std::string>().empty()) {
        attempt.message_id = sid->get<std::string>();
        return attempt;
      }
    }
    // Twilio may have taken the message: another attempt could text the
    // phone twice, so this is not retryable, and its outcome is unknown.
    attempt.status =
        absl::UnknownError("twilio answered without a message sid");
    attempt.retryable = false;
    return attempt;
  }

 private:
  const std::string account_sid_;
  const std::string auth_token_;
  const std::string from_;
  const std::string messaging_service_sid_;
  const std::string url_;
  const std::shared_ptr<HttpClient> http_;
};

}  // namespace

absl::StatusOr<std::string> TwilioAuthToken(const TwilioOptions& options) {
  if (!options.auth_token.empty()) return options.auth_token;
  if (options.auth_token_file.empty()) {
    return InvalidFlagError("twilio_auth_token_file",
                            "is required when $TWILIO_AUTH_TOKEN is not set");
  }
  absl::StatusOr<std::string> token =
      ReadSecretFile("twilio_auth_token_file", options.auth_token_file);
  if (!token.ok()) return token.status();
  std::string line(absl::StripSuffix(
      absl::string_view(*token).substr(0, token->find('\n')), "\r"));
  if (line.empty()) {
    return InvalidFlagError("twilio_auth_token_file",
                            "holds an empty first line");
  }
  return line;
}

absl::StatusOr<std::unique_ptr<SmsProvider>> NewTwilioSmsSender(
    const TwilioOptions& options, std::shared_ptr<HttpClient> http) {
  if (options.account_sid.empty()) {
    return InvalidFlagError("twilio_account_sid", "is required");
  }
  if (!IsPlainSid(options.account_sid)) {
    return InvalidFlagError("twilio_account_sid",
                            "must be letters and digits (AC...)");
  }
  absl::StatusOr<std::string> token = TwilioAuthToken(options);
  if (!token.ok()) return token.status();
  if (options.from.empty() == options.messaging_service_sid.empty()) {
    return InvalidFlagError(
        "twilio_from",
        options.from.empty()
            ? "or --twilio_messaging_service_sid is required"
            : "and --twilio_messaging_service_sid exclude each other; set "
              "one");
  }
  absl::Status url = CheckProviderUrl("twilio_api_url", options.api_url);
  if (!url.ok()) return url;
  return std::unique_ptr<SmsProvider>(
      new TwilioSmsSender(options, *std::move(token), std::move(http)));
}

}  // namespace profile
