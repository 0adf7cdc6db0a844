// CodeVerifier: issues the codes that prove a caller holds a phone, and
// decides whether a typed code is right.
//
// A pluggable piece: a verifier owns send, check and consume for the phones
// it covers, and verifiers are tried as a chain, the first that covers a
// phone deciding. Each verifier is a file pair in this folder:
//   - test numbers (test_number_verifier.h): fixed, reusable codes for the
//     configured numbers, so QA and app-store reviewers sign in without an
//     SMS; nothing is sent and no send limit applies.
//   - local (local_code_verifier.h): random codes generated here, kept in a
//     CodeStore as keyed digests, texted through an SmsSender. Covers every
//     phone.
// A provider that sends and checks codes itself (Twilio Verify-style) is one
// more verifier.
//
//   std::vector<std::unique_ptr<CodeVerifier>> verifiers;
//   verifiers.push_back(NewTestNumberVerifier(test_codes));
//   verifiers.push_back(NewLocalCodeVerifier(options, clock, store, sms));
//   auto chain = NewCodeVerifierChain(std::move(verifiers));
//   absl::Status sent = chain->Send({key, Language::kEnglish, request_id});
//   absl::Status ok = chain->Check(key, "246810");
//   if (ok.ok()) chain->Consume(key, "246810");
//
// Check() and Consume() are split so that a verification consumes its codes
// only once every other check has passed (a wrong old-phone code must not
// cost the new one). CheckAll() and ConsumeAll() do the codes of a
// verification together, in one round trip to a network store.
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_CODES_CODE_VERIFIER_H_
#define PROFILE_SERVER_CODES_CODE_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/codes/code_store.h"
#include "server/common/language.h"
#include "server/common/trace_context.h"

namespace profile {

// A code to issue: for which phone and purpose, in which language, and the
// request that asked for it (for the logs) with the caller's trace (for the
// logs, and for a provider to send as `traceparent` on its own requests).
struct CodeRequest {
  CodeKey key;
  Language language = Language::kEnglish;
  std::string request_id;
  TraceContext trace;
  // When the caller stops waiting.
  absl::Time deadline = absl::InfiniteFuture();
};

// A typed code for `key`.
struct CodeGuess {
  CodeKey key;
  std::string code;
};

class CodeVerifier {
 public:
  virtual ~CodeVerifier() = default;

  // Returns true if this verifier decides the codes of `phone_e164`.
  virtual bool Covers(absl::string_view phone_e164) const = 0;

  // Returns true if issuing a code for `phone_e164` sends a real message,
  // which costs money and reaches a person: the send limits apply. False
  // for fixed test codes.
  virtual bool Texts(absl::string_view phone_e164) const = 0;

  // Returns true if Send() may wait on a network or a disk (see
  // UserStore::MayBlock()).
  virtual bool SendMayBlock() const = 0;

  // Returns true if Check() or Consume() may wait on a network or a disk.
  virtual bool CheckMayBlock() const = 0;

  // Issues a code for `request.key` and has it delivered, replacing any
  // earlier code for the key. Returns UNAVAILABLE with api code 2110 if it
  // could not be delivered, or the error of a store it keeps codes in.
  virtual absl::Status Send(const CodeRequest& request) = 0;

  // Returns OK if `code` is the valid code for `key`; INVALID_ARGUMENT with
  // api code 2001 if it is wrong (counted against the code's attempts), or
  // 2300 if there is no live code. Does not use the code up.
  virtual absl::Status Check(const CodeKey& key, absl::string_view code) = 0;

  // Uses up a code that Check() accepted. Returns api code 2300 if another
  // request used it first.
  virtual absl::Status Consume(const CodeKey& key, absl::string_view code) = 0;

  // Check() of each of `guesses` in turn, stopping at the first that is not
  // OK: returns OK if every one is, else that one's error with `*failed`
  // set to its index; those after it are not checked (a wrong code of one
  // phone costs no other code an attempt). One round trip where the codes
  // live in one network store.
  virtual absl::Status CheckAll(absl::Span<const CodeGuess> guesses,
                                size_t* failed);

  // Consume() of each of `guesses` in turn, stopping at the first that
  // fails; returns OK or that one's error. One round trip where the codes
  // live in one network store.
  virtual absl::Status ConsumeAll(absl::Span<const CodeGuess> guesses);
};

// Returns a verifier that hands each phone to the first of `verifiers` that
// covers it. A phone no verifier covers has no valid code (2300), and no
// code can be sent to it (INTERNAL: the chain is misconfigured).
std::unique_ptr<CodeVerifier> NewCodeVerifierChain(
    std::vector<std::unique_ptr<CodeVerifier>> verifiers);

}  // namespace profile

#endif  // PROFILE_SERVER_CODES_CODE_VERIFIER_H_
