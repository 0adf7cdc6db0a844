#include "server/server.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/backends/redis_client.h"
#include "server/common/flag_error.h"
#include "server/common/log.h"
#include "server/service/wire.h"

namespace profile {
namespace {

constexpr char kServiceName[] = "profile.v1.ProfileService";
constexpr char kLivenessService[] = "liveness";

// The flags of transport security, identity and operations (issue 4).
absl::Status ValidateSecurityOptions(const ServerOptions& options) {
  absl::Status valid = options.auth.Validate();
  if (valid.ok()) valid = options.tls.Validate();
  if (!valid.ok()) return valid;
  // A listen address without a port fails to bind, with its own message.
  const bool has_port = options.listen.find(':') != std::string::npos;
  const bool open_trusted_header =
      options.auth.mode == "trusted_header" && has_port &&
      !IsLoopbackListen(options.listen) &&
      !options.allow_trusted_header_without_mtls;
  if (open_trusted_header && !options.tls.mutual()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth=trusted_header believes whatever x-user-id a caller sends, "
        "so it refuses --listen=", options.listen,
        " (not loopback) without mutual TLS: set --tls_client_ca_file (with "
        "--tls_cert_file and --tls_key_file) and --tls_client_allowed_names "
        "so only trusted callers connect, or use --auth=jwt, or, when a "
        "service mesh sidecar terminates mutual TLS in front of this port, "
        "pass --allow_trusted_header_without_mtls"));
  }
  if (open_trusted_header && options.tls.client_allowed_names.empty()) {
    // Any workload with a certificate of the CA could otherwise claim to
    // be any user.
    return InvalidFlagError(
        "tls_client_allowed_names",
        absl::StrCat(
            "is required with --auth=trusted_header on --listen=",
            options.listen,
            " (not loopback): list the DNS or URI names (e.g. SPIFFE IDs) of "
            "the client certificates allowed to set x-user-id, or pass "
            "--allow_trusted_header_without_mtls when a service mesh sidecar "
            "checks callers in front of this port"));
  }
  // gRPC takes it as int milliseconds: past ~596h it would wrap.
  if (options.max_connection_age < absl::ZeroDuration() ||
      (options.max_connection_age > absl::ZeroDuration() &&
       options.max_connection_age < absl::Seconds(1)) ||
      options.max_connection_age > absl::Hours(24)) {
    return InvalidFlagError("max_connection_age",
                            "must be 0 (never) or 1s to 24h");
  }
  return absl::OkStatus();
}

