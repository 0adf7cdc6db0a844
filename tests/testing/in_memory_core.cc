#include "tests/testing/in_memory_core.h"

#include <cassert>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace profile::testing {

InMemoryCore::InMemoryCore(InMemoryCoreOptions options)
    : options_(std::move(options)) {
  assert(options_.clock != nullptr);
  assert(options_.sms != nullptr);
  users_ = NewInMemoryUserStore();
  tokens_ = NewTokenStore();
  InMemoryCodeStoreOptions code_options;
  code_options.max_codes = options_.max_codes;
  code_options.sweep_interval = absl::ZeroDuration();
  codes_ = NewInMemoryCodeStore(options_.clock, code_options);
  test_numbers_ = NewFixedCodeValidator(options_.test_codes);
  std::vector<std::unique_ptr<CodeValidator>> validators;
  validators.push_back(NewFixedCodeValidator(options_.test_codes));
  validators.push_back(
      NewStoredCodeValidator(codes_.get(), options_.code_secret));
  validator_ = NewCodeValidatorChain(std::move(validators));
  authenticator_ = NewTrustedHeaderAuthenticator();
  ResetLimiter();
}

std::unique_ptr<PhoneChange> InMemoryCore::NewCore(
    const PhoneChangeOptions& options, TokenStore* tokens) const {
  PhoneChangeDeps deps;
  deps.clock = options_.clock;
  deps.users = users_.get();
  deps.tokens = tokens != nullptr ? tokens : tokens_.get();
  deps.codes = codes_.get();
  deps.validator = validator_.get();
  deps.limiter = limiter_.get();
  deps.sms = options_.sms;
  deps.code_secret = options_.code_secret;
  deps.test_numbers = test_numbers_.get();
  return std::make_unique<PhoneChange>(options, std::move(deps));
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
