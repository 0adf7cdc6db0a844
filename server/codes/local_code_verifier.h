// The local code verifier: codes generated here from the CSPRNG, kept only
// as keyed digests in a CodeStore, and texted through an SmsSender.
//
// A code is single use, bound to its phone and purpose (the digest covers
// both), valid for `code_ttl`, and burned after `max_attempts` wrong tries.
// Covers every phone, so it goes last in a chain.
//
//   LocalCodeVerifierOptions options;
//   options.secret = secret;  // the same on every replica
//   std::unique_ptr<CodeVerifier> verifier =
//       NewLocalCodeVerifier(options, clock, code_store, sms_sender);
//
// Thread-safety: safe to call concurrently; races resolve in the store.
#ifndef PROFILE_SERVER_CODES_LOCAL_CODE_VERIFIER_H_
#define PROFILE_SERVER_CODES_LOCAL_CODE_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "server/codes/code_store.h"
#include "server/codes/code_verifier.h"
#include "server/common/clock.h"
#include "server/sms/sms_sender.h"
#include "server/sms/sms_text.h"

namespace profile {

struct LocalCodeVerifierOptions {
  // Digits in a code.
  int code_length = 6;
  absl::Duration code_ttl = absl::Minutes(5);
  // Wrong tries after which a code is burned.
  int max_attempts = 5;
  // Keys the code digests; a dump of the store alone cannot be
  // brute-forced without it.
  std::string secret;
  // The texts of the messages.
  std::shared_ptr<const SmsTexts> texts = SmsTexts::Default();
};

// Returns the local verifier over `store` and `sms`.
// REQUIRES: `store` and `sms` are not null and outlive the verifier.
std::unique_ptr<CodeVerifier> NewLocalCodeVerifier(
    LocalCodeVerifierOptions options, std::shared_ptr<Clock> clock,
    CodeStore* store, SmsSender* sms);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_LOCAL_CODE_VERIFIER_H_
