#include "server/flags/server_flags.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/common/flag_error.h"

namespace {

// The value of environment variable `name`, or "".
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve gRPC on (port 0: any free port)");
ABSL_FLAG(std::string, auth, "trusted_header",
          "how callers are identified: trusted_header (metadata x-user-id "
          "set by a trusted caller) or jwt (authorization: Bearer <JWT>, "
          "sub is the user id)");
ABSL_FLAG(std::string, jwt_secret_file, "",
          "--auth=jwt with HS256: file holding the shared secret (32+ bytes)");
ABSL_FLAG(std::string, jwt_public_key_file, "",
          "--auth=jwt with RS256 or ES256: PEM public key file");
ABSL_FLAG(std::string, jwt_jwks_file, "",
          "--auth=jwt with RS256 and ES256 keys by kid: JWK Set file "
          "({\"keys\":[...]}), read again when it changes");
ABSL_FLAG(std::string, jwt_issuer, "",
          "--auth=jwt (required): the iss every token must carry");
ABSL_FLAG(std::string, jwt_audience, "",
          "--auth=jwt (required): the aud every token must hold");
ABSL_FLAG(absl::Duration, jwt_max_lifetime, absl::Hours(24),
          "--auth=jwt: the longest a token may live (exp - iat; iat is "
          "required), 1m to 720h");
ABSL_FLAG(absl::Duration, max_auth_age, absl::ZeroDuration(),
          "how old the caller's sign-in (JWT auth_time, else iat; or "
          "metadata x-auth-time) may be for SendPhoneCode, "
          "UpdatePhoneVerification and UpdatePhone; 0s: not checked");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS on --listen; empty: plaintext");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates: mutual TLS, every client must present a "
          "certificate they signed");
ABSL_FLAG(std::string, tls_client_allowed_names, "",
          "with mutual TLS: comma-separated DNS names or URIs (SPIFFE IDs); "
          "a client certificate must carry one as a subject alternative "
          "name, else PERMISSION_DENIED 1003; empty: any the CA signed");
ABSL_FLAG(std::string, admin_allowed_names, "",
          "with mutual TLS: comma-separated DNS names or URIs of the client "
          "certificates that may call ProfileAdminService (support staff); "
          "empty: nobody by certificate (with --auth=jwt, tokens with the "
          "scope profile.admin still may)");
ABSL_FLAG(bool, allow_trusted_header_without_mtls, false,
          "DANGER: accept x-user-id on a non-loopback --listen without "
          "mutual TLS; only behind a mesh sidecar that terminates mTLS");
ABSL_FLAG(std::string, health_listen, "",
          "host:port of a plaintext port serving only grpc.health.v1 Check, "
          "for kubelet gRPC probes; empty: none");
ABSL_FLAG(std::string, metrics_listen, "",
          "IP:port serving Prometheus metrics at /metrics; empty: none");
ABSL_FLAG(absl::Duration, max_connection_age, absl::ZeroDuration(),
          "close client connections after this long (with a 30s grace) so "
          "clients re-resolve and spread over replicas; 0: never");
ABSL_FLAG(int64_t, max_request_bytes, 4096,
          "largest request body accepted; larger: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_metadata_bytes, 8192,
          "largest total request metadata (headers) accepted");
ABSL_FLAG(int32_t, max_concurrent_streams, 100,
          "calls in flight on one client connection");
ABSL_FLAG(int64_t, memory_quota_bytes, int64_t{256} << 20,
          "memory gRPC may use for all connections and calls together");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(5),
          "close a connection that had no call for this long; 0: never");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "ping a connection after this long without traffic");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close a connection whose ping is not acknowledged within this");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "close a connection that has not finished its handshake by then");
ABSL_FLAG(int32_t, code_length, 6, "digits in a texted code (4 to 10)");
ABSL_FLAG(absl::Duration, code_ttl, absl::Minutes(5),
          "how long a texted code stays valid");
ABSL_FLAG(absl::Duration, code_resend_interval, absl::Seconds(60),
          "cooldown between two codes to one phone for one purpose");
ABSL_FLAG(int32_t, max_codes_per_phone_per_hour, 10,
          "codes one phone may receive per hour");
ABSL_FLAG(int32_t, max_codes_per_user_per_hour, 20,
          "codes one user may request per hour");
