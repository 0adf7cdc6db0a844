// The test-number verifier: fixed codes for configured numbers
// (--test_phone_codes), so QA and app-store reviewers can sign in without an
// SMS. Codes are reusable, valid for both purposes, and nothing is ever
// sent: no SMS, no cooldown, no send limit.
//
// Wrong guesses count as for any code: after `max_attempts` wrong codes for
// a number and purpose, its code stops working (api code 2300) for `window`
// counted from the first wrong code of the run; the right code meanwhile
// resets nothing. The counts are kept in this process only (with several
// replicas, a guesser gets up to max_attempts per replica per window), one
// entry per test number and purpose at most.
//
//   absl::StatusOr<TestPhoneCodes> codes =
//       ParseTestPhoneCodes("+8613800138000:246810");
//   std::unique_ptr<CodeVerifier> verifier =
//       NewTestNumberVerifier(*codes, {5, absl::Minutes(5)}, clock);
//
// Thread-safety: safe to call concurrently.
#ifndef PROFILE_SERVER_CODES_TEST_NUMBER_VERIFIER_H_
#define PROFILE_SERVER_CODES_TEST_NUMBER_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/codes/code_verifier.h"
#include "server/common/clock.h"
#include "server/phone/phone_number.h"

namespace profile {

// E.164 number -> its fixed code.
using TestPhoneCodes = absl::flat_hash_map<std::string, std::string>;

struct TestNumberVerifierOptions {
  // Wrong codes per number and purpose that stop its code
  // (--max_code_attempts).
  int max_attempts = 5;
  // How long the code stays stopped, from the first wrong code (--code_ttl).
  absl::Duration window = absl::Minutes(5);
};

// Returns the verifier of `codes`, covering only those numbers. `clock`
// null: the system clock.
std::unique_ptr<CodeVerifier> NewTestNumberVerifier(
    TestPhoneCodes codes, TestNumberVerifierOptions options = {},
    std::shared_ptr<Clock> clock = nullptr);

// Parses --test_phone_codes: "+8613800138000:246810,+14155550100:135790".
// Each number must be E.164, valid or in a range reserved for fiction
// (+447700900123; see IsReservedFictionalNumber()), and each code 4 to 10
// digits.
absl::StatusOr<TestPhoneCodes> ParseTestPhoneCodes(absl::string_view text);

// Returns the numbers of `codes` in the reserved fictional ranges: those
// requests may name only because they are test numbers.
FictionalNumbers FictionalTestNumbers(const TestPhoneCodes& codes);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_TEST_NUMBER_VERIFIER_H_
