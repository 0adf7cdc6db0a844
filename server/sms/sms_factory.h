// Builds the SMS sender --sms_sender names: a comma-separated chain of
// providers tried in order, under the delivery policy of
// failover_sms_sender.h.
//
//   SmsOptions options;
//   options.sender = "twilio,webhook";
//   options.twilio = ...;  options.webhook = ...;
//   absl::StatusOr<std::unique_ptr<SmsSender>> sender =
//       NewSmsSender(options, metrics);
//
// Members: log, outbox:PATH, webhook, twilio, aliyun. Adding a provider: a
// file pair in this folder, its options in SmsOptions, a line in
// NewProvider() in sms_factory.cc, and its flags in
// server/flags/server_flags.cc.
#ifndef PROFILE_SERVER_SMS_SMS_FACTORY_H_
#define PROFILE_SERVER_SMS_SMS_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/http/http_client.h"
#include "server/sms/aliyun_sms_sender.h"
#include "server/sms/failover_sms_sender.h"
#include "server/sms/sms_metrics.h"
#include "server/sms/sms_sender.h"
#include "server/sms/twilio_sms_sender.h"
#include "server/sms/webhook_sms_sender.h"

namespace profile {

struct SmsOptions {
  // --sms_sender: the chain.
  std::string sender = "log";
  // --sms_ca_file: CAs trusted besides the system's, for every provider.
  std::string ca_file;
  SmsDeliveryOptions delivery;
  WebhookSmsOptions webhook;
  TwilioOptions twilio;
  AliyunSmsOptions aliyun;

  // Returns OK if the chain names known providers, each once, and the
  // delivery policy is in range; else INVALID_ARGUMENT naming the flag. A
  // provider's own options are checked when it is built.
  absl::Status Validate() const;

  // Returns true if a member of the chain makes HTTP requests.
  bool UsesHttp() const;
};

// Returns the HTTP client of `options` (its CAs).
absl::StatusOr<std::shared_ptr<HttpClient>> NewSmsHttpClient(
    const SmsOptions& options);

// Returns the sender of `options.sender`, its HTTP providers on `http`.
// `metrics` may be null; it must outlive the sender.
absl::StatusOr<std::unique_ptr<SmsSender>> NewSmsSender(
    const SmsOptions& options, std::shared_ptr<HttpClient> http,
    SmsMetrics* metrics);

}  // namespace profile

#endif  // PROFILE_SERVER_SMS_SMS_FACTORY_H_