ABSL_FLAG(int32_t, max_codes_per_ip_per_hour, 30,
          "codes requested per hour from one client address (metadata "
          "x-client-ip; an IPv6 address counts by its /64); no cap for "
          "calls without it");
ABSL_FLAG(int32_t, max_codes_per_region_per_hour, 0,
          "codes per hour to the numbers of one region, shared by every "
          "replica; 0: no cap");
ABSL_FLAG(int32_t, max_codes_per_hour, 0,
          "codes per hour for the whole service, shared by every replica; "
          "0: no cap");
ABSL_FLAG(int32_t, max_verifications_per_user_per_hour, 30,
          "UpdatePhoneVerification calls one user may make per hour");
ABSL_FLAG(int32_t, max_code_failures_per_day, 20,
          "wrong codes one user may enter for one phone per day, across "
          "codes");
ABSL_FLAG(int32_t, region_breaker_min_codes, 100,
          "the region breaker looks at a region once it was sent this many "
          "codes in its hour; 0: breaker off");
ABSL_FLAG(double, region_breaker_min_conversion, 0.1,
          "a region whose codes are verified less often than this share is "
          "suspended for an hour");
ABSL_FLAG(int32_t, max_code_attempts, 5,
          "wrong tries after which a texted code is burned");
ABSL_FLAG(std::string, test_phone_codes, "",
          "fixed codes for test numbers, E.164:code pairs separated by "
          "commas (no SMS, no cooldown, reusable); numbers in the reserved "
          "fictional ranges (+447700900000-999, +1 NXX 555 0100-0199) "
          "become valid in requests; off when empty");
ABSL_FLAG(std::string, sms_allowed_regions, "",
          "ISO 3166-1 alpha-2 region codes whose numbers may be texted a "
          "code, comma-separated (CN,US,GB); empty: every region; test "
          "numbers are exempt");
ABSL_FLAG(std::string, sms_sender, "log",
          "where codes go: a comma-separated chain tried in order, of log "
          "(the server log, local use only), outbox:PATH (one JSON object "
          "per line), webhook, twilio and aliyun");
ABSL_FLAG(std::string, code_verifier, "local",
          "who makes and checks codes: local (here, texted through "
          "--sms_sender) or twilio_verify (Twilio Verify)");
ABSL_FLAG(absl::Duration, sms_timeout, absl::Seconds(5),
          "the longest one attempt at an SMS provider may take");
ABSL_FLAG(int32_t, sms_attempts, 2,
          "attempts per SMS provider before the next one (1 to 10)");
ABSL_FLAG(int32_t, sms_breaker_failures, 5,
          "failed attempts in a row that open a provider's circuit breaker");
ABSL_FLAG(absl::Duration, sms_breaker_cooloff, absl::Seconds(30),
          "how long an open breaker skips its provider before one probe");
ABSL_FLAG(int32_t, sms_max_in_flight, 256,
          "SMS sends at once; beyond: UNAVAILABLE 2110 at once");
ABSL_FLAG(std::string, sms_ca_file, "",
          "PEM CA certificates trusted for SMS providers besides the "
          "system's");
ABSL_FLAG(std::string, sms_webhook_url, "",
          "webhook: the URL messages are POSTed to (https://, or http:// "
          "to a loopback address)");
ABSL_FLAG(std::string, sms_webhook_secret_file, "",
          "webhook: file of Standard Webhooks secrets, one whsec_<base64> "
          "per line; each signs every message");
ABSL_FLAG(std::string, twilio_api_url, "https://api.twilio.com",
          "twilio: the Programmable Messaging API");
ABSL_FLAG(std::string, twilio_account_sid, "",
          "twilio and twilio_verify: the account SID (AC...)");
ABSL_FLAG(std::string, twilio_auth_token_file, "",
          "twilio and twilio_verify: file holding the auth token "
          "($TWILIO_AUTH_TOKEN wins)");
ABSL_FLAG(std::string, twilio_from, "",
          "twilio: the sending number (or --twilio_messaging_service_sid)");
ABSL_FLAG(std::string, twilio_messaging_service_sid, "",
          "twilio: the messaging service (MG...) instead of --twilio_from");
