// HealthPort: a second, plaintext listener that answers only
// grpc.health.v1.Health/Check, for Kubernetes' native gRPC probes.
//
// The kubelet's gRPC probe speaks neither TLS nor mutual TLS, so with
// --tls_cert_file it cannot reach the main port. This port answers Check by
// asking the main server's own health service over its in-process channel:
// both ports always tell the same health (overall "", per service, and
// whatever else the main server sets), and nothing but Check is served here.
//
//   auto health = HealthPort::Start("0.0.0.0:8081",
//                                   server->InProcessChannel({}));
//   int port = (*health)->port();
//   ...
//   (*health)->Shutdown();
//
// Thread-safety: Start() returns a running port; Shutdown() once, from any
// thread.
#ifndef PROFILE_SERVER_HEALTH_HEALTH_PORT_H_
#define PROFILE_SERVER_HEALTH_HEALTH_PORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"

namespace profile {

class HealthPort {
 public:
  // Listens on `listen` (host:port, port 0 picks a free one) and forwards
  // Check calls to `main`, a channel to the main server. Returns
  // UNAVAILABLE naming --health_listen if it cannot listen there.
  static absl::StatusOr<std::unique_ptr<HealthPort>> Start(
      const std::string& listen, std::shared_ptr<grpc::Channel> main);

  ~HealthPort();

  int port() const { return port_; }

  // Stops answering; returns when the listener is closed.
  void Shutdown();

 private:
  class Service;

  HealthPort() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace profile

#endif  // PROFILE_SERVER_HEALTH_HEALTH_PORT_H_
