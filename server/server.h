// ProfileServer: the whole service, assembled from ServerOptions and serving
// on a socket.
//
//   ServerOptions options;              // filled from flags by main.cc
//   options.listen = "127.0.0.1:0";     // port 0: any free port
//   auto server = ProfileServer::Start(options);
//   if (!server.ok()) ...;              // a bad option or a busy port
//   int port = (*server)->port();
//   ...
//   (*server)->Shutdown(absl::Seconds(10));
//
// The server runs the gRPC callback API, the grpc.health.v1 service (overall
// "" and "profile.v1.ProfileService") and server reflection.
//
// Thread-safety: Start() returns a running server; SetServing() and
// Shutdown() may be called from any thread, Shutdown() once.
#ifndef PROFILE_SERVER_SERVER_H_
#define PROFILE_SERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/auth/authenticator.h"
#include "server/auth/jwt_authenticator.h"
#include "server/backends/postgres_user_store.h"
#include "server/backends/redis_client.h"
#include "server/codes/code_store.h"
#include "server/codes/code_validator.h"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/common/periodic.h"
#include "server/core/phone_change.h"
#include "server/health/health_port.h"
#include "server/limits/send_limiter.h"
#include "server/metrics/metrics.h"
#include "server/service/profile_service.h"
#include "server/sms/sms_sender.h"
#include "server/tls/tls_credentials.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one.
  std::string listen = "127.0.0.1:50051";
  // "trusted_header" (metadata x-user-id) or "jwt" (see `jwt`).
  std::string auth = "trusted_header";
  // --auth=jwt: the key file and the expected claims.
  JwtFlags jwt;
  // TLS or mutual TLS on `listen`; plaintext when empty.
  TlsOptions tls;
  // --auth=trusted_header on a non-loopback `listen` without mutual TLS is
  // refused unless this is set (a mesh sidecar terminates mTLS).
  bool allow_trusted_header_without_mtls = false;
  // host:port of a plaintext port answering only grpc.health.v1 Check (for
  // kubelet probes); empty: none.
  std::string health_listen;
  // IP:port serving Prometheus text at /metrics; empty: none.
  std::string metrics_listen;
  // Connections older than this are closed (GOAWAY, then a grace of
  // kMaxConnectionAgeGrace) so clients re-resolve and spread; zero: never.
  absl::Duration max_connection_age = absl::ZeroDuration();
  // Resource limits (issue 6): what one caller, or many idle or slow ones,
  // may hold. A request body over `max_request_bytes` is RESOURCE_EXHAUSTED
  // from gRPC itself; so is request metadata over `max_metadata_bytes`.
  size_t max_request_bytes = 4096;
  size_t max_metadata_bytes = 8192;
  // Calls in flight on one connection; more wait for the client to retry.
  int max_concurrent_streams = 100;
  // Memory gRPC may use for every connection and call together; past it
  // new calls are refused with RESOURCE_EXHAUSTED.
  size_t memory_quota_bytes = size_t{256} << 20;
  // A connection with no call for this long is closed (GOAWAY); zero: never.
  absl::Duration max_connection_idle = absl::Minutes(5);
  // The server pings every connection after this long without traffic and
  // closes it if no ack comes within `keepalive_timeout`: dead peers do not
  // hold connections.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // A connection must finish its HTTP/2 (and TLS) handshake within this.
  absl::Duration handshake_timeout = absl::Seconds(10);
  PhoneChangeOptions phone_change;
  // "log" or "outbox:PATH".
  std::string sms_sender = "log";
  // "+8613800138000:246810,..." (E.164:code pairs); empty for none.
  std::string test_phone_codes;
  size_t max_live_tokens = 1000000;
  // How often expired tokens, codes and limit windows are swept.
  absl::Duration sweep_interval = absl::Seconds(1);

  // Backends. Empty URLs keep that state in this process's memory.
  // redis://[user][:password@]host:port[/db]: codes, tokens and limits.
  std::string redis_url;
  std::string redis_key_prefix = "profile:";
  // postgresql://user[:password]@host:port/db: profiles.
  std::string postgres_url;
  // The longest any backend call may take.
  absl::Duration backend_timeout = absl::Seconds(2);
  // Connections per backend.
  int backend_pool_size = 16;
  // Threads that run calls which wait on a backend, and how many calls may
  // wait for one.
  int backend_threads = 16;
  size_t backend_queue = 4096;
  // A file holding the secret that keys code digests (32+ bytes), the same
  // on every replica. Empty: a random one per process, or with Redis one
  // shared through Redis.
  std::string code_secret_file;
  // How often backends are pinged for the health status.
  absl::Duration backend_check_interval = absl::Seconds(1);
};

// What a connection past --max_connection_age gets to finish its calls.
inline constexpr absl::Duration kMaxConnectionAgeGrace = absl::Seconds(30);

// The shortest interval between pings a client may send on a connection
// without calls, and how many faster pings it gets before GOAWAY.
inline constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);
inline constexpr int kMaxPingStrikes = 2;

// Returns OK if every option is in range, else INVALID_ARGUMENT naming the
// flag.
absl::Status ValidateServerOptions(const ServerOptions& options);

// Brings the PostgreSQL schema of --postgres_url up to date and returns:
// what `profile_server --migrate_only` does in an init container.
absl::Status MigrateOnly(const ServerOptions& options);

class ProfileServer {
 public:
  // Validates `options`, builds every component and starts serving.
  static absl::StatusOr<std::unique_ptr<ProfileServer>> Start(
      const ServerOptions& options,
      std::shared_ptr<Clock> clock = SystemClock());

  ~ProfileServer();

  // The port the server listens on.
  int port() const { return port_; }
  // The --health_listen port, or 0 when there is none.
  int health_port() const {
    return health_port_ == nullptr ? 0 : health_port_->port();
  }
  // The --metrics_listen port, or 0 when there is none.
  int metrics_port() const {
    return metrics_ == nullptr ? 0 : metrics_->port();
  }

  // Sets the health of "" and "profile.v1.ProfileService" (readiness). The
  // service "liveness" stays SERVING until Shutdown().
  void SetServing(bool serving);

  // Health goes NOT_SERVING for good (the backend checks no longer flip it
  // back), while calls are still served: the first step of a shutdown.
  void Drain();

  // Health goes NOT_SERVING, then calls in flight get until `grace` to
  // finish before they are cancelled; returns when the server has stopped.
  void Shutdown(absl::Duration grace);

  // The token store, for tests and metrics.
  TokenStore& tokens() { return *tokens_; }

 private:
  ProfileServer() = default;

  // Builds the stores the options name; returns the code secret.
  absl::StatusOr<std::string> BuildStores(const ServerOptions& options);

  // Pings the backends and sets the health from the answers.
  void CheckBackends();

  std::shared_ptr<Clock> clock_;
  // Before every store and the server: the token store and the gRPC
  // interceptors report to it until they are gone.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RedisClient> redis_;
  PostgresUserStore* postgres_ = nullptr;  // users_, when it is PostgreSQL
  std::unique_ptr<UserStore> users_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<CodeStore> codes_;
  std::unique_ptr<CodeValidator> test_numbers_;
  std::unique_ptr<CodeValidator> validator_;
  std::unique_ptr<SendLimiter> limiter_;
  std::unique_ptr<SmsSender> sms_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<PhoneChange> core_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<ProfileServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  // After server_: it forwards to server_ and closes first.
  std::unique_ptr<HealthPort> health_port_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> backends_healthy_{true};
  bool shut_down_ = false;
  // Declared last: stopped first, before what it pings goes away.
  std::unique_ptr<PeriodicTask> backend_checker_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SERVER_H_