ABSL_FLAG(std::string, twilio_verify_api_url, "https://verify.twilio.com",
          "twilio_verify: the Verify API");
ABSL_FLAG(std::string, twilio_verify_service_sid, "",
          "twilio_verify: the Verify service (VA...)");
ABSL_FLAG(std::string, aliyun_api_url, "https://dysmsapi.aliyuncs.com",
          "aliyun: the Dysmsapi endpoint");
ABSL_FLAG(std::string, aliyun_access_key_id, "", "aliyun: the AccessKey ID");
ABSL_FLAG(std::string, aliyun_access_key_secret_file, "",
          "aliyun: file holding the AccessKey secret "
          "($ALIYUN_ACCESS_KEY_SECRET wins)");
ABSL_FLAG(std::string, aliyun_sign_name, "",
          "aliyun: the approved signature name");
ABSL_FLAG(std::string, aliyun_template_code, "",
          "aliyun: the approved template (SMS_...), with a ${code} variable");
ABSL_FLAG(std::string, app_name, "Profile",
          "the app's name in every text message");
ABSL_FLAG(std::string, sms_origin, "",
          "a host name: texts end with the WebOTP line @HOST #CODE; empty: "
          "none");
ABSL_FLAG(std::string, sms_templates_file, "",
          "JSON file of text templates per language and purpose with {app}, "
          "{code}, {minutes}; empty: the built-in texts");
ABSL_FLAG(bool, verify_old_phone, true,
          "an account that has a phone must also verify it with a code");
ABSL_FLAG(bool, notify_old_phone, true,
          "text the phone a change replaced a notice with a revert token");
ABSL_FLAG(absl::Duration, revert_window, absl::Hours(168),
          "how long the revert token of a change stays valid (1s to 720h)");
ABSL_FLAG(absl::Duration, change_lock_after_revert, absl::Hours(24),
          "how long phone changes of an account stay locked after a revert "
          "(0s to 720h)");
ABSL_FLAG(std::string, revert_url_template, "",
          "the link in the notice that undoes a change, with {token} for the "
          "revert token (https://account.example.com/undo-phone?token="
          "{token}); empty: the notice shows the token");
ABSL_FLAG(absl::Duration, notice_max_age, absl::Hours(24),
          "a notice to an old phone not delivered by then is dropped and "
          "logged at error (1m to 720h)");
ABSL_FLAG(int32_t, max_reverts_per_ip_per_hour, 10,
          "RevertPhoneChange calls per client address (x-client-ip) per "
          "hour; calls without it share one budget");
ABSL_FLAG(absl::Duration, token_ttl, absl::Seconds(60),
          "how long an update-phone token stays valid");
ABSL_FLAG(int64_t, max_live_tokens, 1000000,
          "most update-phone tokens held at once");
ABSL_FLAG(absl::Duration, drain_delay, absl::ZeroDuration(),
          "on SIGTERM, time between NOT_SERVING and closing the listener, "
          "for load balancers to notice");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "on SIGTERM, time calls in flight get to finish");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(std::string, redis_url, "",
          "redis://[user][:password@]host:port[/db] for codes, tokens and "
          "limits (password also from $REDIS_PASSWORD); empty: in memory");
ABSL_FLAG(std::string, redis_key_prefix, "profile:",
          "prefix of every Redis key this service writes");
ABSL_FLAG(std::string, postgres_url, "",
          "postgresql://[user[:password]@]host[:port][,host2...]/db[?param="
          "value&...] for profiles, given to libpq as it is (sslmode, "
          "sslrootcert, ...); without a password in it, $POSTGRES_PASSWORD, "
          "else libpq's ~/.pgpass or $PGPASSFILE; empty: in memory");
ABSL_FLAG(bool, migrate_only, false,
          "bring the PostgreSQL schema up to date and exit (init container)");
ABSL_FLAG(absl::Duration, backend_timeout, absl::Seconds(2),
          "the longest a Redis or PostgreSQL call may take");
ABSL_FLAG(int32_t, backend_pool_size, 16, "connections per backend");
ABSL_FLAG(int32_t, backend_threads, 16,
          "threads running calls that may wait (Redis, PostgreSQL, a "
          "network SMS provider, the outbox file)");
