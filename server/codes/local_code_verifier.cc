#include "server/codes/local_code_verifier.h"

#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

#include "server/common/api_error.h"
#include "server/common/crypto.h"
#include "server/common/log.h"
#include "server/sms/sms_text.h"

namespace profile {
namespace {

class LocalCodeVerifier final : public CodeVerifier {
 public:
  LocalCodeVerifier(LocalCodeVerifierOptions options,
                    std::shared_ptr<Clock> clock, CodeStore* store,
                    SmsSender* sms)
      : options_(std::move(options)),
        clock_(std::move(clock)),
        store_(store),
        sms_(sms) {}

  bool Covers(absl::string_view) const override { return true; }

  bool Texts(absl::string_view) const override { return true; }

  bool SendMayBlock() const override {
    return store_->MayBlock() || sms_->MayBlock();
  }

  bool CheckMayBlock() const override { return store_->MayBlock(); }

  absl::Status Send(const CodeRequest& request) override {
    const CodeKey& key = request.key;
    const std::string code = RandomDigits(options_.code_length);
    SmsMessage message;
    message.phone_e164 = key.phone_e164;
    message.code = code;
    message.purpose = key.purpose;
    message.text = options_.texts->CodeText(request.language, key.purpose,
                                            code, options_.code_ttl);
    message.language = request.language;
    message.request_id = request.request_id;
    message.trace = request.trace;
    message.deadline = request.deadline;
    absl::Status sent = sms_->Send(message);
    if (!sent.ok()) {
      Log(LogLevel::kError, "sms delivery failed",
          {{"request_id", request.request_id},
           {"phone", MaskPhone(key.phone_e164)},
           {"error", sent.message()}},
          request.trace);
      return ApiError(ApiCode::kSmsFailed);
    }
    // Kept only once it went out: a send that fails leaves the codes as
    // they were (an earlier code stays live).
    return store_->Put(key, CodeDigest(options_.secret, key, code),
                       clock_->Now() + options_.code_ttl,
                       options_.max_attempts);
  }

  absl::Status Check(const CodeKey& key, absl::string_view code) override {
    return store_->Check(key, CodeDigest(options_.secret, key, code));
  }

  absl::Status Consume(const CodeKey& key, absl::string_view code) override {
    return store_->Consume(key, CodeDigest(options_.secret, key, code));
  }

  absl::Status CheckAll(absl::Span<const CodeGuess> guesses,
                        size_t* failed) override {
    return store_->CheckAll(Digests(guesses), failed);
  }

  absl::Status ConsumeAll(absl::Span<const CodeGuess> guesses) override {
    return store_->ConsumeAll(Digests(guesses));
  }

 private:
  absl::InlinedVector<KeyedDigest, 2> Digests(
      absl::Span<const CodeGuess> guesses) const {
    absl::InlinedVector<KeyedDigest, 2> digests;
    for (const CodeGuess& guess : guesses) {
      digests.push_back(
          {guess.key, CodeDigest(options_.secret, guess.key, guess.code)});
    }
    return digests;
  }

  const LocalCodeVerifierOptions options_;
  const std::shared_ptr<Clock> clock_;
  CodeStore* const store_;
  SmsSender* const sms_;
};

}  // namespace

std::unique_ptr<CodeVerifier> NewLocalCodeVerifier(
    LocalCodeVerifierOptions options, std::shared_ptr<Clock> clock,
    CodeStore* store, SmsSender* sms) {
  return std::make_unique<LocalCodeVerifier>(std::move(options),
                                             std::move(clock), store, sms);
}

}  // namespace profile
