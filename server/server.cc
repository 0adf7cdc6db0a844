#include "server/server.h"

#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/backends/backend_url.h"
#include "server/backends/redis_stores.h"
#include "server/common/crypto.h"
#include "server/common/log.h"
#include "server/service/wire.h"

namespace profile {
namespace {

constexpr char kServiceName[] = "profile.v1.ProfileService";
constexpr char kLivenessService[] = "liveness";

absl::Status BadFlag(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", why));
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return BadFlag("code_secret_file", absl::StrCat("cannot read ", path));
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  if (secret.size() < 32) {
    return BadFlag("code_secret_file",
                   absl::StrCat(path, " must hold at least 32 bytes"));
  }
  return secret;
}

absl::StatusOr<PostgresOptions> PostgresOptionsFrom(
    const ServerOptions& options) {
  absl::string_view url = options.postgres_url;
  // Both spellings libpq accepts.
  const bool short_scheme = absl::StartsWith(url, "postgres://");
  absl::StatusOr<BackendUrl> parsed = ParseBackendUrl(
      url, short_scheme ? "postgres" : "postgresql", "POSTGRES_PASSWORD");
  if (!parsed.ok()) return BadFlag("postgres_url", parsed.status().message());
  if (parsed->database.empty()) {
    return BadFlag("postgres_url", "must name a database: .../dbname");
  }
  return PostgresOptions{*parsed, options.backend_timeout,
                         options.backend_pool_size};
}

// The flags of transport security, identity and operations (issue 4).
absl::Status ValidateSecurityOptions(const ServerOptions& options) {
  if (options.auth != "trusted_header" && options.auth != "jwt") {
    return BadFlag("auth", "must be trusted_header or jwt");
  }
  const bool jwt_flags =
      !options.jwt.secret_file.empty() || !options.jwt.public_key_file.empty();
  if (options.auth != "jwt" && jwt_flags) {
    return BadFlag("jwt_secret_file",
                   "and --jwt_public_key_file need --auth=jwt");
  }
  if (options.auth == "jwt" &&
      options.jwt.secret_file.empty() == options.jwt.public_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--auth=jwt needs exactly one of --jwt_secret_file (HS256) and "
        "--jwt_public_key_file (RS256 or ES256)");
  }
  absl::Status tls = ValidateTlsOptions(options.tls);
  if (!tls.ok()) return tls;
  // A listen address without a port fails to bind, with its own message.
  const bool has_port = options.listen.find(':') != std::string::npos;
  if (options.auth == "trusted_header" && has_port && !options.tls.mutual() &&
      !IsLoopbackListen(options.listen) &&
      !options.allow_trusted_header_without_mtls) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth=trusted_header believes whatever x-user-id a caller sends, "
        "so it refuses --listen=", options.listen,
        " (not loopback) without mutual TLS: set --tls_client_ca_file (with "
        "--tls_cert_file and --tls_key_file) so only trusted callers "
        "connect, or use --auth=jwt, or, when a service mesh sidecar "
        "terminates mutual TLS in front of this port, pass "
        "--allow_trusted_header_without_mtls"));
  }
  if (options.max_connection_age < absl::ZeroDuration() ||
      (options.max_connection_age > absl::ZeroDuration() &&
       options.max_connection_age < absl::Seconds(1))) {
    return BadFlag("max_connection_age", "must be 0 (never) or at least 1s");
  }
  return absl::OkStatus();
}

// The limits on what callers may hold (issue 6).
absl::Status ValidateResourceLimits(const ServerOptions& options) {
  if (options.max_request_bytes < 256 ||
      options.max_request_bytes > (size_t{4} << 20)) {
    return BadFlag("max_request_bytes", "must be from 256 to 4194304");
  }
  if (options.max_metadata_bytes < 1024 ||
      options.max_metadata_bytes > (size_t{64} << 10)) {
    return BadFlag("max_metadata_bytes", "must be from 1024 to 65536");
  }
  if (options.max_concurrent_streams < 1 ||
      options.max_concurrent_streams > 10000) {
    return BadFlag("max_concurrent_streams", "must be from 1 to 10000");
  }
  if (options.memory_quota_bytes < (size_t{16} << 20)) {
    return BadFlag("memory_quota_bytes", "must be at least 16 MiB (16777216)");
  }
  if (options.max_connection_idle < absl::ZeroDuration() ||
      (options.max_connection_idle > absl::ZeroDuration() &&
       options.max_connection_idle < absl::Seconds(1)) ||
      options.max_connection_idle > absl::Hours(24)) {
    return BadFlag("max_connection_idle", "must be 0 (never) or 1s to 24h");
  }
  if (options.keepalive_time < absl::Seconds(10) ||
      options.keepalive_time > absl::Hours(2)) {
    return BadFlag("keepalive_time", "must be from 10s to 2h");
  }
  if (options.keepalive_timeout < absl::Seconds(1) ||
      options.keepalive_timeout > absl::Minutes(10)) {
    return BadFlag("keepalive_timeout", "must be from 1s to 10m");
  }
  if (options.handshake_timeout < absl::Milliseconds(100) ||
      options.handshake_timeout > absl::Minutes(2)) {
    return BadFlag("handshake_timeout", "must be from 100ms to 2m");
  }
  return absl::OkStatus();
}