ABSL_FLAG(std::string, code_secret_file, "",
          "file with the secret (32+ bytes) keying code digests, the same on "
          "every replica; required with --redis_url; empty: a random one "
          "per process");

namespace profile {
namespace {

// Negative sizes become 0, which the range checks refuse by flag name.
size_t Size(int64_t value) {
  return static_cast<size_t>(std::max<int64_t>(0, value));
}

}  // namespace

absl::Status ProgramOptions::Validate() const {
  if (drain_delay < absl::ZeroDuration() || drain_delay > absl::Minutes(5)) {
    return InvalidFlagError("drain_delay", "must be from 0s to 5m");
  }
  if (shutdown_grace < absl::ZeroDuration() ||
      shutdown_grace > absl::Minutes(5)) {
    return InvalidFlagError("shutdown_grace", "must be from 0s to 5m");
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgramOptions> ProgramOptionsFromFlags() {
  ProgramOptions program;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &program.log_level)) {
    return InvalidFlagError("log_level",
                            "must be debug, info, warning or error");
  }
  program.migrate_only = absl::GetFlag(FLAGS_migrate_only);
  program.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  program.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  absl::Status valid = program.Validate();
  if (!valid.ok()) return valid;

  ServerOptions& options = program.server;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.auth.mode = absl::GetFlag(FLAGS_auth);
  options.auth.jwt.secret_file = absl::GetFlag(FLAGS_jwt_secret_file);
  options.auth.jwt.public_key_file = absl::GetFlag(FLAGS_jwt_public_key_file);
  options.auth.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  options.auth.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  options.auth.jwt.jwks_file = absl::GetFlag(FLAGS_jwt_jwks_file);
  options.auth.jwt.max_lifetime = absl::GetFlag(FLAGS_jwt_max_lifetime);
  options.auth.max_auth_age = absl::GetFlag(FLAGS_max_auth_age);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  for (absl::string_view name : absl::StrSplit(
           absl::GetFlag(FLAGS_tls_client_allowed_names), ',',
           absl::SkipWhitespace())) {
    options.tls.client_allowed_names.emplace_back(
        absl::StripAsciiWhitespace(name));
  }
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_admin_allowed_names), ',',
                      absl::SkipWhitespace())) {
    options.tls.admin_allowed_names.emplace_back(
        absl::StripAsciiWhitespace(name));
  }
  options.allow_trusted_header_without_mtls =
      absl::GetFlag(FLAGS_allow_trusted_header_without_mtls);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_request_bytes = Size(absl::GetFlag(FLAGS_max_request_bytes));
  options.max_metadata_bytes = Size(absl::GetFlag(FLAGS_max_metadata_bytes));
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.memory_quota_bytes = Size(absl::GetFlag(FLAGS_memory_quota_bytes));
  options.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.backend_threads = absl::GetFlag(FLAGS_backend_threads);

  CoreOptions& core = options.core;
  PhoneChangeOptions& rules = core.phone_change;
  rules.code_length = absl::GetFlag(FLAGS_code_length);
  rules.code_ttl = absl::GetFlag(FLAGS_code_ttl);
  rules.max_code_attempts = absl::GetFlag(FLAGS_max_code_attempts);
  rules.token_ttl = absl::GetFlag(FLAGS_token_ttl);
  rules.verify_old_phone = absl::GetFlag(FLAGS_verify_old_phone);
  rules.notify_old_phone = absl::GetFlag(FLAGS_notify_old_phone);
  rules.revert_window = absl::GetFlag(FLAGS_revert_window);
  rules.change_lock_after_revert =
      absl::GetFlag(FLAGS_change_lock_after_revert);
  rules.send_limits.max_reverts_per_ip_per_hour =
      absl::GetFlag(FLAGS_max_reverts_per_ip_per_hour);
  core.notice_relay.max_age = absl::GetFlag(FLAGS_notice_max_age);
  for (absl::string_view region :
       absl::StrSplit(absl::GetFlag(FLAGS_sms_allowed_regions), ',',
                      absl::SkipWhitespace())) {
    rules.sms_allowed_regions.emplace_back(absl::StripAsciiWhitespace(region));
  }
  rules.send_limits.resend_interval = absl::GetFlag(FLAGS_code_resend_interval);
  rules.send_limits.max_per_phone_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_phone_per_hour);
  rules.send_limits.max_per_user_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_user_per_hour);
  rules.send_limits.max_per_ip_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_ip_per_hour);
  rules.send_limits.max_per_region_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_region_per_hour);
  rules.send_limits.max_per_hour = absl::GetFlag(FLAGS_max_codes_per_hour);
  rules.send_limits.max_verifications_per_user_per_hour =
      absl::GetFlag(FLAGS_max_verifications_per_user_per_hour);
  rules.send_limits.max_code_failures_per_day =
      absl::GetFlag(FLAGS_max_code_failures_per_day);
  rules.send_limits.region_breaker_min_codes =
      absl::GetFlag(FLAGS_region_breaker_min_codes);
  rules.send_limits.region_breaker_min_conversion =
      absl::GetFlag(FLAGS_region_breaker_min_conversion);
  core.code_verifier = absl::GetFlag(FLAGS_code_verifier);
  SmsOptions& sms = core.sms;
  sms.sender = absl::GetFlag(FLAGS_sms_sender);
  sms.ca_file = absl::GetFlag(FLAGS_sms_ca_file);
  sms.delivery.timeout = absl::GetFlag(FLAGS_sms_timeout);
  sms.delivery.attempts = absl::GetFlag(FLAGS_sms_attempts);
  sms.delivery.breaker_failures = absl::GetFlag(FLAGS_sms_breaker_failures);
  sms.delivery.breaker_cooloff = absl::GetFlag(FLAGS_sms_breaker_cooloff);
  sms.delivery.max_in_flight = absl::GetFlag(FLAGS_sms_max_in_flight);
  sms.webhook.url = absl::GetFlag(FLAGS_sms_webhook_url);
  sms.webhook.secret_file = absl::GetFlag(FLAGS_sms_webhook_secret_file);
  sms.twilio.api_url = absl::GetFlag(FLAGS_twilio_api_url);
  sms.twilio.account_sid = absl::GetFlag(FLAGS_twilio_account_sid);
  sms.twilio.auth_token = Env("TWILIO_AUTH_TOKEN");
  sms.twilio.auth_token_file = absl::GetFlag(FLAGS_twilio_auth_token_file);
  sms.twilio.from = absl::GetFlag(FLAGS_twilio_from);
  sms.twilio.messaging_service_sid =
      absl::GetFlag(FLAGS_twilio_messaging_service_sid);
  sms.twilio.verify_api_url = absl::GetFlag(FLAGS_twilio_verify_api_url);
  sms.twilio.verify_service_sid =
      absl::GetFlag(FLAGS_twilio_verify_service_sid);
  sms.aliyun.api_url = absl::GetFlag(FLAGS_aliyun_api_url);
  sms.aliyun.access_key_id = absl::GetFlag(FLAGS_aliyun_access_key_id);
  sms.aliyun.access_key_secret = Env("ALIYUN_ACCESS_KEY_SECRET");
  sms.aliyun.access_key_secret_file =
      absl::GetFlag(FLAGS_aliyun_access_key_secret_file);
  sms.aliyun.sign_name = absl::GetFlag(FLAGS_aliyun_sign_name);
  sms.aliyun.template_code = absl::GetFlag(FLAGS_aliyun_template_code);
  core.texts.app_name = absl::GetFlag(FLAGS_app_name);
  core.texts.origin = absl::GetFlag(FLAGS_sms_origin);
  core.texts.templates_file = absl::GetFlag(FLAGS_sms_templates_file);
  core.texts.revert_url_template = absl::GetFlag(FLAGS_revert_url_template);
  core.test_phone_codes = absl::GetFlag(FLAGS_test_phone_codes);
  core.code_secret_file = absl::GetFlag(FLAGS_code_secret_file);
  core.stores.max_live_tokens = Size(absl::GetFlag(FLAGS_max_live_tokens));
  core.stores.redis_url = absl::GetFlag(FLAGS_redis_url);
  core.stores.redis_key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  core.stores.postgres_url = absl::GetFlag(FLAGS_postgres_url);
  core.stores.backend_timeout = absl::GetFlag(FLAGS_backend_timeout);
  core.stores.backend_pool_size = absl::GetFlag(FLAGS_backend_pool_size);
  return program;
}

}  // namespace profile
