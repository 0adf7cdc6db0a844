// InMemoryCore: a PhoneChange over in-memory stores, assembled by NewCore()
// (server/core/core_factory.h) exactly as the server assembles it, for the
// tests and fuzzers that drive the core without a network backend. It only
// makes the stores (with small caps and no sweeper threads) and hands them
// to the factory with the test's clock and SMS sender.
//
//   auto clock = std::make_shared<FakeClock>();
//   InMemoryCoreOptions options;
//   options.clock = clock;
//   options.sms = &sms;
//   options.test_codes = {{"+8613800138000", "246810"}};
//   InMemoryCore memory(std::move(options));
//   memory.core()->SendCode(caller, {"+86", "138 0013 8001", kNew});
//
// No store runs a sweeper thread (every sweep_interval is zero): a test that
// wants expired entries gone calls SweepExpired() itself. Every store, the
// user store's revert windows, locks and outbox included, reads the test's
// clock. The core's notice relay does run its thread (NewCore() starts it):
// a test that needs the notices delivered at a known point calls
// relay()->RunOnce() and waits for the outbox to be empty.
//
// Thread-safety: the stores and the core are safe to call concurrently; the
// Reset*() methods replace them and must not race with any call.
#ifndef PROFILE_TESTS_TESTING_IN_MEMORY_CORE_H_
#define PROFILE_TESTS_TESTING_IN_MEMORY_CORE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "server/auth/authenticator.h"
#include "server/codes/code_store.h"
#include "server/common/clock.h"
#include "server/core/core_factory.h"
#include "server/core/phone_change.h"
#include "server/idempotency/idempotency_store.h"
#include "server/limits/send_limiter.h"
#include "server/notices/notice_relay.h"
#include "server/sms/sms_sender.h"
#include "server/token/token_store.h"
#include "server/users/user_store.h"

namespace profile::testing {

struct InMemoryCoreOptions {
  // The core's options; the limiter enforces `core.send_limits`.
  PhoneChangeOptions core;
  // REQUIRES: not null.
  std::shared_ptr<Clock> clock;
  // Where codes are texted. REQUIRES: not null; outlives the InMemoryCore.
  SmsSender* sms = nullptr;
  // Keys the code digests.
  std::string code_secret = std::string(32, 'k');
  // The test numbers (E.164 -> fixed code); none by default.
  absl::flat_hash_map<std::string, std::string> test_codes;
  // The stores' caps; the servers' defaults unless a test needs them small.
  size_t max_live_tokens = InMemoryTokenStoreOptions().max_live_tokens;
  size_t max_codes = InMemoryCodeStoreOptions().max_codes;
  size_t max_limiter_entries = InMemorySendLimiterOptions().max_entries;
};

class InMemoryCore {
 public:
  explicit InMemoryCore(InMemoryCoreOptions options);
  InMemoryCore(const InMemoryCore&) = delete;
  InMemoryCore& operator=(const InMemoryCore&) = delete;

  const InMemoryCoreOptions& options() const { return options_; }
  PhoneChange* core() const { return &core_->phone_change(); }
  // The core's notice relay. Its thread delivers what changes queue;
  // RunOnce() delivers what is due now, in the caller's thread.
  NoticeRelay* relay() const { return &core_->relay(); }
  UserStore* users() const { return users_.get(); }
  TokenStore* tokens() const { return tokens_.get(); }
  CodeStore* codes() const { return codes_.get(); }
  SendLimiter* limiter() const { return limiter_.get(); }
  IdempotencyStore* idempotency() const { return idempotency_.get(); }
  // The trusted-header Authenticator (x-user-id), as the server's default.
  Authenticator* authenticator() const { return authenticator_.get(); }

  // Returns a new core with `options` over these stores, but keeping its
  // tokens in `tokens` if that is not null (a second server instance).
  std::unique_ptr<Core> NewCore(
      const PhoneChangeOptions& options,
      std::shared_ptr<TokenStore> tokens = nullptr) const;

  // Returns a new empty token store with the configured cap.
  std::unique_ptr<TokenStore> NewTokenStore() const;

  // Replaces the core by one with `options`, over the same stores. The
  // limiter keeps the limits it was made with (see ResetLimiter()).
  void ResetCore(const PhoneChangeOptions& options);

  // Replaces the token store by an empty one holding at most
  // `max_live_tokens`, and the core by one over it.
  void ResetTokens(size_t max_live_tokens);

  // Replaces the limiter by an empty one enforcing
  // options().core.send_limits, and the core by one over it.
  void ResetLimiter();

 private:
  InMemoryCoreOptions options_;
  std::shared_ptr<UserStore> users_;
  std::shared_ptr<TokenStore> tokens_;
  std::shared_ptr<CodeStore> codes_;
  std::shared_ptr<SendLimiter> limiter_;
  std::shared_ptr<IdempotencyStore> idempotency_;
  std::unique_ptr<Core> core_;
  std::unique_ptr<Authenticator> authenticator_;
};

}  // namespace profile::testing

#endif  // PROFILE_TESTS_TESTING_IN_MEMORY_CORE_H_
