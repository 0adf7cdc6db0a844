#include "server/health/health_port.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"

namespace profile {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

namespace {

// The longest a forwarded Check may take when the prober set no deadline.
constexpr std::chrono::seconds kForwardTimeout(5);

// Turns off the default health service on this listener: it would answer
// for a server that serves nothing but this forwarder.
class NoDefaultHealthService final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* args) override {
    args->SetPointer(grpc::kHealthCheckServiceInterfaceArg, nullptr);
  }
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*)
      override {}
};

}  // namespace

class HealthPort::Service final : public Health::CallbackService {
 public:
  explicit Service(std::shared_ptr<grpc::Channel> main)
      : stub_(Health::NewStub(std::move(main))) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto forwarded = std::make_shared<grpc::ClientContext>();
    const auto cap = std::chrono::system_clock::now() + kForwardTimeout;
    forwarded->set_deadline(std::min(context->deadline(), cap));
    stub_->async()->Check(forwarded.get(), request, response,
                          [reactor, forwarded](grpc::Status status) {
                            reactor->Finish(status);
                          });
    return reactor;
  }

 private:
  std::unique_ptr<Health::Stub> stub_;
};

absl::StatusOr<std::unique_ptr<HealthPort>> HealthPort::Start(
    const std::string& listen, std::shared_ptr<grpc::Channel> main) {
  std::unique_ptr<HealthPort> port(new HealthPort());
  port->service_ = std::make_unique<Service>(std::move(main));
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetOption(std::make_unique<NoDefaultHealthService>());
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(),
                           &port->port_);
  builder.RegisterService(port->service_.get());
  port->server_ = builder.BuildAndStart();
  if (port->server_ == nullptr || port->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("--health_listen: cannot listen on ", listen,
                     ": the address is invalid or in use"));
  }
  return port;
}

HealthPort::~HealthPort() {
  if (server_ != nullptr && !shut_down_) Shutdown();
}

void HealthPort::Shutdown() {
  shut_down_ = true;
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace profile
