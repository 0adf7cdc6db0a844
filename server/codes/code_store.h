// CodeStore: the SMS verification codes that were sent and not yet used.
//
// A code is stored as a keyed digest (CodeDigest) under its phone and
// purpose, never in clear text; the digest also binds the phone and the
// purpose, so a code proves only what it was sent for.
//
//   store->Put({"+8613800138000", CodePurpose::kNewPhone}, digest, expiry, 5);
//   absl::Status checked = store->Check(key, CodeDigest(secret, key, typed));
//   if (checked.ok()) store->Consume(key, digest);
//
// Rules every implementation keeps:
//   - A code lives until its expiry (exclusive).
//   - Check() counts a wrong code against the code's attempts atomically;
//     the last allowed wrong attempt burns the code.
//   - Consume() is atomic: of concurrent Consume() calls exactly one wins.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_CODES_CODE_STORE_H_
#define PROFILE_SERVER_CODES_CODE_STORE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/common/clock.h"

namespace profile {

// What a code proves. The numbers are those of the API's PhoneCodePurpose.
enum class CodePurpose { kUnspecified = 0, kNewPhone = 1, kOldPhone = 2 };

// Returns "new_phone", "old_phone" or "unspecified".
absl::string_view CodePurposeName(CodePurpose purpose);

// Which code: the phone it was sent to, what it proves, and the user who
// asked for it (another user's guesses neither use nor burn it).
struct CodeKey {
  std::string phone_e164;
  CodePurpose purpose;
  std::string user_id = {};
};

// Returns the error for a code that is not live: INVALID_ARGUMENT, api code
// 2300.
absl::Status NoLiveCodeError();

// Returns the keyed digest of `code` for `key` (HMAC-SHA256 under `secret`).
std::string CodeDigest(absl::string_view secret, const CodeKey& key,
                       absl::string_view code);

// A digest to check or use up as the code of `key`.
struct KeyedDigest {
  CodeKey key;
  std::string digest;
};

class CodeStore {
 public:
  virtual ~CodeStore() = default;

  // Returns true if a call may wait on a network or a disk. The service then
  // runs the RPCs that use this off gRPC's callback threads, on its bounded
  // executor. True unless an implementation knows better: only what is
  // certain to return at once (memory under a mutex) may answer false.
  virtual bool MayBlock() const { return true; }

  // Stores `digest` as the code for `key` until `expires_at`, replacing any
  // earlier code for `key`; `max_attempts` wrong tries burn it.
  // Returns RESOURCE_EXHAUSTED when the store is full.
  virtual absl::Status Put(const CodeKey& key, absl::string_view digest,
                           absl::Time expires_at, int max_attempts) = 0;

  // Returns OK if `digest` matches the live code for `key` (the code stays
  // until Consume()). Returns INVALID_ARGUMENT with api code 2001 for a wrong
  // code, and 2300 when no live code exists (never sent, expired, used or
  // burned).
  virtual absl::Status Check(const CodeKey& key, absl::string_view digest) = 0;

  // Removes the code for `key` if it still is `digest`. Returns api code
  // 2300 if it is gone (another request used it first).
  virtual absl::Status Consume(const CodeKey& key,
                               absl::string_view digest) = 0;

  // Check() of each of `digests` in turn, stopping at the first that is not
  // OK: returns OK if every one is, else that one's error with `*failed`
  // set to its index. Those after it are not checked (nor cost an
  // attempt). A store on a network does it in one round trip.
  virtual absl::Status CheckAll(absl::Span<const KeyedDigest> digests,
                                size_t* failed);

  // Consume() of each of `digests` in turn, stopping at the first that is
  // gone (those before it stay used up): returns OK or that one's error.
  // A store on a network does it in one round trip.
  virtual absl::Status ConsumeAll(absl::Span<const KeyedDigest> digests);

  // Removes every expired code; returns how many.
  virtual size_t SweepExpired() = 0;
};

struct InMemoryCodeStoreOptions {
  // Put() fails beyond this many held codes.
  size_t max_codes = 1000000;
  // How often a background thread sweeps expired codes; zero for never.
  absl::Duration sweep_interval = absl::Seconds(5);
};

// Returns a store in this process's memory.
std::unique_ptr<CodeStore> NewInMemoryCodeStore(
    std::shared_ptr<Clock> clock, const InMemoryCodeStoreOptions& options);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_CODE_STORE_H_
