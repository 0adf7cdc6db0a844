// profile_server: serves profile.v1.ProfileService.
//
//   build/server/profile_server --listen=127.0.0.1:50051
//       --test_phone_codes=+8613800138000:246810
//
// Flags may also come from a file: --flagfile=/etc/profile/flags.
// SIGTERM or SIGINT: health goes NOT_SERVING, --drain_delay passes (so load
// balancers stop routing here), calls in flight get --shutdown_grace to
// finish, and the process exits 0.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/support/log.h"
#include "server/common/log.h"
#include "server/server.h"

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
ABSL_FLAG(std::string, jwt_issuer, "",
          "--auth=jwt: the iss every token must carry; empty: not checked");
ABSL_FLAG(std::string, jwt_audience, "",
          "--auth=jwt: the aud every token must hold; empty: not checked");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS on --listen; empty: plaintext");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates: mutual TLS, every client must present a "
          "certificate they signed");
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
ABSL_FLAG(int32_t, max_code_attempts, 5,
          "wrong tries after which a texted code is burned");
ABSL_FLAG(std::string, test_phone_codes, "",
          "fixed codes for test numbers, E.164:code pairs separated by "
          "commas (no SMS, no cooldown, reusable); off when empty");
ABSL_FLAG(std::string, sms_sender, "log",
          "where codes go: log (the server log, local use only) or "
          "outbox:PATH (one JSON object per line)");
ABSL_FLAG(bool, verify_old_phone, false,
          "an account that has a phone must also verify it with a code");
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
          "postgresql://user[:password]@host:port/db for profiles (password "
          "also from $POSTGRES_PASSWORD); empty: in memory");
ABSL_FLAG(bool, migrate_only, false,
          "bring the PostgreSQL schema up to date and exit (init container)");
ABSL_FLAG(absl::Duration, backend_timeout, absl::Seconds(2),
          "the longest a Redis or PostgreSQL call may take");
ABSL_FLAG(int32_t, backend_pool_size, 16, "connections per backend");
ABSL_FLAG(int32_t, backend_threads, 16,
          "threads running calls that wait on a backend");
ABSL_FLAG(std::string, code_secret_file, "",
          "file with the secret (32+ bytes) keying code digests, the same on "
          "every replica; empty: per process, or shared through Redis");

