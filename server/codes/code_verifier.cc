#include "server/codes/code_verifier.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace profile {
namespace {

class CodeVerifierChain final : public CodeVerifier {
 public:
  explicit CodeVerifierChain(
      std::vector<std::unique_ptr<CodeVerifier>> verifiers)
      : verifiers_(std::move(verifiers)) {}

  bool Covers(absl::string_view phone_e164) const override {
    return Find(phone_e164) != nullptr;
  }

  bool Texts(absl::string_view phone_e164) const override {
    CodeVerifier* verifier = Find(phone_e164);
    return verifier != nullptr && verifier->Texts(phone_e164);
  }

  bool SendMayBlock() const override {
    for (const auto& verifier : verifiers_) {
      if (verifier->SendMayBlock()) return true;
    }
    return false;
  }

  bool CheckMayBlock() const override {
    for (const auto& verifier : verifiers_) {
      if (verifier->CheckMayBlock()) return true;
    }
    return false;
  }

  absl::Status Send(const CodeRequest& request) override {
    CodeVerifier* verifier = Find(request.key.phone_e164);
    if (verifier == nullptr) {
      return absl::InternalError(
          "no code verifier covers the phone: the chain lacks a verifier "
          "for every phone");
    }
    return verifier->Send(request);
  }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    CodeVerifier* verifier = Find(key.phone_e164);
    return verifier == nullptr ? NoLiveCodeError() : verifier->Check(key, code);
  }

  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    CodeVerifier* verifier = Find(key.phone_e164);
    return verifier == nullptr ? NoLiveCodeError()
                               : verifier->Consume(key, code);
  }

  // Codes one verifier decides go to it together; others one by one.
  absl::Status CheckAll(absl::Span<const CodeGuess> guesses,
                        size_t* failed) override {
    CodeVerifier* verifier = FindForAll(guesses);
    return verifier == nullptr ? CodeVerifier::CheckAll(guesses, failed)
                               : verifier->CheckAll(guesses, failed);
  }

  absl::Status ConsumeAll(absl::Span<const CodeGuess> guesses) override {
    CodeVerifier* verifier = FindForAll(guesses);
    return verifier == nullptr ? CodeVerifier::ConsumeAll(guesses)
                               : verifier->ConsumeAll(guesses);
  }

 private:
  CodeVerifier* Find(absl::string_view phone_e164) const {
    for (const auto& verifier : verifiers_) {
      if (verifier->Covers(phone_e164)) return verifier.get();
    }
    return nullptr;
  }

  // Returns the verifier that decides every one of `guesses`, or null if
  // there is no such one.
  CodeVerifier* FindForAll(absl::Span<const CodeGuess> guesses) const {
    if (guesses.empty()) return nullptr;
    CodeVerifier* verifier = Find(guesses[0].key.phone_e164);
    for (const CodeGuess& guess : guesses) {
      if (Find(guess.key.phone_e164) != verifier) return nullptr;
    }
    return verifier;
  }

  const std::vector<std::unique_ptr<CodeVerifier>> verifiers_;
};

}  // namespace

absl::Status CodeVerifier::CheckAll(absl::Span<const CodeGuess> guesses,
                                    size_t* failed) {
  for (size_t i = 0; i < guesses.size(); ++i) {
    absl::Status checked = Check(guesses[i].key, guesses[i].code);
    if (!checked.ok()) {
      *failed = i;
      return checked;
    }
  }
  return absl::OkStatus();
}

absl::Status CodeVerifier::ConsumeAll(absl::Span<const CodeGuess> guesses) {
  for (const CodeGuess& guess : guesses) {
    absl::Status consumed = Consume(guess.key, guess.code);
    if (!consumed.ok()) return consumed;
  }
  return absl::OkStatus();
}

std::unique_ptr<CodeVerifier> NewCodeVerifierChain(
    std::vector<std::unique_ptr<CodeVerifier>> verifiers) {
  return std::make_unique<CodeVerifierChain>(std::move(verifiers));
}

}  // namespace profile
