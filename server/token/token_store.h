// TokenStore: the one-time update-phone tokens between verification and use.
//
// UpdatePhoneVerification issues a token bound to a grant (the user, the
// account's phone at that moment and the verified new phone);
// UpdatePhone takes it back exactly once. The store never sees a token, only
// its SHA-256 digest, so a memory dump yields nothing that can be spent.
//
//   auto store = NewInMemoryTokenStore(clock, {.max_live_tokens = 1000});
//   store->Issue(Sha256(token), {user, old_phone, new_phone}, expires_at);
//   absl::StatusOr<TokenGrant> grant = store->Take(Sha256(token), user);
//
// Rules every implementation keeps:
//   - A token is live until `expires_at` (exclusive): at that instant and
//     after, Take() answers NOT_FOUND as if it never existed.
//   - Take() is atomic: of any number of concurrent Take() calls with one
//     token, exactly one succeeds.
//   - A user holds at most one live token: Issue() revokes the user's
//     previous token, so no caller can fill the store.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_TOKEN_TOKEN_STORE_H_
#define PROFILE_SERVER_TOKEN_TOKEN_STORE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/clock.h"

namespace profile {

// What a token allows: `user_id` may move from `old_phone_e164` (empty if the
// account had no phone) to `new_phone_e164`.
struct TokenGrant {
  std::string user_id;
  std::string old_phone_e164;
  std::string new_phone_e164;
  // When the token would have expired (set by Take()), so that a spend that
  // failed on a backend can put it back for the rest of its life.
  absl::Time expires_at = absl::InfiniteFuture();

  friend bool operator==(const TokenGrant& a, const TokenGrant& b) {
    return a.user_id == b.user_id && a.old_phone_e164 == b.old_phone_e164 &&
           a.new_phone_e164 == b.new_phone_e164;
  }
};

// The errors every TokenStore answers with.
absl::Status TokenNotFoundError();      // NOT_FOUND, 2310
absl::Status TokenOtherUserError();     // PERMISSION_DENIED, 2311
absl::Status TooManyTokensError();      // RESOURCE_EXHAUSTED, 2312

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Returns true if a call may wait on a network or a disk. The service then
  // runs the RPCs that use this off gRPC's callback threads, on its bounded
  // executor. True unless an implementation knows better: only what is
  // certain to return at once (memory under a mutex) may answer false.
  virtual bool MayBlock() const { return true; }

  // Stores `grant` under `token_hash` (a SHA-256 digest, 32 bytes) until
  // `expires_at`, and revokes the previous token of `grant.user_id`.
  // Returns RESOURCE_EXHAUSTED (api code 2312) when the store is full.
  virtual absl::Status Issue(absl::string_view token_hash,
                             const TokenGrant& grant,
                             absl::Time expires_at) = 0;

  // Removes and returns the live grant under `token_hash` if it was issued
  // to `user_id`. Returns NOT_FOUND (2310) if no live token has that hash,
  // and PERMISSION_DENIED (2311), leaving the token in place, if it belongs
  // to another user.
  virtual absl::StatusOr<TokenGrant> Take(absl::string_view token_hash,
                                          absl::string_view user_id) = 0;

  // Removes the live token of `user_id`, if any (a revert voids it).
  virtual absl::Status RevokeUser(absl::string_view user_id) = 0;

  // Returns whether `user_id` has a live token.
  virtual absl::StatusOr<bool> HasLiveToken(absl::string_view user_id) = 0;

  // Removes every expired token; returns how many.
  virtual size_t SweepExpired() = 0;

  // Returns the number of tokens held, expired ones not yet swept included.
  virtual size_t Size() const = 0;
};

struct InMemoryTokenStoreOptions {
  // Issue() fails beyond this many held tokens. Exact below 4096; above,
  // Issue() may refuse while concurrent Issue() calls hold a few slots
  // they are about to fill.
  size_t max_live_tokens = 1000000;
  // How often a background thread sweeps expired tokens; zero for never
  // (tests then call SweepExpired()).
  absl::Duration sweep_interval = absl::Seconds(1);
  // Told how many expired tokens each sweep removed (for metrics); may be
  // empty.
  std::function<void(size_t)> on_expired;
};

// Returns a store in this process's memory, sharded by user: Issue() and a
// successful Take() lock one shard; a Take() of a token that is not the
// caller's looks through every shard.
std::unique_ptr<TokenStore> NewInMemoryTokenStore(
    std::shared_ptr<Clock> clock, const InMemoryTokenStoreOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_TOKEN_TOKEN_STORE_H_
