// The test-number verifier: fixed codes for configured numbers
// (--test_phone_codes), so QA and app-store reviewers can sign in without an
// SMS. Codes are reusable, valid for both purposes, and nothing is ever
// sent: no SMS, no cooldown, no send limit.
//
//   absl::StatusOr<TestPhoneCodes> codes =
//       ParseTestPhoneCodes("+8613800138000:246810");
//   std::unique_ptr<CodeVerifier> verifier = NewTestNumberVerifier(*codes);
//
// Thread-safety: immutable after construction.
#ifndef PROFILE_SERVER_CODES_TEST_NUMBER_VERIFIER_H_
#define PROFILE_SERVER_CODES_TEST_NUMBER_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/codes/code_verifier.h"
#include "server/phone/phone_number.h"

namespace profile {

// E.164 number -> its fixed code.
using TestPhoneCodes = absl::flat_hash_map<std::string, std::string>;

// Returns the verifier of `codes`, covering only those numbers.
std::unique_ptr<CodeVerifier> NewTestNumberVerifier(TestPhoneCodes codes);

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