int Millis(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

// Applies the resource limits to `builder`.
void SetResourceLimits(const ServerOptions& options,
                       grpc::ServerBuilder& builder) {
  // gRPC answers a larger body with RESOURCE_EXHAUSTED before any handler
  // runs; requests of this API are a few hundred bytes.
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_request_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             static_cast<int>(options.max_metadata_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams);
  grpc::ResourceQuota quota("profile_server");
  quota.Resize(options.memory_quota_bytes);
  builder.SetResourceQuota(quota);
  if (options.max_connection_idle > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               Millis(options.max_connection_idle));
  }
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Millis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(options.keepalive_timeout));
  // Clients may keep idle connections alive with pings, but no more often
  // than kMinClientPingInterval; a client that pings faster is sent GOAWAY
  // after kMaxPingStrikes bad pings (a ping flood costs the server work).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(kMinClientPingInterval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kMaxPingStrikes);
  // A connection that never completes its handshake (slowloris) is closed.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(options.handshake_timeout));
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& options) {
  const PhoneChangeOptions& pc = options.phone_change;
  if (options.listen.empty()) return BadFlag("listen", "must be host:port");
  absl::Status security = ValidateSecurityOptions(options);
  if (!security.ok()) return security;
  if (pc.code_length < 4 || pc.code_length > 10) {
    return BadFlag("code_length", "must be from 4 to 10");
  }
  if (pc.code_ttl <= absl::ZeroDuration() || pc.code_ttl > absl::Hours(24)) {
    return BadFlag("code_ttl", "must be over 0 and at most 24h");
  }
  if (pc.max_code_attempts < 1 || pc.max_code_attempts > 100) {
    return BadFlag("max_code_attempts", "must be from 1 to 100");
  }
  if (pc.token_ttl < absl::Seconds(1) || pc.token_ttl > absl::Hours(1)) {
    return BadFlag("token_ttl", "must be from 1s to 1h");
  }
  if (pc.send_limits.resend_interval < absl::ZeroDuration() ||
      pc.send_limits.resend_interval > absl::Hours(1)) {
    return BadFlag("code_resend_interval", "must be from 0s to 1h");
  }
  if (pc.send_limits.max_per_phone_per_hour < 1) {
    return BadFlag("max_codes_per_phone_per_hour", "must be at least 1");
  }
  if (pc.send_limits.max_per_user_per_hour < 1) {
    return BadFlag("max_codes_per_user_per_hour", "must be at least 1");
  }
  if (options.max_live_tokens < 1) {
    return BadFlag("max_live_tokens", "must be at least 1");
  }
  if (options.sweep_interval <= absl::ZeroDuration()) {
    return BadFlag("sweep_interval", "must be over 0");
  }
  if (options.backend_timeout < absl::Milliseconds(10) ||
      options.backend_timeout > absl::Minutes(1)) {
    return BadFlag("backend_timeout", "must be from 10ms to 1m");
  }
  if (options.backend_pool_size < 1 || options.backend_pool_size > 1000) {
    return BadFlag("backend_pool_size", "must be from 1 to 1000");
  }
  if (options.backend_threads < 1 || options.backend_threads > 1000) {
    return BadFlag("backend_threads", "must be from 1 to 1000");
  }
  if (options.redis_key_prefix.size() > 64) {
    return BadFlag("redis_key_prefix", "must be at most 64 bytes");
  }
  return ValidateResourceLimits(options);
}

