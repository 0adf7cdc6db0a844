#include "server/sms/sms_factory.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/flag_error.h"
#include "server/sms/log_sms_sender.h"
#include "server/sms/outbox_sms_sender.h"

namespace profile {
namespace {

constexpr absl::string_view kKnown =
    "log, outbox:PATH, webhook, twilio or aliyun";

// The name a member goes by in logs and metrics ("outbox:PATH" is "outbox").
absl::string_view MemberName(absl::string_view member) {
  return absl::StartsWith(member, "outbox:") ? "outbox" : member;
}

bool Known(absl::string_view member) {
  return member == "log" || member == "webhook" || member == "twilio" ||
         member == "aliyun" ||
         (absl::StartsWith(member, "outbox:") && member.size() > 7);
}

absl::StatusOr<std::unique_ptr<SmsProvider>> NewProvider(
    absl::string_view member, const SmsOptions& options,
    const std::shared_ptr<HttpClient>& http) {
  // One entry per provider.
  if (member == "log") return NewSenderProvider("log", NewLogSmsSender());
  if (absl::StartsWith(member, "outbox:")) {
    absl::StatusOr<std::unique_ptr<SmsSender>> outbox =
        NewOutboxSmsSender(std::string(member.substr(7)));
    if (!outbox.ok()) return outbox.status();
    return NewSenderProvider("outbox", *std::move(outbox));
  }
  if (member == "webhook") return NewWebhookSmsSender(options.webhook, http);
  if (member == "twilio") return NewTwilioSmsSender(options.twilio, http);
  if (member == "aliyun") return NewAliyunSmsSender(options.aliyun, http);
  return InvalidFlagError("sms_sender", absl::StrCat("\"", member,
                                                     "\" is not ", kKnown));
}

}  // namespace

absl::Status SmsOptions::Validate() const {
  absl::flat_hash_set<absl::string_view> seen;
  for (absl::string_view member : absl::StrSplit(sender, ',')) {
    if (!Known(member)) {
      return InvalidFlagError(
          "sms_sender", absl::StrCat("\"", member, "\" is not ", kKnown,
                                     " (a comma-separated chain)"));
    }
    if (!seen.insert(MemberName(member)).second) {
      return InvalidFlagError("sms_sender",
                              absl::StrCat("names ", MemberName(member),
                                           " twice"));
    }
  }
  return delivery.Validate();
}

bool SmsOptions::UsesHttp() const {
  for (absl::string_view member : absl::StrSplit(sender, ',')) {
    if (member == "webhook" || member == "twilio" || member == "aliyun") {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::shared_ptr<HttpClient>> NewSmsHttpClient(
    const SmsOptions& options) {
  HttpClientOptions http;
  http.ca_file = options.ca_file;
  absl::StatusOr<std::unique_ptr<HttpClient>> client = HttpClient::New(http);
  if (!client.ok()) return client.status();
  return std::shared_ptr<HttpClient>(*std::move(client));
}

absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSender(
    const SmsOptions& options, std::shared_ptr<HttpClient> http,
    SmsMetrics* metrics) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  std::vector<std::unique_ptr<SmsProvider>> chain;
  for (absl::string_view member : absl::StrSplit(options.sender, ',')) {
    absl::StatusOr<std::unique_ptr<SmsProvider>> provider =
        NewProvider(member, options, http);
    if (!provider.ok()) return provider.status();
    chain.push_back(*std::move(provider));
  }
  return NewFailoverSmsSender(std::move(chain), options.delivery, metrics);
}

}  // namespace profile