// The limits on what callers may hold (issue 6).
absl::Status ValidateResourceLimits(const ServerOptions& options) {
  if (options.max_request_bytes < 256 ||
      options.max_request_bytes > (size_t{4} << 20)) {
    return InvalidFlagError("max_request_bytes", "must be from 256 to 4194304");
  }
  if (options.max_metadata_bytes < 1024 ||
      options.max_metadata_bytes > (size_t{64} << 10)) {
    return InvalidFlagError("max_metadata_bytes", "must be from 1024 to 65536");
  }
  if (options.max_concurrent_streams < 1 ||
      options.max_concurrent_streams > 10000) {
    return InvalidFlagError("max_concurrent_streams", "must be from 1 to 10000");
  }
  if (options.memory_quota_bytes < (size_t{16} << 20)) {
    return InvalidFlagError("memory_quota_bytes", "must be at least 16 MiB (16777216)");
  }
  if (options.max_connection_idle < absl::ZeroDuration() ||
      (options.max_connection_idle > absl::ZeroDuration() &&
       options.max_connection_idle < absl::Seconds(1)) ||
      options.max_connection_idle > absl::Hours(24)) {
    return InvalidFlagError("max_connection_idle", "must be 0 (never) or 1s to 24h");
  }
  if (options.keepalive_time < absl::Seconds(10) ||
      options.keepalive_time > absl::Hours(2)) {
    return InvalidFlagError("keepalive_time", "must be from 10s to 2h");
  }
  if (options.keepalive_timeout < absl::Seconds(1) ||
      options.keepalive_timeout > absl::Minutes(10)) {
    return InvalidFlagError("keepalive_timeout", "must be from 1s to 10m");
  }
  if (options.handshake_timeout < absl::Milliseconds(100) ||
      options.handshake_timeout > absl::Minutes(2)) {
    return InvalidFlagError("handshake_timeout", "must be from 100ms to 2m");
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

// How much lower the send threads' CPU priority is than the rest of the
// server's: when many sends are under way on a busy machine, the callback
// threads (every other RPC, health checks) still get the CPU first.
constexpr int kSendThreadNice = 10;

}  // namespace

absl::Status ServerOptions::Validate() const {
  if (listen.empty()) return InvalidFlagError("listen", "must be host:port");
  absl::Status valid = ValidateSecurityOptions(*this);
  if (valid.ok()) valid = core.Validate();
  if (!valid.ok()) return valid;
  if (backend_threads < 1 || backend_threads > 1000) {
    return InvalidFlagError("backend_threads", "must be from 1 to 1000");
  }
  return ValidateResourceLimits(*this);
}

absl::StatusOr<std::unique_ptr<ProfileServer>> ProfileServer::Start(
    const ServerOptions& options, ServerOverrides overrides) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      NewServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  if (overrides.core.clock == nullptr) overrides.core.clock = SystemClock();

  std::unique_ptr<ProfileServer> s(new ProfileServer());
  absl::StatusOr<std::unique_ptr<Authenticator>> authenticator =
      NewAuthenticator(options.auth, overrides.core.clock);
  if (!authenticator.ok()) return authenticator.status();
  s->authenticator_ = *std::move(authenticator);
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<Metrics>> metrics =
        Metrics::Start(options.metrics_listen);
    if (!metrics.ok()) return metrics.status();
    s->metrics_ = *std::move(metrics);
    overrides.core.metrics = s->metrics_.get();
    overrides.core.sms_metrics = s->metrics_.get();
    overrides.core.notice_metrics = s->metrics_.get();
  }
  absl::StatusOr<std::unique_ptr<Core>> core =
      NewCore(options.core, std::move(overrides.core));
  if (!core.ok()) return core.status();
  s->core_ = *std::move(core);
  // Calls that may wait (a backend, a network SMS provider) run on this
  // bounded pool, never on gRPC's callback threads; the others run inline.
  const bool injected_executor = overrides.executor != nullptr;
  s->executor_ = overrides.executor != nullptr
                     ? std::move(overrides.executor)
                     : std::shared_ptr<Executor>(NewThreadPoolExecutor(
                           options.backend_threads, options.backend_queue));
  // Sends wait on SMS providers: they get threads of their own, started as
  // they are needed, up to --sms_max_in_flight, so that a slow provider
  // never starves the other calls.
  const int max_sends = options.core.sms.delivery.max_in_flight;
  s->send_executor_ = injected_executor
                          ? s->executor_
                          : std::shared_ptr<Executor>(NewThreadPoolExecutor(
                                max_sends, static_cast<size_t>(max_sends),
                                kSendThreadNice));
  CallerPolicy policy;
  policy.client_allowed_names = options.tls.client_allowed_names;
  policy.admin_allowed_names = options.tls.admin_allowed_names;
  policy.max_auth_age = options.auth.max_auth_age;
  policy.clock = s->core_->components().clock;
  s->service_ = std::make_unique<ProfileServiceImpl>(
      s->authenticator_.get(), &s->core_->phone_change(), s->executor_.get(),
      s->send_executor_.get(), std::move(policy));

  AdminPolicy admin_policy;
  admin_policy.allowed_names = options.tls.admin_allowed_names;
  if (options.auth.mode == "jwt") admin_policy.jwt = s->authenticator_.get();
  s->admin_service_ = std::make_unique<AdminServiceImpl>(
      &s->core_->admin(), s->executor_.get(), std::move(admin_policy));

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
  builder.RegisterService(s->admin_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     ": the address is invalid or in use"));
  }
  s->SetServing(true);
  if (s->metrics_ != nullptr) {
    TokenStore* tokens = s->core_->components().tokens.get();
    s->metrics_->SetLiveTokens([tokens] { return tokens->Size(); });
    NoticeQueue* notices = s->core_->components().users->notices();
    s->metrics_->SetNoticeBacklog([notices] { return notices->Backlog(); });
    SendLimiter* limiter = s->core_->components().limiter.get();
    s->metrics_->SetSuspendedRegions([limiter] {
      std::vector<std::string> regions;
      absl::StatusOr<std::vector<RegionSuspension>> suspended =
          limiter->SuspendedRegions();
      if (suspended.ok()) {
        for (RegionSuspension& region : *suspended) {
          regions.push_back(std::move(region.region));
        }
      }
      return regions;
    });
    if (RedisClient* redis = s->core_->redis(); redis != nullptr) {
      s->metrics_->SetRedisRoundTrips([redis] { return redis->RoundTrips(); });
    }
  }
  if (!options.health_listen.empty()) {
    absl::StatusOr<std::unique_ptr<HealthPort>> health = HealthPort::Start(
        options.health_listen, s->server_->InProcessChannel({}));
    if (!health.ok()) return health.status();
    s->health_port_ = *std::move(health);
  }
  if (s->core_->has_backends()) {
    s->CheckBackends();
    ProfileServer* server = s.get();
    s->backend_checker_ = std::make_unique<PeriodicTask>(
        options.backend_check_interval, [server] { server->CheckBackends(); });
  }
  return s;
}

void ProfileServer::CheckBackends() {
  absl::Status checked = core_->CheckBackends();
  if (!checked.ok()) {
    Log(LogLevel::kWarning, "a backend is unreachable",
        {{"error", checked.message()}});
  }
  const bool healthy = checked.ok();
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