absl::Status MigrateOnly(const ServerOptions& options) {
  if (options.postgres_url.empty()) {
    return BadFlag("migrate_only", "needs --postgres_url");
  }
  absl::StatusOr<PostgresOptions> postgres = PostgresOptionsFrom(options);
  if (!postgres.ok()) return postgres.status();
  return MigratePostgres(*postgres);
}

absl::StatusOr<std::unique_ptr<ProfileServer>> ProfileServer::Start(
    const ServerOptions& options, std::shared_ptr<Clock> clock) {
  absl::Status valid = ValidateServerOptions(options);
  if (!valid.ok()) return valid;
  absl::StatusOr<absl::flat_hash_map<std::string, std::string>> test_codes =
      ParseTestPhoneCodes(options.test_phone_codes);
  if (!test_codes.ok()) return test_codes.status();
  absl::StatusOr<std::unique_ptr<SmsSender>> sms =
      NewSmsSenderFromSpec(options.sms_sender);
  if (!sms.ok()) return sms.status();

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      NewServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<ProfileServer> s(new ProfileServer());
  s->clock_ = std::move(clock);
  s->sms_ = *std::move(sms);
  if (options.auth == "jwt") {
    absl::StatusOr<std::unique_ptr<Authenticator>> jwt =
        NewJwtAuthenticatorFromFlags(options.jwt, s->clock_);
    if (!jwt.ok()) return jwt.status();
    s->authenticator_ = *std::move(jwt);
  } else {
    s->authenticator_ = NewTrustedHeaderAuthenticator();
  }
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<Metrics>> metrics =
        Metrics::Start(options.metrics_listen);
    if (!metrics.ok()) return metrics.status();
    s->metrics_ = *std::move(metrics);
  }
  absl::StatusOr<std::string> code_secret = s->BuildStores(options);
  if (!code_secret.ok()) return code_secret.status();

  s->test_numbers_ = NewFixedCodeValidator(*test_codes);
  std::vector<std::unique_ptr<CodeValidator>> chain;
  chain.push_back(NewFixedCodeValidator(*std::move(test_codes)));
  chain.push_back(NewStoredCodeValidator(s->codes_.get(), *code_secret));
  s->validator_ = NewCodeValidatorChain(std::move(chain));

  PhoneChangeDeps deps;
  deps.clock = s->clock_;
  deps.users = s->users_.get();
  deps.tokens = s->tokens_.get();
  deps.codes = s->codes_.get();
  deps.validator = s->validator_.get();
  deps.limiter = s->limiter_.get();
  deps.sms = s->sms_.get();
  deps.code_secret = *code_secret;
  deps.test_numbers = s->test_numbers_.get();
  deps.metrics = s->metrics_.get();
  s->core_ = std::make_unique<PhoneChange>(options.phone_change, deps);
  // Network backends block: their calls run on a pool, never on gRPC's
  // callback threads.
  s->executor_ = s->redis_ != nullptr || s->postgres_ != nullptr
                     ? NewThreadPoolExecutor(options.backend_threads,
                                             options.backend_queue)
                     : NewInlineExecutor();
  s->service_ = std::make_unique<ProfileServiceImpl>(
      s->authenticator_.get(), s->core_.get(), s->executor_.get());

  RouteProtobufLogs();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A second server on the same port must fail, not share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  SetResourceLimits(options, builder);
  if (options.max_connection_age > absl::ZeroDuration()) {
    // Kubernetes balances connections, not calls: closing old ones makes
    // clients re-resolve and spread over new replicas.
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age)));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(kMaxConnectionAgeGrace)));
  }
  if (s->metrics_ != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(s->metrics_->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  builder.AddListeningPort(options.listen, *credentials, &s->port_);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     ": the address is invalid or in use"));
  }
  s->SetServing(true);
  if (s->metrics_ != nullptr) {
    TokenStore* tokens = s->tokens_.get();
    s->metrics_->SetLiveTokens([tokens] { return tokens->Size(); });
  }
  if (!options.health_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HealthPort>> health = HealthPort::Start(
        options.health_listen, s->server_->InProcessChannel({}));
    if (!health.ok()) return health.status();
    s->health_port_ = *std::move(health);
  }
  if (s->redis_ != nullptr || s->postgres_ != nullptr) {
    s->CheckBackends();
    ProfileServer* server = s.get();
    s->backend_checker_ = std::make_unique<PeriodicTask>(
        options.backend_check_interval, [server] { server->CheckBackends(); });
  }
  return s;
}