namespace profile {
namespace {

// gRPC's own log lines go into the JSON log too.
void GrpcLog(gpr_log_func_args* args) {
  const LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR
                             ? LogLevel::kError
                             : args->severity == GPR_LOG_SEVERITY_INFO
                                   ? LogLevel::kInfo
                                   : LogLevel::kDebug;
  Log(level, args->message,
      {{"source", absl::StrCat(args->file, ":", args->line)}});
}

int Fail(absl::string_view message) {
  std::fprintf(stderr, "profile_server: %.*s\n",
               static_cast<int>(message.size()), message.data());
  return 1;
}

int Run(int argc, char** argv) {
  // Debian builds Abseil with mutex deadlock detection on: every
  // absl::Mutex lock, gRPC's own included, would take one global lock and
  // update a graph (5% of server CPU, and contention across cores).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "Serves profile.v1.ProfileService, the phone-change API.\n"
      "Usage: profile_server [--flag=value ...] [--flagfile=FILE]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fail(absl::StrCat("unexpected argument \"", positional[1],
                             "\"; flags look like --name=value"));
  }

  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return Fail("--log_level must be debug, info, warning or error");
  }
  SetMinLogLevel(level);
  gpr_set_log_function(&GrpcLog);
  if (absl::GetFlag(FLAGS_max_live_tokens) < 1) {
    return Fail("--max_live_tokens must be at least 1");
  }
  if (absl::GetFlag(FLAGS_drain_delay) < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_shutdown_grace) < absl::ZeroDuration()) {
    return Fail("--drain_delay and --shutdown_grace must not be negative");
  }

  ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.auth = absl::GetFlag(FLAGS_auth);
  options.jwt.secret_file = absl::GetFlag(FLAGS_jwt_secret_file);
  options.jwt.public_key_file = absl::GetFlag(FLAGS_jwt_public_key_file);
  options.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  options.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.allow_trusted_header_without_mtls =
      absl::GetFlag(FLAGS_allow_trusted_header_without_mtls);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  // Negative sizes become 0, which the range checks refuse by flag name.
  options.max_request_bytes = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_max_request_bytes)));
  options.max_metadata_bytes = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_max_metadata_bytes)));
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.memory_quota_bytes = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_memory_quota_bytes)));
  options.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.phone_change.code_length = absl::GetFlag(FLAGS_code_length);
  options.phone_change.code_ttl = absl::GetFlag(FLAGS_code_ttl);
  options.phone_change.max_code_attempts =
      absl::GetFlag(FLAGS_max_code_attempts);
  options.phone_change.token_ttl = absl::GetFlag(FLAGS_token_ttl);
  options.phone_change.verify_old_phone =
      absl::GetFlag(FLAGS_verify_old_phone);
  options.phone_change.send_limits.resend_interval =
      absl::GetFlag(FLAGS_code_resend_interval);
  options.phone_change.send_limits.max_per_phone_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_phone_per_hour);
  options.phone_change.send_limits.max_per_user_per_hour =
      absl::GetFlag(FLAGS_max_codes_per_user_per_hour);
  options.sms_sender = absl::GetFlag(FLAGS_sms_sender);
  options.test_phone_codes = absl::GetFlag(FLAGS_test_phone_codes);
  options.max_live_tokens =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_live_tokens));
  options.redis_url = absl::GetFlag(FLAGS_redis_url);
  options.redis_key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  options.postgres_url = absl::GetFlag(FLAGS_postgres_url);
  options.backend_timeout = absl::GetFlag(FLAGS_backend_timeout);
  options.backend_pool_size = absl::GetFlag(FLAGS_backend_pool_size);
  options.backend_threads = absl::GetFlag(FLAGS_backend_threads);
  options.code_secret_file = absl::GetFlag(FLAGS_code_secret_file);

  if (absl::GetFlag(FLAGS_migrate_only)) {
    absl::Status migrated = MigrateOnly(options);
    if (!migrated.ok()) return Fail(migrated.message());
    Log(LogLevel::kInfo, "schema migrated");
    return 0;
  }

  // Block the stop signals before gRPC starts its threads, so that only
  // sigwait() below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ProfileServer>> server =
      ProfileServer::Start(options);
  if (!server.ok()) return Fail(server.status().message());
  if (options.sms_sender == "log") {
    Log(LogLevel::kWarning,
        "--sms_sender=log writes verification codes to this log: for local "
        "use only, never in production");
  }
  if (options.allow_trusted_header_without_mtls &&
      options.auth == "trusted_header" && !options.tls.mutual()) {
    Log(LogLevel::kWarning,
        "--allow_trusted_header_without_mtls: x-user-id is believed from "
        "any caller that reaches this port; only safe behind a sidecar "
        "that terminates mutual TLS");
  }
  const std::string port = absl::StrCat((*server)->port());
  Log(LogLevel::kInfo, "serving",
      {{"listen", options.listen},
       {"port", port},
       {"health_port", absl::StrCat((*server)->health_port())},
       {"metrics_port", absl::StrCat((*server)->metrics_port())},
       {"tls", !options.tls.enabled()  ? "off"
               : options.tls.mutual() ? "mutual"
                                       : "on"},
       {"auth", options.auth},
       {"startup_ms",
        absl::StrCat(absl::ToDoubleMilliseconds(absl::Now() - start))}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo, "stopping",
      {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*server)->Drain();
  absl::SleepFor(absl::GetFlag(FLAGS_drain_delay));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace profile

int main(int argc, char** argv) { return profile::Run(argc, argv); }
