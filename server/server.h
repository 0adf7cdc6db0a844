// ProfileServer: the whole service, assembled from ServerOptions and serving
// on a socket.
//
//   ServerOptions options;              // server/flags/ fills it from flags
//   options.listen = "127.0.0.1:0";     // port 0: any free port
//   auto server = ProfileServer::Start(options);
//   if (!server.ok()) ...;              // a bad option or a busy port
//   int port = (*server)->port();
//   ...
//   (*server)->Shutdown(absl::Seconds(10));
//
// The server runs the gRPC callback API, the grpc.health.v1 service (overall
// "" and "profile.v1.ProfileService") and server reflection. The core is
// assembled by NewCore() (server/core/core_factory.h); tests replace any of
// its components, or the executor, through ServerOverrides.
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
#include "server/auth/auth_factory.h"
#include "server/auth/authenticator.h"
#include "server/common/executor.h"
#include "server/common/periodic.h"
#include "server/core/core_factory.h"
#include "server/health/health_port.h"
#include "server/metrics/metrics.h"
#include "server/admin/admin_service.h"
#include "server/service/profile_service.h"
#include "server/tls/tls_credentials.h"
#include "server/token/token_store.h"

namespace profile {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one.
  std::string listen = "127.0.0.1:50051";
  // How callers are identified.
  AuthOptions auth;
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
  // The core: the rules of the flow, where state lives, SMS and codes.
  CoreOptions core;
  // Threads that run calls which may wait (on a backend, a network SMS
  // provider, a file), and how many calls may wait for one.
  int backend_threads = 16;
  size_t backend_queue = 4096;
  // How often backends are pinged for the health status.
  absl::Duration backend_check_interval = absl::Seconds(1);

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming the
  // flag.
  absl::Status Validate() const;
};

// What a test or a tool puts in place of what ServerOptions would build.
struct ServerOverrides {
  // The clock, stores and providers of the core; null members are built
  // from ServerOptions::core.
  CoreComponents core;
  // Runs the calls that may block; null: a pool of
  // ServerOptions::backend_threads threads. When set, it also runs the
  // SendPhoneCode calls (else a pool of --sms_max_in_flight threads).
  std::shared_ptr<Executor> executor;
};

// What a connection past --max_connection_age gets to finish its calls.
inline constexpr absl::Duration kMaxConnectionAgeGrace = absl::Seconds(30);

// The shortest interval between pings a client may send on a connection
// without calls, and how many faster pings it gets before GOAWAY.
inline constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);
inline constexpr int kMaxPingStrikes = 2;

class ProfileServer {
 public:
  // Validates `options`, builds every component `overrides` does not
  // supply, and starts serving.
  static absl::StatusOr<std::unique_ptr<ProfileServer>> Start(
      const ServerOptions& options, ServerOverrides overrides = {});

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
  TokenStore& tokens() { return *core_->components().tokens; }

 private:
  ProfileServer() = default;

  // Pings the backends and sets the health from the answers.
  void CheckBackends();

  // Before the core and the server: the token store and the gRPC
  // interceptors report to it until they are gone.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<Core> core_;
  std::shared_ptr<Executor> executor_;
  std::shared_ptr<Executor> send_executor_;
  std::unique_ptr<ProfileServiceImpl> service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
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