absl::StatusOr<std::string> ProfileServer::BuildStores(
    const ServerOptions& options) {
  std::string code_secret;
  if (!options.code_secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        ReadSecretFile(options.code_secret_file);
    if (!secret.ok()) return secret.status();
    code_secret = *std::move(secret);
  }

  if (options.redis_url.empty()) {
    InMemoryTokenStoreOptions token_options;
    token_options.max_live_tokens = options.max_live_tokens;
    token_options.sweep_interval = options.sweep_interval;
    if (metrics_ != nullptr) {
      Metrics* metrics = metrics_.get();
      token_options.on_expired = [metrics](size_t n) {
        metrics->TokensExpired(n);
      };
    }
    tokens_ = NewInMemoryTokenStore(clock_, token_options);
    codes_ = NewInMemoryCodeStore(clock_, {1000000, options.sweep_interval});
    limiter_ = NewInMemorySendLimiter(
        clock_,
        {options.phone_change.send_limits, 1000000, options.sweep_interval});
  } else {
    absl::StatusOr<BackendUrl> url =
        ParseBackendUrl(options.redis_url, "redis", "REDIS_PASSWORD");
    if (!url.ok()) return BadFlag("redis_url", url.status().message());
    redis_ = RedisClient::Create(
        {*url, options.backend_timeout, options.backend_pool_size});
    tokens_ = NewRedisTokenStore(redis_.get(), options.redis_key_prefix,
                                 clock_, options.max_live_tokens);
    codes_ = NewRedisCodeStore(redis_.get(), options.redis_key_prefix, clock_);
    limiter_ = NewRedisSendLimiter(redis_.get(), options.redis_key_prefix,
                                   options.phone_change.send_limits);
    if (code_secret.empty()) {
      // Every replica must key codes alike; without a file, they agree
      // through Redis.
      absl::StatusOr<std::string> shared =
          SharedCodeSecret(redis_.get(), options.redis_key_prefix);
      if (!shared.ok()) {
        return absl::UnavailableError(absl::StrCat(
            "cannot read the shared code secret from Redis at ",
            url->Redacted(), " (give --code_secret_file to start without "
            "Redis): ", shared.status().message()));
      }
      code_secret = *std::move(shared);
    }
  }
  // The secret that keys code digests lives only in this process unless
  // replicas must share it: a code store dump alone cannot be brute-forced.
  if (code_secret.empty()) code_secret = RandomBytes(32);

  if (options.postgres_url.empty()) {
    users_ = NewInMemoryUserStore();
  } else {
    absl::StatusOr<PostgresOptions> postgres = PostgresOptionsFrom(options);
    if (!postgres.ok()) return postgres.status();
    absl::Status migrated = MigratePostgres(*postgres);
    if (!migrated.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot migrate the PostgreSQL schema at ",
                       postgres->url.Redacted(), ": ", migrated.message()));
    }
    std::unique_ptr<PostgresUserStore> users = NewPostgresUserStore(*postgres);
    postgres_ = users.get();
    users_ = std::move(users);
  }
  return code_secret;
}

void ProfileServer::CheckBackends() {
  bool healthy = true;
  if (redis_ != nullptr) {
    absl::Status pinged = redis_->Ping();
    if (!pinged.ok()) {
      healthy = false;
      Log(LogLevel::kWarning, "redis is unreachable",
          {{"error", pinged.message()}});
    }
  }
  if (postgres_ != nullptr) {
    absl::Status pinged = postgres_->Ping();
    if (!pinged.ok()) {
      healthy = false;
      Log(LogLevel::kWarning, "postgres is unreachable",
          {{"error", pinged.message()}});
    }
  }
  if (healthy != backends_healthy_.exchange(healthy)) {
    Log(healthy ? LogLevel::kInfo : LogLevel::kWarning,
        healthy ? "backends are reachable: serving"
                : "a backend is unreachable: not serving");
  }
  if (!draining_.load()) SetServing(healthy);
}

ProfileServer::~ProfileServer() {
  if (server_ != nullptr && !shut_down_) Shutdown(absl::ZeroDuration());
}

void ProfileServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health =
      server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
  health->SetServingStatus(kLivenessService, !shut_down_);
}

void ProfileServer::Drain() {
  draining_ = true;
  SetServing(false);
}

void ProfileServer::Shutdown(absl::Duration grace) {
  backend_checker_.reset();
  draining_ = true;
  shut_down_ = true;
  SetServing(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  if (health_port_ != nullptr) health_port_->Shutdown();
}

}  // namespace profile
