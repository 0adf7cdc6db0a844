#include "server/core/core_factory.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/backends/backend_url.h"
#include "server/backends/libpq_library.h"
#include "server/backends/postgres_url.h"
#include "server/backends/postgres_user_store.h"
#include "server/backends/redis_client.h"
#include "server/backends/redis_stores.h"
#include "server/codes/local_code_verifier.h"
#include "server/codes/test_number_verifier.h"
#include "server/codes/twilio_verify_code_verifier.h"
#include "server/common/crypto.h"
#include "server/common/files.h"
#include "server/common/flag_error.h"
#include "server/http/curl_library.h"

namespace profile {
namespace {

// The fewest bytes of --code_secret_file.
constexpr size_t kMinCodeSecretBytes = 32;

absl::StatusOr<PostgresOptions> PostgresOptionsFrom(
    const StoreOptions& options) {
  // libpq is loaded only now (server/backends/libpq_library.h).
  if (absl::StatusOr<const LibpqLibrary*> pq = LoadLibpq(); !pq.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--postgres_url needs libpq: ", pq.status().message()));
  }
  absl::StatusOr<PostgresUrl> parsed =
      ParsePostgresUrl(options.postgres_url, "POSTGRES_PASSWORD");
  if (!parsed.ok()) {
    return InvalidFlagError("postgres_url", parsed.status().message());
  }
  if (parsed->database.empty()) {
    return InvalidFlagError("postgres_url", "must name a database: .../dbname");
  }
  return PostgresOptions{*parsed, options.backend_timeout,
                         options.backend_pool_size};
}

// Returns the code verifier chain: test numbers first, then the verifier
// --code_verifier names. A new verifier is one more entry.
absl::StatusOr<std::unique_ptr<CodeVerifier>> BuildVerifier(
    const CoreOptions& options, TestPhoneCodes test_codes,
    std::shared_ptr<const SmsTexts> texts, const CoreComponents& components) {
  std::vector<std::unique_ptr<CodeVerifier>> chain;
  chain.push_back(NewTestNumberVerifier(
      std::move(test_codes),
      {options.phone_change.max_code_attempts, options.phone_change.code_ttl},
      components.clock));
  if (options.code_verifier == "twilio_verify") {
    TwilioVerifyOptions twilio;
    twilio.twilio = options.sms.twilio;
    twilio.code_ttl = options.phone_change.code_ttl;
    twilio.timeout = options.sms.delivery.timeout;
    twilio.secret = components.code_secret;
    absl::StatusOr<std::unique_ptr<CodeVerifier>> verifier =
        NewTwilioVerifyCodeVerifier(std::move(twilio), components.http,
                                    components.clock, components.codes.get());
    if (!verifier.ok()) return verifier.status();
    chain.push_back(*std::move(verifier));
  } else {
    LocalCodeVerifierOptions local;
    local.code_length = options.phone_change.code_length;
    local.code_ttl = options.phone_change.code_ttl;
    local.max_attempts = options.phone_change.max_code_attempts;
    local.secret = components.code_secret;
    local.texts = std::move(texts);
    chain.push_back(NewLocalCodeVerifier(std::move(local), components.clock,
                                         components.codes.get(),
                                         components.sms.get()));
  }
  return NewCodeVerifierChain(std::move(chain));
}

}  // namespace

absl::Status StoreOptions::Validate() const {
  if (max_live_tokens < 1) {
    return InvalidFlagError("max_live_tokens", "must be at least 1");
  }
  if (sweep_interval <= absl::ZeroDuration() ||
      sweep_interval > absl::Hours(1)) {
    return InvalidFlagError("sweep_interval", "must be over 0 and at most 1h");
  }
  if (backend_timeout < absl::Milliseconds(10) ||
      backend_timeout > absl::Minutes(1)) {
    return InvalidFlagError("backend_timeout", "must be from 10ms to 1m");
  }
  if (backend_pool_size < 1 || backend_pool_size > 1000) {
    return InvalidFlagError("backend_pool_size", "must be from 1 to 1000");
  }
  if (redis_key_prefix.size() > 64) {
    return InvalidFlagError("redis_key_prefix", "must be at most 64 bytes");
  }
  return absl::OkStatus();
}

absl::Status CoreOptions::Validate() const {
  absl::Status valid = phone_change.Validate();
  if (valid.ok()) valid = stores.Validate();
  if (valid.ok()) valid = sms.Validate();
  if (valid.ok()) valid = notice_relay.Validate();
  if (valid.ok() && code_verifier != "local" &&
      code_verifier != "twilio_verify") {
    return InvalidFlagError("code_verifier",
                            "must be \"local\" or \"twilio_verify\"");
  }
  return valid;
}

Core::~Core() = default;

absl::Status Core::CheckBackends() const {
  if (redis_ != nullptr) {
    absl::Status pinged = redis_->Ping();
    if (!pinged.ok()) {
      return absl::UnavailableError(
          absl::StrCat("redis is unreachable: ", pinged.message()));
    }
  }
  if (postgres_ != nullptr) {
    absl::Status pinged = postgres_->Ping();
    if (!pinged.ok()) {
      return absl::UnavailableError(
          absl::StrCat("postgres is unreachable: ", pinged.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Core>> NewCore(const CoreOptions& options,
                                              CoreComponents components) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  absl::StatusOr<TestPhoneCodes> test_codes =
      ParseTestPhoneCodes(options.test_phone_codes);
  if (!test_codes.ok()) return test_codes.status();
  absl::StatusOr<std::shared_ptr<const SmsTexts>> texts =
      SmsTexts::New(options.texts);
  if (!texts.ok()) return texts.status();
  // libcurl (and OpenSSL's client side) is loaded and set up only when a
  // provider needs it (server/http/curl_library.h).
  if (components.http == nullptr &&
      (options.sms.UsesHttp() || options.code_verifier == "twilio_verify")) {
    if (absl::StatusOr<const CurlLibrary*> curl = LoadCurl(); !curl.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          options.sms.UsesHttp() ? "--sms_sender=" + options.sms.sender
                                 : "--code_verifier=twilio_verify",
          " needs libcurl: ", curl.status().message()));
    }
    absl::StatusOr<std::shared_ptr<HttpClient>> http =
        NewSmsHttpClient(options.sms);
    if (!http.ok()) return http.status();
    components.http = *std::move(http);
  }
  if (components.sms == nullptr) {
    absl::StatusOr<std::unique_ptr<SmsSender>> sms =
        NewSmsSender(options.sms, components.http, components.sms_metrics);
    if (!sms.ok()) return sms.status();
    components.sms = *std::move(sms);
  }
  if (components.code_secret.empty() && !options.code_secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadSecretFile(
        "code_secret_file", options.code_secret_file, kMinCodeSecretBytes);
    if (!secret.ok()) return secret.status();
    components.code_secret = *std::move(secret);
  }
  if (components.clock == nullptr) components.clock = SystemClock();

  std::unique_ptr<Core> core(new Core());
  const StoreOptions& stores = options.stores;
  const std::shared_ptr<Clock>& clock = components.clock;
  if (stores.redis_url.empty()) {
    if (components.tokens == nullptr) {
      InMemoryTokenStoreOptions token_options;
      token_options.max_live_tokens = stores.max_live_tokens;
      token_options.sweep_interval = stores.sweep_interval;
      if (PhoneChangeMetrics* metrics = components.metrics) {
        token_options.on_expired = [metrics](size_t n) {
          metrics->TokensExpired(n);
        };
      }
      components.tokens = NewInMemoryTokenStore(clock, token_options);
    }
    if (components.codes == nullptr) {
      components.codes =
          NewInMemoryCodeStore(clock, {1000000, stores.sweep_interval});
    }
    if (components.limiter == nullptr) {
      components.limiter = NewInMemorySendLimiter(
          clock, {options.phone_change.send_limits, 1000000,
                  stores.sweep_interval});
    }
    if (components.idempotency == nullptr) {
      components.idempotency =
          NewInMemoryIdempotencyStore(clock, {1000000, stores.sweep_interval});
    }
  } else {
    absl::StatusOr<BackendUrl> url =
        ParseBackendUrl(stores.redis_url, "redis", "REDIS_PASSWORD");
    if (!url.ok()) return InvalidFlagError("redis_url", url.status().message());
    if (components.code_secret.empty()) {
      // Replicas must key codes alike, and a key kept in Redis beside the
      // digests would turn a dump of Redis into every live code.
      return InvalidFlagError(
          "code_secret_file",
          "is required with --redis_url: every replica must key the code "
          "digests with the same secret, kept out of Redis (a file of at "
          "least 32 random bytes, e.g. from a Kubernetes Secret)");
    }
    core->redis_ = RedisClient::Create(
        {*url, stores.backend_timeout, stores.backend_pool_size});
    RedisClient* redis = core->redis_.get();
    const std::string& prefix = stores.redis_key_prefix;
    if (components.tokens == nullptr) {
      components.tokens =
          NewRedisTokenStore(redis, prefix, clock, stores.max_live_tokens);
    }
    if (components.codes == nullptr) {
      components.codes = NewRedisCodeStore(redis, prefix, clock);
    }
    if (components.limiter == nullptr) {
      components.limiter = NewRedisSendLimiter(
          redis, prefix, options.phone_change.send_limits);
    }
    if (components.idempotency == nullptr) {
      components.idempotency = NewRedisIdempotencyStore(redis, prefix, clock);
    }
  }
  // The secret that keys code digests lives only in this process unless
  // replicas must share it: a code store dump alone cannot be brute-forced.
  const bool code_secret_is_random = components.code_secret.empty();
  if (code_secret_is_random) components.code_secret = RandomBytes(32);

  if (components.users == nullptr) {
    if (stores.postgres_url.empty()) {
      components.users = NewInMemoryUserStore(clock);
    } else {
      absl::StatusOr<PostgresOptions> postgres = PostgresOptionsFrom(stores);
      if (!postgres.ok()) return postgres.status();
      if (code_secret_is_random) {
        // A notice may wait across a restart, and any replica may send it.
        return InvalidFlagError(
            "code_secret_file",
            "is required with --postgres_url: it seals the revert tokens of "
            "the notices waiting in PostgreSQL, which every replica, and a "
            "restarted one, must open (a file of at least 32 random bytes)");
      }
      absl::Status migrated = MigratePostgres(*postgres);
      if (!migrated.ok()) {
        return absl::UnavailableError(
            absl::StrCat("cannot migrate the PostgreSQL schema at ",
                         postgres->url.Redacted(), ": ", migrated.message()));
      }
      std::shared_ptr<PostgresUserStore> users =
          NewPostgresUserStore(*postgres);
      core->postgres_ = users.get();
      components.users = std::move(users);
    }
  }

  PhoneChangeOptions phone_change = options.phone_change;
  phone_change.fictional_numbers = FictionalTestNumbers(*test_codes);
  phone_change.texts = *std::move(texts);
  absl::StatusOr<std::unique_ptr<CodeVerifier>> verifier =
      BuildVerifier(options, *std::move(test_codes), phone_change.texts,
                    components);
  if (!verifier.ok()) return verifier.status();
  core->verifier_ = *std::move(verifier);
  PhoneChangeDeps deps;
  deps.clock = components.clock;
  deps.users = components.users.get();
  deps.tokens = components.tokens.get();
  deps.limiter = components.limiter.get();
  deps.verifier = core->verifier_.get();
  deps.metrics = components.metrics;
  deps.idempotency = components.idempotency.get();
  deps.notices = components.sms.get();
  // The outbox's own key, derived so that it opens nothing else.
  deps.outbox_key =
      HmacSha256(components.code_secret, "profile-service notice outbox");
  core->relay_ = std::make_unique<NoticeRelay>(
      options.notice_relay, components.users->notices(), components.sms.get(),
      phone_change.texts, deps.outbox_key, components.notice_metrics,
      components.clock);
  core->relay_->Start();
  deps.relay = core->relay_.get();
  ProfileAdminDeps admin;
  admin.clock = components.clock;
  admin.users = components.users.get();
  admin.tokens = components.tokens.get();
  admin.relay = core->relay_.get();
  admin.outbox_key = deps.outbox_key;
  core->admin_ = std::make_unique<ProfileAdmin>(phone_change, std::move(admin));
  core->phone_change_ =
      std::make_unique<PhoneChange>(phone_change, std::move(deps));
  core->components_ = std::move(components);
  return core;
}

absl::Status MigrateSchema(const StoreOptions& options) {
  if (options.postgres_url.empty()) {
    return InvalidFlagError("migrate_only", "needs --postgres_url");
  }
  absl::StatusOr<PostgresOptions> postgres = PostgresOptionsFrom(options);
  if (!postgres.ok()) return postgres.status();
  return MigratePostgres(*postgres);
}

}  // namespace profile
