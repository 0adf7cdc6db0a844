#include "server/codes/twilio_verify_code_verifier.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/common/api_error.h"
#include "server/common/flag_error.h"
#include "server/common/language.h"
#include "server/common/log.h"

namespace profile {
namespace {

// Wrong codes that burn a remembered approval. Twilio itself answers any
// check after an approval with 404, so the approval is remembered only for
// the code that earned it: one different code forgets it, and the next
// check asks Twilio again.
constexpr int kApprovalAttempts = 1;

// Returns true if `sid` may go into a URL path as it is (see
// twilio_sms_sender.cc).
bool IsPlainSid(absl::string_view sid) {
  if (sid.empty()) return false;
  for (char c : sid) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Returns the `code` of a Twilio error body, or 0.
int64_t TwilioErrorCode(const nlohmann::json& json) {
  if (!json.is_object()) return 0;
  auto it = json.find("code");
  if (it == json.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

class TwilioVerifyCodeVerifier final : public CodeVerifier {
 public:
  TwilioVerifyCodeVerifier(TwilioVerifyOptions options, std::string auth_token,
                           std::shared_ptr<HttpClient> http,
                           std::shared_ptr<Clock> clock, CodeStore* approvals)
      : options_(std::move(options)),
        auth_token_(std::move(auth_token)),
        service_url_(absl::StrCat(
            absl::StripSuffix(options_.twilio.verify_api_url, "/"),
            "/v2/Services/", options_.twilio.verify_service_sid)),
        http_(std::move(http)),
        clock_(std::move(clock)),
        approvals_(approvals) {}

  bool Covers(absl::string_view) const override { return true; }

  bool Texts(absl::string_view) const override { return true; }

  bool SendMayBlock() const override { return true; }

  bool CheckMayBlock() const override { return true; }

  absl::Status Send(const CodeRequest& request) override {
    // The caller's deadline bounds the request, as it does the local
    // verifier's delivery.
    const absl::Duration timeout =
        std::min(options_.timeout, request.deadline - clock_->Now());
    absl::StatusOr<HttpResponse> response =
        timeout <= absl::ZeroDuration()
            ? absl::DeadlineExceededError("the caller's deadline passed")
            : Post("/Verifications",
                   {{"To", request.key.phone_e164},
                    {"Channel", "sms"},
                    {"Locale", LanguageTag(request.language)}},
                   request.trace, timeout);
    std::string error;
    if (!response.ok()) {
      error = std::string(response.status().message());
    } else if (response->status < 200 || response->status > 299) {
      error = absl::StrCat("twilio verify answered HTTP ", response->status,
                           ErrorDetail(response->body));
    }
    if (!error.empty()) {
      Log(LogLevel::kError, "sms delivery failed",
          {{"request_id", request.request_id},
           {"phone", MaskPhone(request.key.phone_e164)},
           {"provider", "twilio_verify"},
           {"error", error}},
          request.trace);
      return ApiError(ApiCode::kSmsFailed);
    }
    return absl::OkStatus();
  }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    const std::string digest = CodeDigest(options_.secret, key, code);
    absl::Status remembered = approvals_->Check(key, digest);
    // OK: this code was approved. 2001: another code was, and this one
    // never can be. Anything but "no live entry" is the store's answer.
    if (ApiCodeOf(remembered) != ApiCode::kCodeExpired) return remembered;

    absl::StatusOr<HttpResponse> response =
        Post("/VerificationCheck",
             {{"To", key.phone_e164}, {"Code", std::string(code)}}, {},
             options_.timeout);
    if (!response.ok()) {
      return Unavailable(key, response.status().message());
    }
    if (response->status == 404) return NoLiveCodeError();
    if (response->status == 429) {
      // 60202: max check attempts reached; the verification is burned.
      // Other 429s (60203, too many sends; rate limits) leave no code to
      // check either, as far as the caller can tell.
      return NoLiveCodeError();
    }
    if (response->status < 200 || response->status > 299) {
      return Unavailable(key, absl::StrCat("twilio verify answered HTTP ",
                                           response->status,
                                           ErrorDetail(response->body)));
    }
    const nlohmann::json json = nlohmann::json::parse(
        response->body, nullptr, /*allow_exceptions=*/false);
    std::string status;
    if (json.is_object()) {
      auto it = json.find("status");
      if (it != json.end() && it->is_string()) status = it->get<std::string>();
    }
    if (status != "approved") {
      // "pending": a wrong code, which Twilio counted. "canceled", "expired"
      // and others cannot be approved by any code: still a wrong code, as
      // the header's contract says; the next send starts afresh.
      if (status.empty()) {
        return Unavailable(key, "twilio verify answered without a status");
      }
      return ApiError(ApiCode::kWrongCode);
    }
    return approvals_->Put(key, digest, clock_->Now() + options_.code_ttl,
                           kApprovalAttempts);
  }

  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return approvals_->Consume(key, CodeDigest(options_.secret, key, code));
  }

 private:
  // POSTs `form` to the service's `path` with the account's credentials.
  absl::StatusOr<HttpResponse> Post(absl::string_view path,
                                    const HttpFields& form,
                                    const TraceContext& trace,
                                    absl::Duration timeout) {
    HttpRequest request;
    request.method = "POST";
    request.url = absl::StrCat(service_url_, path);
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    const std::string traceparent = trace.Traceparent();
    if (!traceparent.empty()) {
      request.headers.emplace_back("traceparent", traceparent);
    }
    request.body = FormEncode(form);
    request.basic_user = options_.twilio.account_sid;
    request.basic_password = auth_token_;
    request.timeout = timeout;
    return http_->Do(request);
  }

  // Returns " (twilio error <code>)" for a Twilio error body, or "". Twilio's
  // messages may quote the number, so only the code is kept.
  static std::string ErrorDetail(absl::string_view body) {
    const int64_t code = TwilioErrorCode(
        nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false));
    if (code == 0) return "";
    return absl::StrCat(" (twilio error ", code, ")");
  }

  // Logs why a check got no answer and returns UNAVAILABLE, api code 5003:
  // the caller may retry the same code.
  static absl::Status Unavailable(const CodeKey& key, absl::string_view why) {
    Log(LogLevel::kWarning, "twilio verify check failed",
        {{"phone", MaskPhone(key.phone_e164)}, {"error", why}});
    return ApiError(ApiCode::kUnavailable);
  }

  const TwilioVerifyOptions options_;
  const std::string auth_token_;
  const std::string service_url_;
  const std::shared_ptr<HttpClient> http_;
  const std::shared_ptr<Clock> clock_;
  CodeStore* const approvals_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CodeVerifier>> NewTwilioVerifyCodeVerifier(
    TwilioVerifyOptions options, std::shared_ptr<HttpClient> http,
    std::shared_ptr<Clock> clock, CodeStore* approvals) {
  const TwilioOptions& twilio = options.twilio;
  if (twilio.account_sid.empty()) {
    return InvalidFlagError("twilio_account_sid", "is required");
  }
  if (!IsPlainSid(twilio.account_sid)) {
    return InvalidFlagError("twilio_account_sid",
                            "must be letters and digits (AC...)");
  }
  absl::StatusOr<std::string> token = TwilioAuthToken(twilio);
  if (!token.ok()) return token.status();
  if (twilio.verify_service_sid.empty()) {
    return InvalidFlagError("twilio_verify_service_sid", "is required");
  }
  if (!IsPlainSid(twilio.verify_service_sid)) {
    return InvalidFlagError("twilio_verify_service_sid",
                            "must be letters and digits (VA...)");
  }
  absl::Status url =
      CheckProviderUrl("twilio_verify_api_url", twilio.verify_api_url);
  if (!url.ok()) return url;
  return std::unique_ptr<CodeVerifier>(new TwilioVerifyCodeVerifier(
      std::move(options), *std::move(token), std::move(http), std::move(clock),
      approvals));
}

}  // namespace profile
