// NewCore(): the one place that assembles the phone-change core from its
// options and the stores and providers it runs on.
//
// Every component the caller does not supply in CoreComponents is built
// from CoreOptions: in-memory stores by default, Redis (codes, tokens,
// limits, idempotency records) and PostgreSQL (profiles) when their URLs
// are set, the SMS sender --sms_sender names, and the code verifier chain
// (test numbers first, then locally generated codes texted through the
// sender). profile_server, the end-to-end tests, the fuzzers and the
// benchmarks all assemble the core here; tests inject fakes (a clock, a
// capturing SMS sender) through CoreComponents.
//
//   CoreOptions options;
//   options.test_phone_codes = "+8613800138000:246810";
//   CoreComponents components;
//   components.clock = std::make_shared<FakeClock>();
//   absl::StatusOr<std::unique_ptr<Core>> core =
//       NewCore(options, std::move(components));
//   (*core)->phone_change().SendCode(caller, input);
//
// Adding a provider: a new SMS sender or code verifier is a file pair in its
// component folder (server/sms/, server/codes/), an entry in its factory
// (NewProvider() in server/sms/sms_factory.cc, or BuildVerifier() in
// core_factory.cc) and its
// flags in server/flags/server_flags.cc. See the README, "Adding a
// provider".
//
// Thread-safety: a Core is safe to use concurrently once built.
#ifndef PROFILE_SERVER_CORE_CORE_FACTORY_H_
#define PROFILE_SERVER_CORE_CORE_FACTORY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/codes/code_verifier.h"
#include "server/common/clock.h"
#include "server/admin/profile_admin.h"
#include "server/core/phone_change.h"
#include "server/idempotency/idempotency_store.h"
#include "server/limits/send_limiter.h"
#include "server/metrics/phone_change_metrics.h"
#include "server/http/http_client.h"
#include "server/sms/sms_factory.h"
#include "server/sms/sms_metrics.h"
#include "server/sms/sms_sender.h"
#include "server/sms/sms_text.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile {

class RedisClient;
class PostgresUserStore;

// Where state lives. Empty URLs keep it in this process's memory.
struct StoreOptions {
  // redis://[user][:password@]host:port[/db]: codes, tokens and limits.
  std::string redis_url;
  std::string redis_key_prefix = "profile:";
  // postgresql://user[:password]@host:port/db: profiles.
  std::string postgres_url;
  // The longest any backend call may take.
  absl::Duration backend_timeout = absl::Seconds(2);
  // Connections per backend.
  int backend_pool_size = 16;
  // Most update-phone tokens held at once.
  size_t max_live_tokens = 1000000;
  // How often expired tokens, codes and limit windows are swept in memory.
  absl::Duration sweep_interval = absl::Seconds(1);

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming
  // the flag.
  absl::Status Validate() const;
};

struct CoreOptions {
  // The rules of the flow.
  PhoneChangeOptions phone_change;
  StoreOptions stores;
  // The --sms_sender chain and its providers (server/sms/sms_factory.h).
  SmsOptions sms;
  // The texts of the messages (server/sms/sms_text.h).
  SmsTextOptions texts;
  // The relay of the notices to old phones (server/notices/notice_relay.h).
  NoticeRelayOptions notice_relay;
  // --code_verifier: "local" (codes made and checked here, texted through
  // the chain) or "twilio_verify" (Twilio Verify sends and checks them).
  std::string code_verifier = "local";
  // "+8613800138000:246810,..." (E.164:code pairs); empty for none.
  std::string test_phone_codes;
  // A file holding the secret that keys code digests and seals the revert
  // tokens waiting in the outbox (32+ bytes), the same on every replica.
  // Required with Redis or PostgreSQL; empty: a random one per process.
  std::string code_secret_file;

  // Returns OK if every option is in range, else INVALID_ARGUMENT naming
  // the flag.
  absl::Status Validate() const;
};

// What the core runs on. A member left null is built from CoreOptions; one
// that is set is used as it is (shared, so several cores, e.g. replicas in
// one test, may share a store).
struct CoreComponents {
  std::shared_ptr<Clock> clock;
  std::shared_ptr<UserStore> users;
  std::shared_ptr<TokenStore> tokens;
  std::shared_ptr<CodeStore> codes;
  std::shared_ptr<SendLimiter> limiter;
  // Answers kept for retries (idempotency keys, spent tokens).
  std::shared_ptr<IdempotencyStore> idempotency;
  // Replaces the sender --sms_sender names.
  std::shared_ptr<SmsSender> sms;
  // Replaces the HTTP client of the providers.
  std::shared_ptr<HttpClient> http;
  // Keys code digests; empty: as CoreOptions::code_secret_file says.
  std::string code_secret;
  // Counts codes, verifications and tokens; null for none. Not owned.
  PhoneChangeMetrics* metrics = nullptr;
  // Counts SMS attempts and breakers; null for none. Not owned.
  SmsMetrics* sms_metrics = nullptr;
  // Counts the notices the relay handles; null for none. Not owned.
  NoticeMetrics* notice_metrics = nullptr;
};

// The assembled core and everything it runs on.
class Core {
 public:
  ~Core();

  PhoneChange& phone_change() const { return *phone_change_; }
  // Every component, those built here included.
  const CoreComponents& components() const { return components_; }
  // The verifier chain the core issues and checks codes through.
  CodeVerifier& verifier() const { return *verifier_; }
  // Delivers the notices of the user store's outbox.
  NoticeRelay& relay() const { return *relay_; }
  // Support's operations (ProfileAdminService).
  ProfileAdmin& admin() const { return *admin_; }

  // The Redis client the stores share; null without Redis (or when every
  // store that would use it was supplied).
  RedisClient* redis() const { return redis_.get(); }

  // Returns true if some state lives in a network backend.
  bool has_backends() const {
    return redis_ != nullptr || postgres_ != nullptr;
  }
  // Pings every network backend; returns the first failure, naming it.
  absl::Status CheckBackends() const;

 private:
  friend absl::StatusOr<std::unique_ptr<Core>> NewCore(
      const CoreOptions& options, CoreComponents components);
  Core() = default;

  // Declared first: the Redis stores use it until they are gone.
  std::unique_ptr<RedisClient> redis_;
  PostgresUserStore* postgres_ = nullptr;  // components_.users, if built so
  CoreComponents components_;
  std::unique_ptr<CodeVerifier> verifier_;
  // Declared after the stores and the senders it uses: stopped first.
  std::unique_ptr<NoticeRelay> relay_;
  std::unique_ptr<PhoneChange> phone_change_;
  std::unique_ptr<ProfileAdmin> admin_;
};

// Validates `options`, builds what `components` lacks and returns the core.
// With PostgreSQL, brings its schema up to date first.
absl::StatusOr<std::unique_ptr<Core>> NewCore(const CoreOptions& options,
                                              CoreComponents components);

// Brings the PostgreSQL schema of `options.postgres_url` up to date: what
// `profile_server --migrate_only` does in an init container.
absl::Status MigrateSchema(const StoreOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_CORE_CORE_FACTORY_H_
