#include "tests/testing/in_memory_core.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace profile::testing {

InMemoryCore::InMemoryCore(InMemoryCoreOptions options)
    : options_(std::move(options)) {
  assert(options_.clock != nullptr);
  assert(options_.sms != nullptr);
  // Revert windows, locks and notice retries follow the test's clock too.
  users_ = NewInMemoryUserStore(options_.clock);
  tokens_ = NewTokenStore();
  InMemoryCodeStoreOptions code_options;
  code_options.max_codes = options_.max_codes;
  code_options.sweep_interval = absl::ZeroDuration();
  codes_ = NewInMemoryCodeStore(options_.clock, code_options);
  InMemoryIdempotencyStoreOptions idempotency_options;
  idempotency_options.sweep_interval = absl::ZeroDuration();
  idempotency_ =
      NewInMemoryIdempotencyStore(options_.clock, idempotency_options);
  authenticator_ = NewTrustedHeaderAuthenticator();
  ResetLimiter();
}

std::unique_ptr<Core> InMemoryCore::NewCore(
    const PhoneChangeOptions& options,
    std::shared_ptr<TokenStore> tokens) const {
  CoreOptions core_options;
  core_options.phone_change = options;
  std::vector<std::string> pairs;
  for (const auto& [e164, code] : options_.test_codes) {
    pairs.push_back(absl::StrCat(e164, ":", code));
  }
  core_options.test_phone_codes = absl::StrJoin(pairs, ",");
  CoreComponents components;
  components.clock = options_.clock;
  components.users = users_;
  components.tokens = tokens != nullptr ? std::move(tokens) : tokens_;
  components.codes = codes_;
  components.limiter = limiter_;
  components.idempotency = idempotency_;
  // Not owned: the test keeps its sender.
  components.sms = std::shared_ptr<SmsSender>(std::shared_ptr<void>(),
                                              options_.sms);
  components.code_secret = options_.code_secret;
  absl::StatusOr<std::unique_ptr<Core>> core =
      profile::NewCore(core_options, std::move(components));
  if (!core.ok()) {
    std::fprintf(stderr, "InMemoryCore: %s\n",
                 std::string(core.status().message()).c_str());
    std::abort();
  }
  return *std::move(core);
}

std::unique_ptr<TokenStore> InMemoryCore::NewTokenStore() const {
  InMemoryTokenStoreOptions token_options;
  token_options.max_live_tokens = options_.max_live_tokens;
  token_options.sweep_interval = absl::ZeroDuration();
  return NewInMemoryTokenStore(options_.clock, token_options);
}

void InMemoryCore::ResetCore(const PhoneChangeOptions& options) {
  options_.core = options;
  core_ = NewCore(options_.core);
}

void InMemoryCore::ResetTokens(size_t max_live_tokens) {
  options_.max_live_tokens = max_live_tokens;
  // The old core points at the old store: it goes first.
  core_.reset();
  tokens_ = NewTokenStore();
  core_ = NewCore(options_.core);
}

void InMemoryCore::ResetLimiter() {
  InMemorySendLimiterOptions limiter_options;
  limiter_options.limits = options_.core.send_limits;
  limiter_options.max_entries = options_.max_limiter_entries;
  limiter_options.sweep_interval = absl::ZeroDuration();
  core_.reset();
  limiter_ = NewInMemorySendLimiter(options_.clock, limiter_options);
  core_ = NewCore(options_.core);
}

}  // namespace profile::testing
