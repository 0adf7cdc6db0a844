// CodeValidator: decides whether a typed code proves ownership of a phone.
//
// Validators are pluggable and tried as a chain: the first validator that
// covers a phone decides. The stored-code validator covers every phone and
// checks the codes that SendPhoneCode texted; the fixed-code validator covers
// only the configured test numbers, so QA and app-store reviewers can log in
// without an SMS.
//
//   std::vector<std::unique_ptr<CodeValidator>> validators;
//   validators.push_back(NewFixedCodeValidator(test_codes));
//   validators.push_back(NewStoredCodeValidator(code_store, secret));
//   auto chain = NewCodeValidatorChain(std::move(validators));
//   absl::Status ok = chain->Check(key, "246810");
//   if (ok.ok()) chain->Consume(key, "246810");
//
// Check() and Consume() are split so that a verification consumes its codes
// only once every other check has passed.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_CODES_CODE_VALIDATOR_H_
#define PROFILE_SERVER_CODES_CODE_VALIDATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/codes/code_store.h"

namespace profile {

class CodeValidator {
 public:
  virtual ~CodeValidator() = default;

  // Returns true if this validator decides the codes of `phone_e164`.
  virtual bool Covers(absl::string_view phone_e164) const = 0;

  // Returns OK if `code` is the valid code for `key`; INVALID_ARGUMENT with
  // api code 2001 if it is wrong (counted against the code's attempts), or
  // 2300 if there is no live code. Does not use the code up.
  virtual absl::Status Check(const CodeKey& key, absl::string_view code) = 0;

  // Uses up a code that Check() accepted. Returns api code 2300 if another
  // request used it first.
  virtual absl::Status Consume(const CodeKey& key, absl::string_view code) = 0;
};

// Returns the validator of codes texted by SendPhoneCode and kept in `store`
// as CodeDigest(secret, ...): single use, bound to phone and purpose, burned
// after the store's attempt limit. Covers every phone.
// REQUIRES: `store` outlives the validator.
std::unique_ptr<CodeValidator> NewStoredCodeValidator(CodeStore* store,
                                                      std::string secret);

// Returns the validator of fixed codes for test numbers (E.164 -> code):
// reusable, for both purposes, and covering only those numbers.
std::unique_ptr<CodeValidator> NewFixedCodeValidator(
    absl::flat_hash_map<std::string, std::string> codes);

// Returns a validator that hands each phone to the first of `validators`
// that covers it. A phone no validator covers has no valid code (2300).
std::unique_ptr<CodeValidator> NewCodeValidatorChain(
    std::vector<std::unique_ptr<CodeValidator>> validators);

// Parses --test_phone_codes: "+8613800138000:246810,+14155550100:135790".
// Each number must be valid E.164 and each code 4 to 10 digits.
absl::StatusOr<absl::flat_hash_map<std::string, std::string>>
ParseTestPhoneCodes(absl::string_view text);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_CODE_VALIDATOR_H_
