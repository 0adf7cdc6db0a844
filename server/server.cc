#include "server/server.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/common/crypto.h"
#include "server/common/log.h"
#include "server/service/wire.h"

namespace profile {
namespace {

constexpr char kServiceName[] = "profile.v1.ProfileService";

absl::Status BadFlag(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", why));
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& options) {
  const PhoneChangeOptions& pc = options.phone_change;
  if (options.listen.empty()) return BadFlag("listen", "must be host:port");
  if (options.auth != "trusted_header") {
    return BadFlag("auth", "must be trusted_header");
  }
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
  return absl::OkStatus();
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

  std::unique_ptr<ProfileServer> s(new ProfileServer());
  s->clock_ = std::move(clock);
  s->sms_ = *std::move(sms);
  s->users_ = NewInMemoryUserStore();
  s->tokens_ = NewInMemoryTokenStore(
      s->clock_, {options.max_live_tokens, options.sweep_interval});
  s->codes_ = NewInMemoryCodeStore(s->clock_, {1000000, options.sweep_interval});
  s->limiter_ = NewInMemorySendLimiter(
      s->clock_,
      {options.phone_change.send_limits, 1000000, options.sweep_interval});

  // The secret that keys code digests lives only in this process: a code
  // store dump alone cannot be brute-forced offline.
  const std::string code_secret = RandomBytes(32);
  s->test_numbers_ = NewFixedCodeValidator(*test_codes);
  std::vector<std::unique_ptr<CodeValidator>> chain;
  chain.push_back(NewFixedCodeValidator(*std::move(test_codes)));
  chain.push_back(NewStoredCodeValidator(s->codes_.get(), code_secret));
  s->validator_ = NewCodeValidatorChain(std::move(chain));
  s->authenticator_ = NewTrustedHeaderAuthenticator();

  PhoneChangeDeps deps;
  deps.clock = s->clock_;
  deps.users = s->users_.get();
  deps.tokens = s->tokens_.get();
  deps.codes = s->codes_.get();
  deps.validator = s->validator_.get();
  deps.limiter = s->limiter_.get();
  deps.sms = s->sms_.get();
  deps.code_secret = code_secret;
  deps.test_numbers = s->test_numbers_.get();
  s->core_ = std::make_unique<PhoneChange>(options.phone_change, deps);
  s->service_ =
      std::make_unique<ProfileServiceImpl>(s->authenticator_.get(), s->core_.get());

  RouteProtobufLogs();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A second server on the same port must fail, not share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     ": the address is invalid or in use"));
  }
  s->SetServing(true);
  return s;
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
}

void ProfileServer::Shutdown(absl::Duration grace) {
  shut_down_ = true;
  SetServing(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace profile
