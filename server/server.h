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

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/auth/authenticator.h"
#include "server/codes/code_store.h"
#include "server/codes/code_validator.h"
#include "server/common/clock.h"
#include "server/core/phone_change.h"
#include "server/limits/send_limiter.h"
#include "server/service/profile_service.h"
#include "server/sms/sms_sender.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one.
  std::string listen = "127.0.0.1:50051";
  // Only "trusted_header" for now.
  std::string auth = "trusted_header";
  PhoneChangeOptions phone_change;
  // "log" or "outbox:PATH".
  std::string sms_sender = "log";
  // "+8613800138000:246810,..." (E.164:code pairs); empty for none.
  std::string test_phone_codes;
  size_t max_live_tokens = 1000000;
  // How often expired tokens, codes and limit windows are swept.
  absl::Duration sweep_interval = absl::Seconds(1);
};

// Returns OK if every option is in range, else INVALID_ARGUMENT naming the
// flag.
absl::Status ValidateServerOptions(const ServerOptions& options);

class ProfileServer {
 public:
  // Validates `options`, builds every component and starts serving.
  static absl::StatusOr<std::unique_ptr<ProfileServer>> Start(
      const ServerOptions& options,
      std::shared_ptr<Clock> clock = SystemClock());

  ~ProfileServer();

  // The port the server listens on.
  int port() const { return port_; }

  // Sets the health of "" and "profile.v1.ProfileService".
  void SetServing(bool serving);

  // Health goes NOT_SERVING, then calls in flight get until `grace` to
  // finish before they are cancelled; returns when the server has stopped.
  void Shutdown(absl::Duration grace);

  // The token store, for tests and metrics.
  TokenStore& tokens() { return *tokens_; }

 private:
  ProfileServer() = default;

  std::shared_ptr<Clock> clock_;
  std::unique_ptr<UserStore> users_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<CodeStore> codes_;
  std::unique_ptr<CodeValidator> test_numbers_;
  std::unique_ptr<CodeValidator> validator_;
  std::unique_ptr<SendLimiter> limiter_;
  std::unique_ptr<SmsSender> sms_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<PhoneChange> core_;
  std::unique_ptr<ProfileServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace profile

#endif  // PROFILE_SERVER_SERVER_H_
