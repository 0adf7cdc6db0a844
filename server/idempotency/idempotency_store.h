// IdempotencyStore: the answers a retried call gets again.
//
// A client that lost an answer (a dropped connection, UNAVAILABLE from a
// proxy) retries; the retry must not text a second code or apply a change
// twice. The core keeps, per logical call, a record under a key digest:
//
//   - SendPhoneCode with `x-idempotency-key`: Begin() claims the key (a
//     digest of the user and the key) for the request's digest; the claim
//     holder runs the call and Complete()s the key with its answer, or
//     Abandon()s it if the call failed, so that a retry runs anew. A second
//     call with the key waits for the holder, then replays its answer.
//   - UpdatePhone: the same, keyed by a digest of the user and the token's
//     digest; a change that succeeded is completed, so the owner's retry
//     answers OK again and changes nothing.
//
//   auto store = NewInMemoryIdempotencyStore(clock, {});
//   absl::StatusOr<IdempotencyClaim> claim = store->Begin(
//       key, request, clock->Now() + lease, absl::Seconds(3));
//   if (claim->outcome == IdempotencyClaim::kClaimed) {
//     ... run the call ...
//     store->Complete(key, claim->claim_id, answer, clock->Now() + ttl);
//   }
//
// Keys and request digests are opaque bytes (SHA-256 digests); the store
// never sees a raw idempotency key or token. Records expire at the time
// given (Redis's own expiry across replicas).
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_IDEMPOTENCY_IDEMPOTENCY_STORE_H_
#define PROFILE_SERVER_IDEMPOTENCY_IDEMPOTENCY_STORE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/clock.h"

namespace profile {

// What Begin() found under a key.
struct IdempotencyClaim {
  enum Outcome {
    // No record: the caller holds the key and must Complete() or Abandon().
    kClaimed,
    // A completed record for the same request: `answer` is its answer.
    kReplay,
    // A record (completed or in flight) for another request.
    kOtherRequest,
    // No room for a record: run the call without one (its retry then runs
    // anew). Availability over replay.
    kNotKept,
  };
  Outcome outcome = kClaimed;
  // kReplay: what Complete() stored.
  std::string answer;
  // kClaimed: names this claim to Complete() and Abandon().
  std::string claim_id;
};

// The error a duplicate gets when the call holding its key is still running
// after the wait: UNAVAILABLE, api code 5003 (retry later).
absl::Status IdempotencyInFlightError();

class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;

  // Returns true if a call may wait on a network. Only what is certain to
  // return at once (memory under a mutex) may answer false. (Begin() may
  // still wait for a duplicate; in memory that duplicate runs on another
  // thread without blocking, so the wait is as short as its work.)
  virtual bool MayBlock() const { return true; }

  // Claims `key` for a call whose request has the digest `request`, until
  // `lease_until` (after which a retry may take the key over: the holder
  // died). If another call holds the key for the same request, waits up to
  // `wait` for it to finish; then returns kReplay if it completed, or claims
  // the key if it was abandoned, or IdempotencyInFlightError().
  virtual absl::StatusOr<IdempotencyClaim> Begin(absl::string_view key,
                                                 absl::string_view request,
                                                 absl::Time lease_until,
                                                 absl::Duration wait) = 0;

  // Stores `answer` under the claimed `key` until `expires_at` and wakes
  // its waiters. Does nothing if `claim_id` no longer holds the key.
  virtual absl::Status Complete(absl::string_view key,
                                absl::string_view claim_id,
                                absl::string_view answer,
                                absl::Time expires_at) = 0;

  // Forgets the claimed `key` (the call failed; a retry runs anew) and wakes
  // its waiters. Does nothing if `claim_id` no longer holds the key.
  virtual void Abandon(absl::string_view key, absl::string_view claim_id) = 0;

  // Removes every expired record; returns how many.
  virtual size_t SweepExpired() = 0;
};

struct InMemoryIdempotencyStoreOptions {
  // Records held at most; beyond, Begin() answers kNotKept.
  size_t max_entries = 1000000;
  // How often a background thread sweeps expired records; zero for never.
  absl::Duration sweep_interval = absl::Seconds(1);
};

// Returns a store in this process's memory (keys are cut to 128 bits).
std::unique_ptr<IdempotencyStore> NewInMemoryIdempotencyStore(
    std::shared_ptr<Clock> clock,
    const InMemoryIdempotencyStoreOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_IDEMPOTENCY_IDEMPOTENCY_STORE_H_
